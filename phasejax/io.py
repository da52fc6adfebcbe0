"""Atomic result files: written to a temporary file beside the target, then renamed.

A reader (or a resumed sweep) therefore sees either no file or a complete one, never half a
table. :func:`is_finished` is how a job recognises its own finished result.

Temporary files and folders are created private (``tempfile``: 0600 / 0700); before they are
renamed into place they get the permissions any ordinary file or folder would get under the
user's umask (:func:`publish`: ``0o666 & ~umask`` for files, ``0o777 & ~umask`` for folders),
so shared results stay readable by whoever the user's umask allows.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np


def umask() -> int:
    """The process's umask (read without changing it where ``/proc`` allows)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)      # elsewhere: set and restore at once
    os.umask(mask)
    return mask


def publish(path: str | os.PathLike) -> Path:
    """Give ``path`` (a file, or a folder and everything in it) the umask's permissions."""
    path = Path(path)
    mask = umask()
    if path.is_dir():
        os.chmod(path, 0o777 & ~mask)
        for sub in path.rglob("*"):
            if not sub.is_symlink():
                os.chmod(sub, (0o777 if sub.is_dir() else 0o666) & ~mask)
    else:
        os.chmod(path, 0o666 & ~mask)
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ""):
    """Yield a temporary path in ``path``'s folder; rename it to ``path`` if the block succeeds.

    The file that appears has the umask's permissions, like any file the user creates."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".part{suffix}", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        publish(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_table(path, rows: Sequence[dict], columns: Sequence[str] | None = None) -> Path:
    """Write dict rows as CSV atomically; ``columns`` fixes the order (default: first-seen)."""
    if columns is None:
        columns = list(dict.fromkeys(k for r in rows for k in r))
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(columns), extrasaction="raise")
            w.writeheader()
            for r in rows:
                w.writerow({k: _fmt(r.get(k, "")) for k in columns})
    return Path(path)


def _fmt(v):
    """Floats (NumPy's scalars too: ``np.float64`` is a ``float`` whose ``repr`` names its type)
    as the shortest text that reads back to the same number; integers as digits."""
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def read_table(path) -> list[dict]:
    """Rows of a CSV written by :func:`write_table`, numbers as they were written: a field of
    digits (an ``int`` when written) comes back as ``int``, any other number as ``float``
    (:func:`_fmt` writes every float with a point or an exponent), anything else as text."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k, v in r.items():
            r[k] = _number(v)
    return rows


def _number(v):
    if isinstance(v, str) and re.fullmatch(r"[+-]?[0-9]+", v):
        return int(v)
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


def write_json(path, obj) -> Path:
    """Write ``obj`` as indented, key-sorted JSON atomically; returns the path."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(obj, indent=2, sort_keys=True))
    return Path(path)


def write_npz(path, **arrays) -> Path:
    """``numpy.savez_compressed`` atomically."""
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)
    return Path(path)


def is_finished(folder, names: Iterable[str]) -> bool:
    """True when every named result file exists in ``folder`` (they only appear complete)."""
    return all((Path(folder) / n).is_file() for n in names)
