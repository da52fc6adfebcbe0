"""Save a decoder as a Hugging Face folder that :func:`load_model` (and transformers) can read:
``config.json``, ``model.safetensors``, tokenizer and chat template. Every family the loader
reads can be written: Llama, Mistral, Qwen2, Qwen3, OLMo-2 and GPT-2."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
from flax import nnx

from phasejax.probe import safetensors_io
from phasejax.probe.decoder import DecoderConfig

MODEL_TYPES = {"llama": ("llama", "LlamaForCausalLM"), "mistral": ("mistral", "MistralForCausalLM"),
               "qwen2": ("qwen2", "Qwen2ForCausalLM"), "qwen3": ("qwen3", "Qwen3ForCausalLM"),
               "olmo2": ("olmo2", "Olmo2ForCausalLM"), "gpt2": ("gpt2", "GPT2LMHeadModel")}


def hf_config(c: DecoderConfig, eos_token_id=None, bos_token_id=None,
              dtype: str = "float32") -> dict:
    if c.family not in MODEL_TYPES:
        raise ValueError(f"saving family {c.family!r} is not supported ({sorted(MODEL_TYPES)})")
    model_type, arch = MODEL_TYPES[c.family]
    if c.family == "gpt2":
        return dict(model_type=model_type, architectures=[arch], vocab_size=c.vocab_size,
                    n_embd=c.hidden_size, n_inner=c.intermediate_size, n_layer=c.num_layers,
                    n_head=c.num_heads, n_positions=c.max_position,
                    layer_norm_epsilon=c.norm_eps, activation_function="gelu_new",
                    tie_word_embeddings=c.tie_embeddings, eos_token_id=eos_token_id,
                    bos_token_id=bos_token_id, torch_dtype=dtype)
    rope = {"rope_theta": c.rope_theta, "rope_type": "default"}
    if c.rope_scaling:
        rope.update(dict(c.rope_scaling))
    cfg = dict(model_type=model_type, architectures=[arch], vocab_size=c.vocab_size,
               hidden_size=c.hidden_size, intermediate_size=c.intermediate_size,
               num_hidden_layers=c.num_layers, num_attention_heads=c.num_heads,
               num_key_value_heads=c.num_kv_heads, hidden_act="silu",
               rms_norm_eps=c.norm_eps, rope_theta=c.rope_theta, rope_parameters=rope,
               tie_word_embeddings=c.tie_embeddings, max_position_embeddings=c.max_position,
               attention_bias=c.qkv_bias and c.family != "qwen2", mlp_bias=c.mlp_bias,
               eos_token_id=eos_token_id, bos_token_id=bos_token_id, torch_dtype=dtype)
    if c.head_dim is not None:
        cfg["head_dim"] = c.head_dim
    if c.family == "mistral":
        cfg["sliding_window"] = c.sliding_window
    return cfg


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


def state_tensors(model) -> dict[str, np.ndarray]:
    flat = {".".join(str(p) for p in path): np.asarray(var[...])  # float32 or bfloat16
            for path, var in nnx.to_flat_state(nnx.state(model, nnx.Param))}
    if model.config.family == "gpt2":
        return _gpt2_tensors(flat)
    out = {}
    for path, w in flat.items():
        name, transpose = _hf_name(path)
        out[name] = np.ascontiguousarray(w.T if transpose else w)
    return out


def save_folder(model, folder, tokenizer=None, chat_template: str | None = None,
                eos_token_id=None, metadata: dict | None = None) -> Path:
    """Write the folder atomically (into a temporary sibling, then rename)."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        cfg = hf_config(model.config, eos_token_id, dtype=str(np.dtype(model.dtype)))
        (tmp / "config.json").write_text(json.dumps(cfg, indent=1))
        safetensors_io.write(tmp / "model.safetensors", state_tensors(model),
                             {"format": "pt", **(metadata or {})})
        if tokenizer is not None:
            tokenizer.save(str(tmp / "tokenizer.json"))
        if chat_template:
            (tmp / "chat_template.jinja").write_text(chat_template)
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
