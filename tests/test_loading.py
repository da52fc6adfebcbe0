"""Model files follow Hugging Face's and llama.cpp's conventions exactly, and load lean.

- configs: every family read through ``transformers.AutoConfig``, defaults included;
- GGUF: each supported architecture written with the ``gguf`` library from the committed parity
  weights (tensor names from gguf's own name map, llama.cpp's q/k permutation) gives the
  reference logits; tokenizers rebuilt from GGUF metadata split text as the reference
  tokenizers of their pre-tokenizer do; unknown pre-tokenizers are refused; BOS as the file says;
- saved folders load with ``AutoConfig`` / ``AutoTokenizer`` / ``GenerationConfig`` (no torch);
- hub ids resolve in a local Hugging Face cache, with a clear error when not cached;
- parameters are built abstractly, kept in bfloat16, and sharded over 4 host devices with the
  same logits.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from phasejax.probe import safetensors_io
from phasejax.probe import families
from phasejax.probe.decoder import DecoderConfig
from phasejax.probe.hf_loader import config_from_hf, read_config
from phasejax.probe.loading import ModelFileError, load_model

PARITY = Path(__file__).parent / "parity"
ROOT = Path(__file__).parent.parent
FAMILIES = sorted(families.FAMILIES) + ["llama3_scaled"]   # every family, and Llama-3 scaling


def reference_logits(lm, name):
    ref = np.load(PARITY / name / "reference.npz")
    logits = np.asarray(lm.model(jnp.asarray(ref["input_ids"], jnp.int32),
                                 jnp.asarray(ref["attention_mask"], bool)))
    valid = ref["attention_mask"].astype(bool)
    return np.abs(logits - ref["logits"])[valid].max()


# ---------------------------------------------------------------------------------- configs

def transformers_view(hc) -> dict:
    """What the reference implementation builds from a transformers config, in our names."""
    if hc.model_type == "gpt2":
        return dict(vocab_size=hc.vocab_size, hidden_size=hc.n_embd, num_layers=hc.n_layer,
                    num_heads=hc.n_head, num_kv_heads=hc.n_head, dim_head=hc.n_embd // hc.n_head,
                    intermediate_size=hc.n_inner or 4 * hc.n_embd, norm_eps=hc.layer_norm_epsilon,
                    tie_embeddings=hc.tie_word_embeddings, max_position=hc.n_positions)
    heads = hc.num_attention_heads
    sliding = ({"sliding_attention"} == set(getattr(hc, "layer_types", None) or ())
               or hc.model_type == "mistral")
    return dict(vocab_size=hc.vocab_size, hidden_size=hc.hidden_size,
                num_layers=hc.num_hidden_layers, num_heads=heads,
                num_kv_heads=hc.num_key_value_heads,
                dim_head=getattr(hc, "head_dim", None) or hc.hidden_size // heads,
                intermediate_size=hc.intermediate_size, norm_eps=hc.rms_norm_eps,
                tie_embeddings=hc.tie_word_embeddings, max_position=hc.max_position_embeddings,
                rope_theta=hc.rope_parameters["rope_theta"],
                sliding_window=hc.sliding_window if sliding else None)


def ours(c: DecoderConfig, keys) -> dict:
    return {k: getattr(c, k) for k in keys}


@pytest.mark.parametrize("name", FAMILIES)
def test_config_matches_transformers_for_every_family(name):
    from transformers import AutoConfig

    hc = AutoConfig.from_pretrained(str(PARITY / name))
    want = transformers_view(hc)
    assert ours(load_model(PARITY / name).config, want) == want


@pytest.mark.parametrize("name,drop,expect", [
    ("qwen3", ["head_dim"], {"dim_head": 128}),                    # not hidden / heads
    ("mistral", ["num_key_value_heads", "sliding_window", "head_dim"],
     {"num_kv_heads": 8, "sliding_window": 4096, "dim_head": 4}),    # with 8 query heads
    ("llama", ["num_key_value_heads", "head_dim", "rms_norm_eps", "rope_parameters"],
     {"num_kv_heads": 4, "dim_head": 8, "norm_eps": 1e-6, "rope_theta": 10000.0}),
    ("olmo2", ["rms_norm_eps"], {"norm_eps": 1e-5}),
    ("qwen2", ["tie_word_embeddings"], {"tie_embeddings": False}),
    ("gpt2", ["n_positions", "layer_norm_epsilon"], {"max_position": 1024, "norm_eps": 1e-5}),
])
def test_omitted_config_keys_take_transformers_defaults(tmp_path, name, drop, expect):
    from transformers import AutoConfig

    d = tmp_path / name
    d.mkdir()
    cfg = json.loads((PARITY / name / "config.json").read_text())
    for k in drop:
        cfg.pop(k)
    if name == "mistral":
        cfg["num_attention_heads"] = 8
    (d / "config.json").write_text(json.dumps(cfg))
    c = config_from_hf(read_config(d))
    want = transformers_view(AutoConfig.from_pretrained(str(d)))
    assert ours(c, want) == want
    assert ours(c, expect) == expect
    assert config_from_hf(cfg) == c            # a dictionary goes through transformers too


@pytest.mark.parametrize("content,match", [
    ("{not json", "config.json is not valid JSON"),
    ("[1, 2]", "config.json: expected a JSON object"),
    ('{"model_type": "llama", "hidden_size": "big"}', "config.json"),
])
def test_garbage_config_names_the_file(tmp_path, content, match):
    d = tmp_path / "m"
    shutil.copytree(PARITY / "qwen2", d)
    (d / "config.json").write_text(content)
    with pytest.raises(ModelFileError, match=match) as e:
        load_model(d)
    assert str(d / "config.json") in str(e.value)


def test_garbage_index_and_inconsistent_tensor_name_the_file(tmp_path):
    d = tmp_path / "llama"
    shutil.copytree(PARITY / "llama", d)
    (d / "model.safetensors.index.json").write_text("{oops")
    with pytest.raises(ModelFileError, match="model.safetensors.index.json is not valid JSON"):
        load_model(d)
    d = tmp_path / "qwen2"
    shutil.copytree(PARITY / "qwen2", d)
    f = d / "model.safetensors"
    raw = f.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    head = json.loads(raw[8:8 + n])
    name = "model.norm.weight"
    head[name]["shape"] = [head[name]["shape"][0] + 1]        # bytes no longer fit the shape
    text = json.dumps(head, separators=(",", ":")).encode()
    assert len(text) <= n
    text += b" " * (n - len(text))
    f.write_bytes(raw[:8] + text[:n] + raw[8 + n:])
    with pytest.raises(ModelFileError, match=f"tensor {name}.*inconsistent header") as e:
        load_model(d)
    assert str(f) in str(e.value)


# ---------------------------------------------------------------------------- lean loading

def test_bfloat16_checkpoint_stays_bfloat16_bit_for_bit(tmp_path):
    import ml_dtypes

    d = tmp_path / "bf16"
    shutil.copytree(PARITY / "qwen2", d)
    t = safetensors_io.read(d / "model.safetensors")
    t16 = {k: v.astype(ml_dtypes.bfloat16) for k, v in t.items()}
    safetensors_io.write(d / "model.safetensors", t16)
    lm = load_model(d, "bfloat16")
    emb = lm.model.embed_tokens.embedding[...]
    assert emb.dtype == jnp.bfloat16
    assert np.array_equal(np.asarray(emb).view(np.uint16),
                          t16["model.embed_tokens.weight"].view(np.uint16))
    q = lm.model.layers[0].self_attn.q_proj.kernel[...]
    assert np.array_equal(np.asarray(q).view(np.uint16),
                          t16["model.layers.0.self_attn.q_proj.weight"].T.view(np.uint16))


def test_loading_builds_no_random_model(monkeypatch):
    """The module is constructed only abstractly (under ``nnx.eval_shape``): no random
    parameters are ever materialised."""
    from phasejax.probe import decoder

    traced = []
    real = decoder.Decoder.__init__

    def spy(self, *a, **k):
        traced.append(isinstance(jnp.zeros(1) + 1, jax.core.Tracer))   # inside a trace?
        real(self, *a, **k)
    monkeypatch.setattr(decoder.Decoder, "__init__", spy)
    for source in (PARITY / "llama", PARITY / "gpt2"):
        assert load_model(source).model.embed_tokens.embedding[...].dtype == jnp.float32
    assert traced == [True, True]


SHARDED = textwrap.dedent("""
    import os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    import jax, jax.numpy as jnp, numpy as np
    from flax import nnx
    from phasejax.probe.loading import load_model
    from phasejax.probe.weights import local_mesh
    assert len(jax.devices()) == 4, jax.devices()
    ref = np.load(sys.argv[1] + "/reference.npz")
    ids, mask = jnp.asarray(ref["input_ids"], jnp.int32), jnp.asarray(ref["attention_mask"], bool)
    plain = load_model(sys.argv[1])
    for mesh in (True, local_mesh()):
        sharded = load_model(sys.argv[1], mesh=mesh)
        k = sharded.model.layers[0].mlp.up_proj.kernel[...]
        assert len(k.sharding.device_set) == 4 and not k.sharding.is_fully_replicated
        assert k.addressable_shards[0].data.shape == (k.shape[0], k.shape[1] // 4)
        n = sharded.model.norm.weight[...]
        assert n.sharding.is_fully_replicated
        a = np.asarray(plain.model(ids, mask))
        b = np.asarray(sharded.model(ids, mask))
        c = np.asarray(jax.jit(lambda m, t, am: m(t, am))(sharded.model, ids, mask))
        valid = ref["attention_mask"].astype(bool)
        assert np.abs(a - b)[valid].max() < 1e-5 and np.abs(a - c)[valid].max() < 1e-5
    print("OK")
""")


# the qwen3 layout sharded is slow (15 s, a subprocess); llama covers the sharding path
@pytest.mark.parametrize("name", ["llama", pytest.param("qwen3", marks=pytest.mark.slow)])
def test_sharded_over_4_host_devices_gives_the_same_logits(name):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-c", SHARDED, str(PARITY / name)], capture_output=True,
                       text=True, env=env, timeout=300)
    assert r.returncode == 0 and "OK" in r.stdout, r.stderr[-3000:]


# ----------------------------------------------------------------------------------- GGUF

def llama_cpp_permute(w, n_head):
    """llama.cpp's converter (``LlamaModel.permute``): q/k rows for interleaved rotary."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def llama3_rope_factors(cfg) -> np.ndarray:
    """llama.cpp's converter's ``rope_freqs`` for Llama-3.1 scaling."""
    p = cfg["rope_parameters"]
    d = cfg["head_dim"]
    freqs = 1.0 / p["rope_theta"] ** (np.arange(0, d, 2) / d)
    old, lo, hi, factor = (p["original_max_position_embeddings"], p["low_freq_factor"],
                           p["high_freq_factor"], p["factor"])
    out = []
    for f in freqs:
        wavelen = 2 * np.pi / f
        if wavelen < old / hi:
            out.append(1.0)
        elif wavelen > old / lo:
            out.append(factor)
        else:
            smooth = (old / wavelen - lo) / (hi - lo)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.asarray(out, np.float32)


# parity case -> the GGUF architecture llama.cpp writes it as: every family's own, and llama for
# the Llama-3-scaled case and Mistral
ARCH = {**{f.name: f.gguf_arch for f in families.FAMILIES.values() if f.gguf_arch is not None},
        "llama3_scaled": "llama", "mistral": "llama"}


def write_gguf(path, name, pre="gpt-2", tokens=None, merges=(), types=None, add_bos=None,
               bos=0, eos=1):
    """The parity checkpoint ``name`` as llama.cpp's converter would write it (float32)."""
    import gguf

    arch = ARCH[name]
    cfg = json.loads((PARITY / name / "config.json").read_text())
    tensors = {}
    for f in sorted((PARITY / name).glob("*.safetensors")):
        tensors.update(safetensors_io.read(f))
    heads, kv, layers = (cfg["num_attention_heads"], cfg["num_key_value_heads"],
                         cfg["num_hidden_layers"])
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // heads
    w = gguf.GGUFWriter(str(path), arch)
    w.add_block_count(layers)
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_rope_freq_base(cfg["rope_parameters"]["rope_theta"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_rope_dimension_count(head_dim)
    w.add_vocab_size(cfg["vocab_size"])
    if cfg.get("sliding_window"):
        w.add_sliding_window(cfg["sliding_window"])
    tokens = tokens or [f"t{i}" for i in range(cfg["vocab_size"])]
    w.add_tokenizer_model("gpt2")
    if pre is not None:
        w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types or [1] * len(tokens))
    w.add_token_merges(list(merges))
    w.add_bos_token_id(bos)
    w.add_eos_token_id(eos)
    if add_bos is not None:
        w.add_add_bos_token(add_bos)
    names = gguf.get_tensor_name_map(getattr(gguf.MODEL_ARCH, arch.upper()), layers)
    for hf, t in tensors.items():
        if hf == "lm_head.weight" and cfg["tie_word_embeddings"]:
            continue
        if arch == "llama" and hf.endswith("q_proj.weight"):
            t = llama_cpp_permute(t, heads)
        if arch == "llama" and hf.endswith("k_proj.weight"):
            t = llama_cpp_permute(t, kv)
        w.add_tensor(names.get_name(hf, try_suffixes=(".weight", ".bias")), np.ascontiguousarray(t))
    if cfg["rope_parameters"].get("rope_type") == "llama3":
        w.add_tensor("rope_freqs.weight", llama3_rope_factors(cfg))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.mark.parametrize("name", sorted(ARCH))
def test_gguf_of_every_architecture_gives_the_reference_logits(tmp_path, name):
    lm = load_model(write_gguf(tmp_path / f"{name}.gguf", name))
    folder = load_model(PARITY / name)
    assert lm.config.family == ("llama" if ARCH[name] == "llama" else name)
    for k in ("num_heads", "num_kv_heads", "dim_head", "qkv_bias", "qk_norm", "post_norm",
              "tie_embeddings", "sliding_window"):
        assert getattr(lm.config, k) == getattr(folder.config, k), k
    assert reference_logits(lm, name) <= 1e-4


def test_gguf_with_unknown_architecture_or_pre_tokenizer_is_refused(tmp_path):
    with pytest.raises(ModelFileError, match="tokenizer.ggml.pre = 'mystery-bpe' is not a known"):
        load_model(write_gguf(tmp_path / "a.gguf", "qwen2", pre="mystery-bpe"))


# ---------------------------------------------------------------------- GGUF tokenizers

CORPUS = [
    "Hello world! It's 12345 apples, and 3.14159 pies.",
    "We'll see: 2024-05-17 at 10:30, they're sure it'd be fine.",
    "def f(x):\n    return x ** 2  # squares\n\n\nprint(f(12))",
    "  leading spaces and trailing   \t tabs\r\nCRLF lines 99 100 1000 10000",
    "Ünïcödé façade naïve 東京 123456789 😀 emojis!!! ??? ...",
    "I'VE DONE IT, YOU'LL SEE; SHE'D SAY 'OK'. 007 0042",
] * 20
TEXTS = CORPUS[:6] + ["1 22 333 4444 55555", "x\n\n\ny", "don't   stop\n", "  ", "a1b2c3",
                      "<|im_start|>user\nhi 42<|im_end|>"]


@pytest.fixture(scope="module")
def byte_bpe():
    """A byte-level BPE trained on CORPUS (GPT-2 splitting, so it learns multi-digit and
    whitespace merges that the pre-tokenizers then allow or forbid)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.train_from_iterator(CORPUS, trainers.BpeTrainer(
        vocab_size=700, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<|bos|>", "<|eos|>", "<|im_start|>", "<|im_end|>"], show_progress=False))
    model = json.loads(tk.to_str())["model"]
    vocab = model["vocab"]
    tokens = sorted(vocab, key=vocab.get)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    types = [3 if t.startswith("<|") else 1 for t in tokens]
    return tokens, merges, types


def reference_tokenizer(pre, tokens, merges, types):
    """The tokenizer a reference builds for this vocabulary and pre-tokenizer: transformers'
    GGUF converter, or — for SmolLM, which it does not special-case — SmolLM2's own
    ``tokenizer.json`` layout (every digit split, then GPT-2's byte-level regex)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    if pre == "smollm":
        tk = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)},
                                  merges=[tuple(m.split(" ")) for m in merges]))
        tk.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
        tk.decoder = decoders.ByteLevel()
        tk.add_special_tokens([AddedToken(t, special=True, normalized=False)
                               for t, ty in zip(tokens, types) if ty == 3])
        return tk
    from transformers.integrations.gguf.gguf_tokenizer_mapping import convert_gguf_tokenizer

    tk, _ = convert_gguf_tokenizer("llama", dict(
        tokenizer_type="gpt2", pre_tokenizer_type=pre, tokens=tokens, merges=merges,
        token_type=types))
    return tk


