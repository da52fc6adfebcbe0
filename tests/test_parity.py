"""Flax decoders against the reference PyTorch implementation (committed reference logits).

``tests/parity/make_reference.py`` wrote each tiny random checkpoint with transformers and torch;
here the same folders go through our loader and decoder, without torch.
"""

import dataclasses
import json
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from phasejax.probe import families, safetensors_io
from phasejax.probe.decoder import DecoderConfig, inverse_frequencies
from phasejax.probe.families import FAMILIES
from phasejax.probe.hf_loader import config_from_hf
from phasejax.probe.loading import ModelFileError, load_model

PARITY = Path(__file__).parent / "parity"
CASES = sorted(p.name for p in PARITY.iterdir() if (p / "reference.npz").is_file())


def test_every_family_has_a_reference():
    missing = (set(FAMILIES) | {"llama3_scaled"}) - set(CASES)
    assert not missing, f"no tests/parity/<name>/reference.npz for {sorted(missing)}"


@pytest.fixture(scope="module", params=CASES)
def case(request):
    ref = np.load(PARITY / request.param / "reference.npz")
    return request.param, load_model(PARITY / request.param), ref


def test_logits_match_reference(case):
    name, lm, ref = case
    logits = np.asarray(lm.model(jnp.asarray(ref["input_ids"], jnp.int32),
                                 jnp.asarray(ref["attention_mask"], bool)))
    valid = ref["attention_mask"].astype(bool)
    err = np.abs(logits - ref["logits"])[valid].max()
    assert err <= 1e-4, f"{name}: max |Δlogit| = {err:.2e}"
    assert np.abs(ref["logits"][valid]).max() > 0.1      # the comparison is not of zeros


def test_cached_decoding_matches_full_forward(case):
    name, lm, ref = case
    ids = jnp.asarray(ref["input_ids"], jnp.int32)
    mask = jnp.asarray(ref["attention_mask"], bool)
    full = np.asarray(lm.model(ids, mask))
    cache = lm.model.init_cache(ids.shape[0], ids.shape[1] + 2)
    step = jax.jit(lambda t, m, c: lm.model(t, m, c))
    out, cache = lm.model(ids[:, :7], mask[:, :7], cache)
    parts = [np.asarray(out)]
    for t in range(7, ids.shape[1]):
        out, cache = step(ids[:, t:t + 1], mask[:, t:t + 1], cache)
        parts.append(np.asarray(out))
    inc = np.concatenate(parts, 1)
    valid = ref["attention_mask"].astype(bool)
    assert np.abs(inc - full)[valid].max() < 1e-5, name
    assert int(cache.index) == ids.shape[1]


def test_bfloat16_tracks_float32(case):
    name, lm, ref = case
    lm16 = load_model(PARITY / name, dtype="bfloat16")
    ids = jnp.asarray(ref["input_ids"], jnp.int32)
    mask = jnp.asarray(ref["attention_mask"], bool)
    a = np.asarray(lm.model(ids, mask))
    b = np.asarray(lm16.model(ids, mask))
    valid = ref["attention_mask"].astype(bool)
    assert lm16.model.embed_tokens.embedding[...].dtype == jnp.bfloat16
    scale = np.abs(a[valid]).max()
    assert np.abs(a - b)[valid].max() < 0.05 * scale


def test_sharded_folder_and_tokenizer_and_template():
    folder = PARITY / "llama"
    assert len(list(folder.glob("model-*.safetensors"))) > 1
    lm = load_model(folder)
    assert lm.tokenizer.encode("pick a number 12").ids[-2:] == [6, 7]
    assert "<assistant>" in lm.chat_template and not lm.config.tie_embeddings


def test_llama3_rope_scaling_changes_low_frequencies_only():
    scaling = tuple(sorted(dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                high_freq_factor=4.0,
                                original_max_position_embeddings=8192).items()))
    kw = dict(vocab_size=8, hidden_size=256, intermediate_size=8, num_layers=1, num_heads=2,
              num_kv_heads=2, rope_theta=5e5)
    plain = inverse_frequencies(DecoderConfig(**kw))
    scaled = inverse_frequencies(DecoderConfig(**kw, rope_scaling=scaling))
    assert scaled[0] == plain[0]                          # highest frequency kept
    assert np.isclose(scaled[-1], plain[-1] / 8.0)        # lowest divided by the factor
    ratio = scaled / plain
    assert np.all(np.diff(ratio) <= 1e-7) and np.any((ratio > 0.13) & (ratio < 0.99))


