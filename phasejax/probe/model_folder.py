"""What a model folder may make the loaders read: its own files, each of a sane size.

A model folder (a Hugging Face snapshot, a downloaded or saved checkpoint) is untrusted data.
Every file read from it, and every file name its JSON gives (the shards of
``model.safetensors.index.json``, the ``*_file``/``*_files`` entries of
``tokenizer_config.json``, a GGUF file named in a hub id), must resolve — symlinks followed —
inside the folder. The one exception is the layout of the Hugging Face cache itself: a snapshot
(``<cache>/models--org--name/snapshots/<revision>``) holds symlinks into its own repository's
blob store (``<cache>/models--org--name/blobs``), and those are allowed. Anything else is
refused with one line naming it, before it is opened. Hidden entries (``.git``, ``.cache``) are
not model files and are not looked at.

Text files that are parsed whole (``tokenizer.json``, the JSON configs, chat templates,
vocabularies) are refused above :func:`max_text_bytes`: 64 MiB, or the number of MiB in the
environment variable ``PHASEJAX_MAX_MODEL_TEXT_MB`` (the largest published tokenizers are about
35 MB; parsing takes about three times a file's size in memory).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from phasejax.probe.weights import ModelFileError

MAX_TEXT_MB = 64
MAX_TEXT_ENV = "PHASEJAX_MAX_MODEL_TEXT_MB"
TEXT_SUFFIXES = (".json", ".jinja", ".txt", ".model")   # parsed whole by a loader


def roots(folder) -> tuple[Path, ...]:
    """Where the files of ``folder`` may lie: the folder itself (resolved) and, for a snapshot
    of the Hugging Face cache, its repository's blob store."""
    folder = Path(folder).resolve()
    for snapshot in (folder, *folder.parents):
        repo = snapshot.parent.parent
        if snapshot.parent.name == "snapshots" and repo.name.startswith("models--"):
            return folder, repo / "blobs"
    return (folder,)


def inside(folder, name, named_by=None) -> Path:
    """``folder / name`` once it is known to resolve inside ``folder`` (:func:`roots`).

    ``named_by`` is the file (or hub id) that gave ``name``, for the message. Raises
    :class:`ModelFileError` when the path resolves anywhere else.
    """
    folder = Path(folder)
    path = folder / name
    try:
        target = path.resolve()
    except (OSError, RuntimeError) as e:            # a symlink loop
        raise ModelFileError(f"{path} cannot be resolved ({e}); refusing to read it") from None
    if any(target == r or target.is_relative_to(r) for r in roots(folder)):
        return path
    what = (f"{named_by} names {str(name)!r}, which resolves to" if named_by is not None
            else f"{path} resolves to")
    raise ModelFileError(f"{what} {target}, outside the model folder {folder}; refusing to "
                         "read it (a model folder may use only its own files)")


def max_text_bytes() -> int:
    """The size limit of a text file parsed whole: :data:`MAX_TEXT_MB` MiB, or
    ``$PHASEJAX_MAX_MODEL_TEXT_MB`` (read now, so it can be set at any time)."""
    raw = os.environ.get(MAX_TEXT_ENV)
    if raw is None:
        return MAX_TEXT_MB * 2**20
    try:
        mb = float(raw)
    except ValueError:
        mb = -1.0
    if not mb > 0:
        raise ValueError(f"{MAX_TEXT_ENV}={raw!r}: expected a positive number of MiB")
    return int(mb * 2**20)


def check_size(path) -> Path:
    """``path``, once it is known to be no larger than :func:`max_text_bytes`."""
    size, limit = Path(path).stat().st_size, max_text_bytes()
    if size > limit:
        raise ModelFileError(f"{path} is {size / 2**20:.4g} MiB, more than the "
                             f"{limit / 2**20:.4g} MiB a model's text file may have; refusing "
                             f"to read it (set {MAX_TEXT_ENV} to allow more)")
    return Path(path)


def read_text(path) -> str:
    """A text file of a model folder, size checked; undecodable text is an error naming it."""
    try:
        return check_size(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ModelFileError(f"{path} is not UTF-8 text ({e})") from None


def read_json(path):
    """A JSON file's content, size checked; a file that is not JSON is an error naming it."""
    try:
        return json.loads(read_text(path))
    except ValueError as e:
        if isinstance(e, ModelFileError):
            raise
        raise ModelFileError(f"{path} is not valid JSON ({type(e).__name__}: {e})") from None


# legacy keys that old tokenizer configs still carry (often as a stale absolute path of the
# machine that saved them): transformers reads these files only under their own names
_IGNORED_KEYS = ("special_tokens_map_file", "added_tokens_file")


def named_files(config: dict):
    """``(key, name)`` for every file name a tokenizer config gives (``tokenizer_file``,
    ``vocab_file``, ``fast_tokenizer_files``, …: keys ending in ``_file`` or ``_files``)."""
    for key, value in config.items():
        if not key.endswith(("_file", "_files")) or key in _IGNORED_KEYS:
            continue
        for name in value if isinstance(value, list) else [value]:
            if isinstance(name, str) and name:
                yield key, name


def check_folder(folder) -> Path:
    """``folder``, once everything a loader (ours or transformers') may read from it is known
    to stay inside it and to be of a sane size.

    Every entry (hidden ones aside) must resolve inside the folder (:func:`inside`); every text
    file (:data:`TEXT_SUFFIXES`) must be within :func:`max_text_bytes`; every file name
    ``tokenizer_config.json`` gives must lie inside the folder. Raises :class:`ModelFileError`
    naming the first file that does not.
    """
    folder = Path(folder)
    for top, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(dirs) + sorted(f for f in files if not f.startswith(".")):
            path = inside(folder, (Path(top) / name).relative_to(folder))
            if path.suffix in TEXT_SUFFIXES and path.is_file():
                check_size(path)
    config = folder / "tokenizer_config.json"
    if config.is_file():
        content = read_json(config)
        for key, name in named_files(content if isinstance(content, dict) else {}):
            inside(folder, name, named_by=f"{config} ({key})")
    return folder