@pytest.mark.parametrize("pre", ["smollm", "llama-bpe", "qwen2", "gpt-2", "olmo"])
def test_gguf_tokenizer_splits_like_the_reference(tmp_path, byte_bpe, pre):
    from phasejax.probe.gguf_loader import read
    from phasejax.probe.gguf_tokenizer import tokenizer_from

    tokens, merges, types = byte_bpe
    path = write_gguf(tmp_path / "t.gguf", "qwen2", pre=pre, tokens=tokens, merges=merges,
                      types=types, add_bos=False)
    tk = tokenizer_from(read(path)[0], path)
    ref = reference_tokenizer(pre, tokens, merges, types)
    for text in TEXTS:
        ours_ids = tk.encode(text, add_special_tokens=False).ids
        assert ours_ids == ref.encode(text, add_special_tokens=False).ids, (pre, text)
        assert tk.decode(ours_ids, skip_special_tokens=False) == text


def test_pre_tokenizers_really_differ():
    """The table matters: digits one by one (SmolLM, Qwen2), in threes (Llama 3) or grouped
    (GPT-2); Llama 3 and Qwen2 contractions in any case and punctuation with its newlines."""
    from phasejax.probe.gguf_tokenizer import pre_tokenizer

    split = {pre: [p for p, _ in pre_tokenizer(pre).pre_tokenize_str("x 12345 I'VE!!\n\ny")]
             for pre in ("smollm", "llama-bpe", "qwen2", "gpt-2")}
    assert split["smollm"] == ["x", "Ġ", *"12345", "ĠI", "'", "VE", "!!", "Ċ", "Ċ", "y"]
    assert split["llama-bpe"] == ["x", "Ġ", "123", "45", "ĠI", "'VE", "!!ĊĊ", "y"]
    assert split["qwen2"] == ["x", "Ġ", *"12345", "ĠI", "'VE", "!!ĊĊ", "y"]
    assert split["gpt-2"] == ["x", "Ġ12345", "ĠI", "'", "VE", "!!", "Ċ", "Ċ", "y"]


