"""Save a decoder as a Hugging Face folder that :func:`load_model` and transformers
(``AutoConfig``, ``AutoTokenizer``, ``GenerationConfig``; torch-free) read as the hub's own:

- ``config.json`` — the architecture in transformers' names, ``dtype`` (v5) and ``torch_dtype``
  (what older releases read), special token ids;
- ``generation_config.json`` — BOS / EOS / padding ids;
- ``model.safetensors`` — Hugging Face tensor names and layouts;
- ``tokenizer.json`` + ``tokenizer_config.json`` (``tokenizer_class``, the BOS / EOS / padding /
  unknown tokens, ``model_max_length``) and ``chat_template.jinja``.

Every family the loader reads can be written (each spec of :mod:`phasejax.probe.families` names
its ``model_type`` and architecture class)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
from flax import nnx

from phasejax.io import publish
from phasejax.probe import families, safetensors_io
from phasejax.probe.decoder import DecoderConfig

# family -> (model_type, architecture class) written to config.json, from the registry
MODEL_TYPES = {f.name: (f.hf_model_type, f.hf_architecture) for f in families.FAMILIES.values()}


def _gpt2_config(c: DecoderConfig, spec: families.Family, head: dict, tail: dict) -> dict:
    """GPT-2's entries (``n_embd``, ``n_layer``, …) between ``head`` and ``tail``."""
    return dict(**head, vocab_size=c.vocab_size, n_embd=c.hidden_size,
                n_inner=c.intermediate_size, n_layer=c.num_layers, n_head=c.num_heads,
                n_positions=c.max_position, layer_norm_epsilon=c.norm_eps,
                activation_function="gelu_new", tie_word_embeddings=c.tie_embeddings, **tail)


def _llama_config(c: DecoderConfig, spec: families.Family, head: dict, tail: dict) -> dict:
    """The Llama-kind entries: sizes, rotary parameters, ``attention_bias`` for the biases the
    family does not fix, and the sliding window as the family's ``hf_window`` says."""
    rope = {"rope_theta": c.rope_theta, "rope_type": "default"}
    if c.rope_scaling:
        rope.update(dict(c.rope_scaling))
    if rope["rope_type"] == "factors":
        raise ValueError("rotary frequency factors (a GGUF's rope_freqs) have no transformers "
                         "config equivalent; this model cannot be saved as a folder")
    fixed = {**spec.switches, **spec.hf_switches}
    free = {getattr(c, k) for k in ("qkv_bias", "out_bias") if k not in fixed}
    if len(free) > 1:
        raise ValueError(f"{c.family}: q/k/v biases without an output bias (or the reverse) "
                         "cannot be written as transformers' attention_bias")
    cfg = dict(**head, vocab_size=c.vocab_size,
               hidden_size=c.hidden_size, intermediate_size=c.intermediate_size,
               num_hidden_layers=c.num_layers, num_attention_heads=c.num_heads,
               num_key_value_heads=c.num_kv_heads, hidden_act="silu",
               rms_norm_eps=c.norm_eps, rope_theta=c.rope_theta, rope_parameters=rope,
               tie_word_embeddings=c.tie_embeddings, max_position_embeddings=c.max_position,
               attention_bias=any(free), mlp_bias=c.mlp_bias, **tail, head_dim=c.dim_head)
    if spec.hf_window == "always":
        cfg["sliding_window"] = c.sliding_window
    elif c.sliding_window is not None:
        if spec.hf_window != "layer_types":
            raise ValueError(f"{c.family}: a sliding attention window cannot be written in "
                             "transformers' config for this family")
        cfg.update(use_sliding_window=True, sliding_window=c.sliding_window,
                   max_window_layers=0, layer_types=["sliding_attention"] * c.num_layers)
    return cfg


# each layout's config.json entries (families.LAYOUTS)
CONFIG_WRITERS = {"llama": _llama_config, "gpt2": _gpt2_config}


def hf_config(c: DecoderConfig, eos_token_id=None, bos_token_id=None,
              dtype: str = "float32", pad_token_id=None) -> dict:
    """The ``config.json`` dictionary transformers reads for a decoder with config ``c``: its
    family's ``model_type`` and architecture class, its layout's entries, the family's
    ``hf_config_extras``."""
    if c.family not in MODEL_TYPES:
        raise ValueError(f"saving family {c.family!r} is not supported ({sorted(MODEL_TYPES)})")
    spec = families.get(c.family)
    model_type, arch = MODEL_TYPES[c.family]
    ids = dict(eos_token_id=eos_token_id, bos_token_id=bos_token_id, pad_token_id=pad_token_id)
    cfg = CONFIG_WRITERS[spec.layout](c, spec, dict(model_type=model_type, architectures=[arch]),
                                      dict(**ids, dtype=dtype, torch_dtype=dtype))
    return {**cfg, **spec.hf_config_extras}


def _hf_name(path: str) -> tuple[str, bool]:
    """Our parameter path → (checkpoint name, transpose?)."""
    if path == "embed_tokens.embedding":
        return "model.embed_tokens.weight", False
    if path == "lm_head.kernel":
        return "lm_head.weight", True
    if path.endswith(".kernel"):
        return "model." + path[:-len(".kernel")] + ".weight", True
    return "model." + path, False