def test_legacy_config_keys():
    c = config_from_hf({"model_type": "llama", "vocab_size": 10, "hidden_size": 8,
                        "intermediate_size": 16, "num_hidden_layers": 1,
                        "num_attention_heads": 2, "rope_theta": 5e5,
                        "rope_scaling": {"type": "linear", "factor": 2.0}})
    assert c.rope_theta == 5e5 and dict(c.rope_scaling) == {"rope_type": "linear",
                                                               "factor": 2.0}
    assert c.num_kv_heads == 2 and c.norm_eps == 1e-6 and not c.tie_embeddings


def copy_case(tmp_path, name="qwen2"):
    dst = tmp_path / name
    shutil.copytree(PARITY / name, dst)
    return dst


def test_unsupported_architecture_is_one_clear_error(tmp_path):
    d = copy_case(tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**cfg, "model_type": "mamba"}))
    with pytest.raises(ModelFileError, match="model_type 'mamba' is not supported"):
        load_model(d)


def test_missing_tokenizer(tmp_path):
    d = copy_case(tmp_path)
    (d / "tokenizer.json").unlink()
    with pytest.raises(ModelFileError, match="tokenizer.json is missing"):
        load_model(d)


def test_truncated_weights(tmp_path):
    d = copy_case(tmp_path)
    f = d / "model.safetensors"
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(ModelFileError, match="truncated"):
        load_model(d)


def test_missing_shard_and_missing_tensors_named(tmp_path):
    d = copy_case(tmp_path, "llama")
    sorted(d.glob("model-*.safetensors"))[0].unlink()
    with pytest.raises(ModelFileError, match="shards named in the index are missing"):
        load_model(d)
    d = copy_case(tmp_path, "qwen2")
    tensors = safetensors_io.read(d / "model.safetensors")
    tensors = {k: v for k, v in tensors.items() if "layers.1.mlp" not in k}
    tensors["model.layers.0.extra.weight"] = np.zeros(3, np.float32)
    safetensors_io.write(d / "model.safetensors", tensors)
    with pytest.raises(ModelFileError) as e:
        load_model(d)
    msg = str(e.value)
    assert "model.layers.0.extra.weight: no mapping rule" in msg
    assert "layers.1.mlp.down_proj.kernel" in msg and "4 conversion error(s)" not in msg


def test_safetensors_roundtrip_with_bfloat16(tmp_path):
    a = np.arange(6, dtype=np.float32).reshape(2, 3) / 4
    bf16 = (a.view(np.uint32) >> 16).astype(np.uint16)
    path = tmp_path / "x.safetensors"
    safetensors_io.write(path, {"a": a, "n": np.arange(3, dtype=np.int64)})
    back = safetensors_io.read(path)
    assert np.array_equal(back["a"], a) and back["n"].tolist() == [0, 1, 2]
    # a bfloat16 tensor written by hand reads back widened
    raw = json.dumps({"b": {"dtype": "BF16", "shape": [2, 3], "data_offsets": [0, 12]}})
    raw = raw.encode() + b" " * (-len(raw) % 8)
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + bf16.tobytes())
    assert np.array_equal(safetensors_io.read(path)["b"], a)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_saved_folder_reloads_with_identical_logits(tmp_path, name):
    from phasejax.probe.hf_writer import save_folder

    lm = load_model(PARITY / name)
    out = save_folder(lm.model, tmp_path / "saved", lm.tokenizer, lm.chat_template,
                      eos_token_id=1)
    back = load_model(out)
    ref = np.load(PARITY / name / "reference.npz")
    ids = jnp.asarray(ref["input_ids"], jnp.int32)
    mask = jnp.asarray(ref["attention_mask"], bool)
    assert back.config == lm.config
    assert np.array_equal(np.asarray(back.model(ids, mask)), np.asarray(lm.model(ids, mask)))
    assert back.stop_ids == (1,) and back.chat_template == lm.chat_template