@pytest.mark.parametrize("pre,add_bos,expect_bos", [
    ("smollm", None, False), ("llama-bpe", None, True), ("llama-bpe", False, False),
    ("qwen2", True, True), ("gpt-2", None, False)])
def test_gguf_add_bos_token_is_honoured(tmp_path, byte_bpe, pre, add_bos, expect_bos):
    from phasejax.probe.gguf_loader import read
    from phasejax.probe.gguf_tokenizer import tokenizer_from

    tokens, merges, types = byte_bpe
    bos = tokens.index("<|bos|>")
    path = write_gguf(tmp_path / "t.gguf", "qwen2", pre=pre, tokens=tokens, merges=merges,
                      types=types, add_bos=add_bos, bos=bos, eos=tokens.index("<|eos|>"))
    lm_special = load_special(path)
    tk = tokenizer_from(read(path)[0], path)
    ids = tk.encode("hi 42").ids
    assert (ids[0] == bos) == expect_bos
    assert tk.encode("hi 42", add_special_tokens=False).ids == ids[int(expect_bos):]
    assert lm_special["bos_token"] == "<|bos|>"


def load_special(path):
    from phasejax.probe.gguf_loader import read
    from phasejax.probe.gguf_tokenizer import special_tokens_from
    return special_tokens_from(read(path)[0])


