"""The tokenizer of a GGUF file, rebuilt from its metadata as llama.cpp reads it, without torch:

- byte-level BPE (``tokenizer.ggml.model = gpt2``): vocabulary and merges, and the split regexes
  of the named pre-tokenizer ``tokenizer.ggml.pre`` (:data:`PRE_TOKENIZERS`, llama.cpp's
  ``llm_tokenizer_bpe`` table: ``smollm`` splits every digit, ``llama-bpe`` groups up to three,
  ``qwen2`` splits every digit with Llama-3's word rules, ``gpt-2``/``olmo`` use GPT-2's
  regex); an unknown name is refused rather than guessed;
- sentencepiece (``tokenizer.ggml.model = llama``) through transformers' torch-free GGUF
  tokenizer builder.

``tokenizer.ggml.add_bos_token`` (default: llama.cpp's — on for sentencepiece and Llama-3
vocabularies) becomes a post-processor, so ``encode(text)`` starts with BOS exactly when
llama.cpp's tokenizer would. The special tokens and stop ids come from the same metadata. The
weights are read by :mod:`phasejax.probe.gguf_loader`.
"""

from __future__ import annotations

import warnings

from phasejax.probe.weights import ModelFileError

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


def metadata(reader, key, default=None):
    """The value of metadata field ``key`` in a GGUF reader, ``default`` if the file omits it."""
    f = reader.fields.get(key)
    return default if f is None else f.contents()


def special_tokens_from(reader) -> dict:
    """``{"bos_token": …, "eos_token": …, …}`` as text, from the tokenizer metadata's ids (what
    ``transformers`` sets when it converts a GGUF tokenizer); ids the file omits are left out."""
    tokens = metadata(reader, "tokenizer.ggml.tokens")
    out = {}
    for name, key in (("bos_token", "bos"), ("eos_token", "eos"), ("unk_token", "unknown"),
                      ("pad_token", "padding")):
        i = metadata(reader, f"tokenizer.ggml.{key}_token_id")
        if tokens is not None and i is not None and 0 <= int(i) < len(tokens):
            out[name] = str(tokens[int(i)])
    return out


def stop_ids_from(reader) -> tuple:
    """End-of-sequence and end-of-turn ids from the file's tokenizer metadata."""
    ids = [metadata(reader, f"tokenizer.ggml.{k}_token_id") for k in ("eos", "eot")]
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

    model_type = metadata(reader, "tokenizer.ggml.model")
    if model_type is None or metadata(reader, "tokenizer.ggml.tokens") is None:
        raise ModelFileError(f"{source}: the file carries no tokenizer (tokenizer.ggml.* "
                             "metadata is missing)")
    tokens = [str(t) for t in metadata(reader, "tokenizer.ggml.tokens")]
    types = list(metadata(reader, "tokenizer.ggml.token_type") or [1] * len(tokens))
    pre = metadata(reader, "tokenizer.ggml.pre")
    if model_type == "gpt2":
        merges = [tuple(m.split(" ", 1)) for m in metadata(reader, "tokenizer.ggml.merges", [])]
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
                    scores=list(metadata(reader, "tokenizer.ggml.scores") or [0.0] * len(tokens)))
        if metadata(reader, "tokenizer.ggml.merges") is not None:
            spec["merges"] = list(metadata(reader, "tokenizer.ggml.merges"))
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
    add_bos = metadata(reader, "tokenizer.ggml.add_bos_token", add_bos_default)
    add_eos = metadata(reader, "tokenizer.ggml.add_eos_token", False)
    bos, eos = (metadata(reader, f"tokenizer.ggml.{k}_token_id") for k in ("bos", "eos"))
    for flag, i, what in ((add_bos, bos, "BOS"), (add_eos, eos, "EOS")):
        if flag and (i is None or not 0 <= int(i) < len(tokens)):
            raise ModelFileError(f"{source}: the tokenizer adds {what} but its token id "
                                 f"{i!r} is not in the vocabulary")
    tk.post_processor = bos_post_processor(tokens, None if bos is None else int(bos),
                                           None if eos is None else int(eos),
                                           bool(add_bos), bool(add_eos))
    return tk
