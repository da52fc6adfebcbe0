"""Nothing a model folder or a config names reaches outside the model, and each attack is
refused in one line naming the file:

- shards of ``model.safetensors.index.json`` outside the folder (``../``, an absolute path);
- files that are symlinks out of the folder, except the Hugging Face cache's own links from a
  snapshot into the blob store of the same repository;
- file names in ``tokenizer_config.json`` and GGUF names in hub ids that climb out;
- a huge ``tokenizer.json`` (refused by its size, without reading it) and an unparsable one;
- an empty model path, or ``lm=chain`` without checkpoints, never loads the current directory.
"""

import json
import shutil
from pathlib import Path

import pytest

from phasejax.probe import safetensors_io
from phasejax.probe.loading import ModelFileError, load_model
from phasejax.probe.model_folder import MAX_TEXT_ENV, MAX_TEXT_MB

PARITY = Path(__file__).parent / "parity"


def one_line(e) -> str:
    msg = str(e.value)
    assert "\n" not in msg, msg
    return msg


def model(tmp_path, name="qwen2") -> Path:
    folder = tmp_path / "model"
    shutil.copytree(PARITY / name, folder)
    return folder


@pytest.fixture
def opened(monkeypatch):
    """The safetensors files the loader opens."""
    seen = []
    real = safetensors_io.lazy
    monkeypatch.setattr(safetensors_io, "lazy", lambda p: seen.append(str(p)) or real(p))
    return seen


# ------------------------------------------------------------------------------ traversal

@pytest.mark.parametrize("shard", ["../outside.safetensors", "/etc/passwd"])
def test_index_naming_a_shard_outside_the_folder_is_refused(tmp_path, opened, shard):
    folder = model(tmp_path)
    (folder / "model.safetensors").rename(tmp_path / "outside.safetensors")
    names = safetensors_io.check(tmp_path / "outside.safetensors")
    index = folder / "model.safetensors.index.json"
    index.write_text(json.dumps({"weight_map": {n: shard for n in names}}))
    with pytest.raises(ModelFileError, match="outside the model folder") as e:
        load_model(folder)
    msg = one_line(e)
    assert str(index) in msg and repr(shard) in msg
    assert opened == []                                    # nothing outside was read


@pytest.mark.parametrize("name", ["tokenizer.json", "model.safetensors", "config.json"])
def test_a_file_linking_out_of_the_folder_is_refused(tmp_path, opened, name):
    folder = model(tmp_path)
    outside = tmp_path / f"elsewhere-{name}"
    (folder / name).rename(outside)
    (folder / name).symlink_to(outside)
    with pytest.raises(ModelFileError, match="outside the model folder") as e:
        load_model(folder)
    assert f"{folder / name} resolves to {outside}" in one_line(e)
    assert opened == []


def test_tokenizer_config_may_not_name_files_outside(tmp_path):
    """transformers opens the files a tokenizer config names (``fast_tokenizer_files``)."""
    folder = model(tmp_path)
    shutil.copy(folder / "tokenizer.json", tmp_path / "tokenizer.1.0.0.json")
    config = folder / "tokenizer_config.json"
    config.write_text(json.dumps({"tokenizer_class": "PreTrainedTokenizerFast",
                                  "fast_tokenizer_files": ["../tokenizer.1.0.0.json"]}))
    with pytest.raises(ModelFileError, match="fast_tokenizer_files") as e:
        load_model(folder)
    assert str(config) in one_line(e) and "outside the model folder" in str(e.value)
    # a stale absolute path under a key transformers never opens is left alone
    config.write_text(json.dumps({"tokenizer_class": "PreTrainedTokenizerFast",
                                  "special_tokens_map_file": "/home/someone/map.json"}))
    assert load_model(folder).config.family == "qwen2"


# ---------------------------------------------------------------- the Hugging Face cache