def test_sentencepiece_gguf_tokenizer(tmp_path):
    """``tokenizer.ggml.model = llama``: transformers' sentencepiece builder, BOS by default."""
    import gguf

    from phasejax.probe.gguf_loader import read
    from phasejax.probe.gguf_tokenizer import tokenizer_from

    pieces = ["▁", "▁h", "▁he", "▁hel", "▁hell", "▁hello", "h", "e", "l", "o", "▁w", "w", "r",
              "d", "▁wo", "▁wor", "▁worl", "▁world", "1", "2"]
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(256)] + pieces
    types = [2, 3, 3] + [6] * 256 + [1] * len(pieces)
    scores = [0.0] * 259 + [-float(i) for i in range(len(pieces))]
    path = tmp_path / "sp.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_scores(scores)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    tk = tokenizer_from(read(path)[0], path)
    enc = tk.encode("hello world 12!")
    assert enc.ids[0] == 1 and enc.tokens[1:3] == ["▁hello", "▁world"]
    assert "<0x21>" in enc.tokens                                   # "!" by byte fallback
    assert tk.decode(enc.ids, skip_special_tokens=True) == "hello world 12!"


# --------------------------------------------------------------------------- saved folders

@pytest.mark.parametrize("name", ["llama", "qwen3", "gpt2"])
def test_saved_folder_reads_with_transformers(tmp_path, name):
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    from phasejax.probe.hf_writer import save_folder

    lm = load_model(PARITY / name, "bfloat16")
    tk = lm.tokenizer
    special = {"eos_token": tk.id_to_token(1), "pad_token": tk.id_to_token(0)}
    out = save_folder(lm.model, tmp_path / "saved", tk, lm.chat_template,
                      special_tokens=special)
    hc = AutoConfig.from_pretrained(str(out))
    assert hc.model_type == json.loads((PARITY / name / "config.json").read_text())["model_type"]
    assert hc.dtype in ("bfloat16", jnp.bfloat16) or str(hc.dtype).endswith("bfloat16")
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["dtype"] == cfg["torch_dtype"] == "bfloat16"
    assert config_from_hf(hc) == lm.config
    assert (cfg["eos_token_id"], cfg["pad_token_id"]) == (1, 0)
    gen = GenerationConfig.from_pretrained(str(out))
    assert (gen.eos_token_id, gen.pad_token_id) == (1, 0)
    tc = json.loads((out / "tokenizer_config.json").read_text())
    assert tc["tokenizer_class"] == "PreTrainedTokenizerFast"
    hf_tk = AutoTokenizer.from_pretrained(str(out))
    assert (hf_tk.eos_token, hf_tk.pad_token) == (special["eos_token"], special["pad_token"])
    text = "pick a number 12"
    assert hf_tk(text)["input_ids"] == tk.encode(text).ids
    assert (out / "chat_template.jinja").read_text() == lm.chat_template
    assert load_model(out, "bfloat16").stop_ids == (1,)