def test_bfloat16_model_is_saved_in_bfloat16_and_reloads_exactly(tmp_path):
    from phasejax.probe.hf_writer import save_folder

    lm = load_model(PARITY / "llama", dtype="bfloat16")
    out = save_folder(lm.model, tmp_path / "saved", lm.tokenizer, lm.chat_template)
    head = safetensors_io.header(out / "model.safetensors")
    assert {v["dtype"] for k, v in head.items() if not k.startswith("__")} == {"BF16"}
    assert json.loads((out / "config.json").read_text())["torch_dtype"] == "bfloat16"
    back = load_model(out, dtype="bfloat16")
    a = jax.tree.leaves(nnx.state(lm.model, nnx.Param))
    b = jax.tree.leaves(nnx.state(back.model, nnx.Param))
    assert all(np.array_equal(np.asarray(x, np.float32), np.asarray(y, np.float32))
               for x, y in zip(a, b))


# ------------------------------------------------------- the family registry is the only list

def write_bare_gguf(path, arch):
    """A GGUF file holding only ``general.architecture``: enough for the architecture check."""
    import gguf

    w = gguf.GGUFWriter(str(path), arch)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_registered_family_loads_is_written_and_has_its_gguf_architecture_read(
        tmp_path, name):
    from phasejax.probe.gguf_loader import read
    from phasejax.probe.hf_writer import hf_config

    spec = FAMILIES[name]
    folder = PARITY / name
    assert json.loads((folder / "config.json").read_text())["model_type"] in spec.hf_model_types
    c = load_model(folder).config
    assert c.family == name
    cfg = hf_config(c)
    assert (cfg["model_type"], cfg["architectures"]) == (spec.hf_model_type,
                                                         [spec.hf_architecture])
    assert config_from_hf(cfg) == c
    if spec.gguf_arch is not None:
        assert read(write_bare_gguf(tmp_path / "a.gguf", spec.gguf_arch))[1] == spec.gguf_arch


def test_unsupported_model_types_and_architectures_name_exactly_the_registered_ones(tmp_path):
    from phasejax.probe.gguf_loader import read

    types = sorted(t for f in FAMILIES.values() for t in f.hf_model_types)
    with pytest.raises(ModelFileError) as e:
        config_from_hf({"model_type": "mamba"})
    assert str(e.value).endswith(f"model_type 'mamba' is not supported (supported: {types})")
    d = copy_case(tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**cfg, "model_type": "mamba"}))
    with pytest.raises(ModelFileError) as e:
        load_model(d)
    assert str(e.value).endswith(f"(supported: {types})")
    archs = tuple(f.gguf_arch for f in FAMILIES.values() if f.gguf_arch is not None)
    with pytest.raises(ModelFileError) as e:
        read(write_bare_gguf(tmp_path / "m.gguf", "mamba"))
    assert str(e.value).endswith(f"architecture 'mamba' is not supported (supported: {archs})")


def test_every_layout_and_switch_a_family_names_exists():
    from phasejax.probe import hf_loader, hf_writer

    for table in (hf_loader.RULES, hf_loader.CONFIG_READERS, hf_writer.CONFIG_WRITERS,
                  hf_writer.TENSOR_WRITERS):
        assert set(table) == set(families.LAYOUTS)
    fields = {f.name for f in dataclasses.fields(DecoderConfig)} - {"family"}
    for spec in FAMILIES.values():
        assert set(spec.switches) | set(spec.hf_switches) <= fields, spec.name
        assert spec.layout in families.LAYOUTS


def test_a_family_cannot_claim_a_taken_name_model_type_or_architecture():
    for spec, match in [(families.Family("llama", ("llama_new",), "X"), "name 'llama'"),
                        (families.Family("new", ("qwen2",), "X"), "model_type 'qwen2'"),
                        (families.Family("new", ("new",), "X", gguf_arch="olmo2"),
                         "GGUF architecture 'olmo2'")]:
        before = dict(FAMILIES)
        with pytest.raises(ValueError, match=match):
            families.register(spec)
        assert FAMILIES == before
    with pytest.raises(ValueError, match="layout 'bert'"):
        families.Family("new", ("new",), "X", layout="bert")


def test_a_family_spec_sets_what_the_writer_adds(monkeypatch):
    from phasejax.probe.hf_writer import hf_config

    c = load_model(PARITY / "qwen3").config
    spec = dataclasses.replace(FAMILIES["qwen3"], hf_config_extras={"attention_dropout": 0.0})
    monkeypatch.setitem(FAMILIES, "qwen3", spec)
    assert hf_config(c)["attention_dropout"] == 0.0