def linked_cache(root: Path, repo: str, source: Path, blobs_of: str | None = None) -> Path:
    """``root`` laid out as huggingface_hub's cache really is: each file of ``source`` a blob
    (in ``blobs_of``'s repository, by default ``repo``'s own), the snapshot symlinks to them."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    base = root / ("models--" + repo.replace("/", "--"))
    blobs = root / ("models--" + (blobs_of or repo).replace("/", "--")) / "blobs"
    snap = base / "snapshots" / commit
    blobs.mkdir(parents=True, exist_ok=True)
    snap.mkdir(parents=True)
    for i, f in enumerate(sorted(source.iterdir())):
        blob = blobs / f"{i:040x}"
        shutil.copy(f, blob)
        (snap / f.name).symlink_to(Path("..", "..", "..", blob.parent.parent.name, "blobs",
                                        blob.name))
    (base / "refs").mkdir()
    (base / "refs" / "main").write_text(commit)
    return snap


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    """An offline Hugging Face cache under ``tmp_path`` holding ``TinyOrg/tiny-qwen2``."""
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    linked_cache(cache, "TinyOrg/tiny-qwen2", PARITY / "qwen2")
    return cache


def test_cache_snapshots_link_into_their_own_blob_store_only(hub_cache):
    cache = hub_cache
    assert load_model("TinyOrg/tiny-qwen2").config.family == "qwen2"
    snap = linked_cache(cache, "TinyOrg/borrower", PARITY / "qwen2", blobs_of="Other/repo")
    with pytest.raises(ModelFileError, match="outside the model folder") as e:
        load_model("TinyOrg/borrower")
    assert str(snap) in one_line(e) and "models--Other--repo" in str(e.value)


def test_a_gguf_name_in_a_hub_id_cannot_climb_out_of_its_snapshot(hub_cache, tmp_path):
    (tmp_path / "stolen.gguf").write_bytes(b"GGUF")
    hub_id = "TinyOrg/tiny-qwen2/../../../../stolen.gguf"
    with pytest.raises(ModelFileError, match="outside the model folder") as e:
        load_model(hub_id)
    assert f"{hub_id} names '../../../../stolen.gguf'" in one_line(e)


# ---------------------------------------------------------------------------- tokenizers

def test_a_huge_tokenizer_is_refused_by_its_size_unread(tmp_path, monkeypatch):
    folder = model(tmp_path)
    tokenizer = folder / "tokenizer.json"
    size = tokenizer.stat().st_size
    real = tokenizer.read_bytes()
    with open(tokenizer, "r+b") as f:           # 300 MB of nothing (sparse: no disk, no time)
        f.truncate(300 * 2**20)
    with pytest.raises(ModelFileError, match=f"{MAX_TEXT_MB:g} MiB") as e:
        load_model(folder)
    assert str(tokenizer) in one_line(e) and MAX_TEXT_ENV in str(e.value)
    # the limit is the environment's to set
    tokenizer.write_bytes(real)
    monkeypatch.setenv(MAX_TEXT_ENV, str(size / 2 / 2**20))
    with pytest.raises(ModelFileError, match="tokenizer.json is"):
        load_model(folder)
    monkeypatch.setenv(MAX_TEXT_ENV, "1")
    assert load_model(folder).tokenizer.get_vocab_size() > 0


def test_an_unparsable_tokenizer_names_its_file(tmp_path):
    folder = model(tmp_path)
    tokenizer = folder / "tokenizer.json"
    tokenizer.write_text(tokenizer.read_text()[:200])        # cut short
    with pytest.raises(ModelFileError, match="not a tokenizer file") as e:
        load_model(folder)
    assert str(tokenizer) in one_line(e)


# -------------------------------------------------------------------- the current directory

def test_the_current_directory_is_never_the_model_by_default(tmp_path, monkeypatch):
    from experiments.probe import chain_from
    from test_sweep import composed

    monkeypatch.chdir(model(tmp_path))                       # inside a loadable model folder
    with pytest.raises(ValueError, match="lm=chain needs lm.checkpoints") as e:
        chain_from(composed("experiment=probe", "lm=chain"))
    one_line(e)
    with pytest.raises(ValueError, match="lm.path: model path '' is empty") as e:
        chain_from(composed("experiment=probe", "lm.path=''"))
    one_line(e)
    with pytest.raises(ValueError, match="lm.checkpoints: model path ' ' is empty"):
        chain_from(composed("experiment=probe", "lm=chain", "lm.checkpoints=[' ']"))
    with pytest.raises(ValueError, match="current directory"):
        load_model("")
    assert [p for _, p in chain_from(composed("experiment=probe", "lm.path=."))] == [Path(".")]