# ---------------------------------------------------------------------------- hub cache

def fake_cache(root: Path, repo: str, source: Path) -> Path:
    """``root`` laid out as huggingface_hub's cache holding ``repo`` (``main`` → one snapshot)."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    base = root / ("models--" + repo.replace("/", "--"))
    snap = base / "snapshots" / commit
    shutil.copytree(source, snap)
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text(commit)
    return snap


def test_hub_id_loads_from_the_local_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    snap = fake_cache(cache, "TinyOrg/tiny-qwen2", PARITY / "qwen2")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)                           # no folder of that name here
    lm = load_model("TinyOrg/tiny-qwen2")
    assert reference_logits(lm, "qwen2") <= 1e-4
    assert snap.is_dir()


def test_hub_gguf_file_from_the_local_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    src = tmp_path / "src"
    src.mkdir()
    write_gguf(src / "tiny-Q8.gguf", "qwen3")
    fake_cache(cache, "TinyOrg/tiny-GGUF", src)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.chdir(tmp_path)
    for spec in ("TinyOrg/tiny-GGUF", "TinyOrg/tiny-GGUF/tiny-Q8.gguf"):
        assert reference_logits(load_model(spec), "qwen3") <= 1e-4


def test_hub_id_not_cached_is_a_clear_error_without_network(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as e:
        load_model("HuggingFaceTB/SmolLM2-135M-Instruct")
    msg = str(e.value)
    assert "not in the local Hugging Face cache at" in msg and str(tmp_path / "empty") in msg
    assert "hf download HuggingFaceTB/SmolLM2-135M-Instruct" in msg
    assert "allow_download=True" in msg