def _gpt2_tensors(flat: dict) -> dict[str, np.ndarray]:
    """GPT-2's layout: Conv1D weights ``(in, out)`` as our kernels, q/k/v fused into c_attn."""
    t = "transformer."
    out = {t + "wte.weight": flat["embed_tokens.embedding"],
           t + "wpe.weight": flat["embed_positions.embedding"],
           t + "ln_f.weight": flat["norm.weight"], t + "ln_f.bias": flat["norm.bias"]}
    if "lm_head.kernel" in flat:
        out["lm_head.weight"] = flat["lm_head.kernel"].T
    layers = sorted({int(k.split(".")[1]) for k in flat if k.startswith("layers.")})
    for i in layers:
        L, h = f"layers.{i}.", f"{t}h.{i}."
        for ours, theirs in (("input_layernorm", "ln_1"), ("post_attention_layernorm", "ln_2")):
            for w in ("weight", "bias"):
                out[f"{h}{theirs}.{w}"] = flat[f"{L}{ours}.{w}"]
        for w, kind, axis in (("weight", "kernel", 1), ("bias", "bias", 0)):
            out[f"{h}attn.c_attn.{w}"] = np.concatenate(
                [flat[f"{L}self_attn.{p}_proj.{kind}"] for p in "qkv"], axis=axis)
            out[f"{h}attn.c_proj.{w}"] = flat[f"{L}self_attn.o_proj.{kind}"]
            out[f"{h}mlp.c_fc.{w}"] = flat[f"{L}mlp.up_proj.{kind}"]
            out[f"{h}mlp.c_proj.{w}"] = flat[f"{L}mlp.down_proj.{kind}"]
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def _llama_tensors(flat: dict) -> dict[str, np.ndarray]:
    """The Llama-kind layout: ``model.`` + our path, kernels transposed to ``(out, in)``."""
    out = {}
    for path, w in flat.items():
        name, transpose = _hf_name(path)
        out[name] = np.ascontiguousarray(w.T if transpose else w)
    return out


# each layout's tensor names and layouts (families.LAYOUTS)
TENSOR_WRITERS = {"llama": _llama_tensors, "gpt2": _gpt2_tensors}


def state_tensors(model) -> dict[str, np.ndarray]:
    """The model's parameters as Hugging Face tensor names → contiguous numpy arrays, in its
    family's layout."""
    flat = {".".join(str(p) for p in path): np.asarray(var[...])  # float32 or bfloat16
            for path, var in nnx.to_flat_state(nnx.state(model, nnx.Param))}
    return TENSOR_WRITERS[families.get(model.config.family).layout](flat)


def _token(tokenizer, token_id):
    return None if tokenizer is None or token_id is None else tokenizer.id_to_token(int(token_id))


def _token_id(tokenizer, token):
    return None if tokenizer is None or token is None else tokenizer.token_to_id(token)


def tokenizer_config(c: DecoderConfig, special: dict) -> dict:
    """``tokenizer_config.json``: the generic fast tokenizer over ``tokenizer.json`` (read by
    transformers 4 and 5), its special tokens and context length."""
    return {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": c.max_position,
            "clean_up_tokenization_spaces": False,
            **{k: special.get(k) for k in ("bos_token", "eos_token", "pad_token", "unk_token")}}


def save_folder(model, folder, tokenizer=None, chat_template: str | None = None,
                eos_token_id=None, metadata: dict | None = None,
                special_tokens: dict | None = None) -> Path:
    """Write the folder atomically (into a temporary sibling, then rename).

    ``special_tokens`` (``{"bos_token": …, "eos_token": …, "pad_token": …, "unk_token": …}`` as
    text, e.g. :attr:`LoadedModel.special_tokens`) name the tokens; ``eos_token_id`` names EOS
    when they do not. Their ids go to ``config.json`` and ``generation_config.json``.
    """
    special = {k: v for k, v in dict(special_tokens or {}).items() if v is not None}
    if eos_token_id is not None:
        special.setdefault("eos_token", _token(tokenizer, eos_token_id))
    ids = {f"{k}_id": _token_id(tokenizer, special.get(k)) for k in
           ("bos_token", "eos_token", "pad_token")}
    if eos_token_id is not None:
        ids["eos_token_id"] = int(eos_token_id)
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        cfg = hf_config(model.config, ids["eos_token_id"], ids["bos_token_id"],
                        str(np.dtype(model.dtype)), ids["pad_token_id"])
        (tmp / "config.json").write_text(json.dumps(cfg, indent=1))
        (tmp / "generation_config.json").write_text(json.dumps(
            {k: v for k, v in ids.items() if v is not None}, indent=1))
        safetensors_io.write(tmp / "model.safetensors", state_tensors(model),
                             {"format": "pt", **(metadata or {})})
        if tokenizer is not None:
            tokenizer.save(str(tmp / "tokenizer.json"))
            (tmp / "tokenizer_config.json").write_text(json.dumps(
                tokenizer_config(model.config, special), indent=1))
        if chat_template:
            (tmp / "chat_template.jinja").write_text(chat_template)
        publish(tmp)        # mkdtemp/mkstemp are private (0700/0600): the umask's instead
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old")
            os.replace(folder, old)
            os.replace(tmp, folder)
            import shutil
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    except BaseException:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder
