"""Read and write the safetensors format (bfloat16 included), without torch.

Layout: an 8-byte little-endian header length ``n``, ``n`` bytes of JSON mapping each tensor name to
``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets into the byte buffer that follows),
then the buffer.

:func:`check` validates a header against the file before anything is read (every entry's dtype,
shape, offsets and size), so a corrupt or hostile file fails in milliseconds with its name and the
tensor's. :func:`lazy` then reads one tensor at a time with the ``safetensors`` library
(``safe_open(framework="np")``: real bfloat16 through ml_dtypes); the file is mapped only while
one tensor is copied out, so the mapped pages never add up to a whole shard. :func:`read` loads
every tensor of a file at once, bfloat16 widened to float32 (tests and small files).
"""

from __future__ import annotations

import functools
import json
import math
import os
import struct
import tempfile
from pathlib import Path
from typing import Callable

import ml_dtypes
import numpy as np

_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
           "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_,
           "BF16": np.uint16}
_CODES = {np.dtype(v): k for k, v in _DTYPES.items() if k != "BF16"}
_BF16 = np.dtype(ml_dtypes.bfloat16)
MAX_HEADER = 100 * 2**20      # the safetensors library's own limit


class SafetensorsError(ValueError):
    """A file that is not valid safetensors (truncated, bad header, unknown dtype)."""


def header(path) -> dict:
    """The parsed JSON header of a safetensors file (tensor name → dtype, shape, offsets),
    plus ``__data_start__`` and ``__file_size__``; raises :class:`SafetensorsError` when the
    header does not fit the file or is not a JSON object.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise SafetensorsError(f"{path}: too short to be a safetensors file")
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER:
            raise SafetensorsError(f"{path}: header of {n} bytes is larger than the "
                                   f"{MAX_HEADER}-byte limit (corrupt or not safetensors)")
        if n > size - 8:
            raise SafetensorsError(f"{path}: header of {n} bytes does not fit a {size}-byte "
                                   "file (truncated or not safetensors)")
        try:
            meta = json.loads(f.read(n))
        except ValueError as e:
            raise SafetensorsError(f"{path}: header is not JSON ({e})") from e
    if not isinstance(meta, dict):
        raise SafetensorsError(f"{path}: header is not a JSON object")
    meta["__data_start__"] = 8 + n
    meta["__file_size__"] = size
    return meta


def check(path) -> dict[str, dict]:
    """The tensor entries of ``path``'s header, each checked against the file: a known dtype, a
    shape of non-negative integers, offsets inside the file that hold exactly
    ``prod(shape) × itemsize`` bytes. Raises :class:`SafetensorsError` naming file and tensor."""
    return _checked(path)[0]


def _checked(path) -> tuple[dict[str, dict], int]:
    meta = header(path)
    start, size = meta.pop("__data_start__"), meta.pop("__file_size__")
    meta.pop("__metadata__", None)
    for name, info in meta.items():
        where = f"{path}: tensor {name}"
        if not isinstance(info, dict):
            raise SafetensorsError(f"{where}: header entry is not an object")
        code, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if code not in _DTYPES:
            raise SafetensorsError(f"{where} has unsupported dtype {code!r}")
        if (not isinstance(shape, list)
                or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                           for d in shape)):
            raise SafetensorsError(f"{where} has an invalid shape {shape!r}")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and o >= 0 for o in offsets)
                or offsets[0] > offsets[1]):
            raise SafetensorsError(f"{where} has invalid data_offsets {offsets!r}")
        b, e = offsets
        if start + e > size:
            raise SafetensorsError(f"{where} ends at byte {start + e} beyond the file's {size} "
                                   "bytes (truncated)")
        expected = math.prod(shape) * np.dtype(_DTYPES[code]).itemsize
        if e - b != expected:
            raise SafetensorsError(f"{where}: shape {shape} of {code} needs {expected} bytes, "
                                   f"the header gives {e - b} (inconsistent header)")
    return meta, start


def read(path) -> dict[str, np.ndarray]:
    """All tensors of one file as numpy arrays (bfloat16 widened to float32)."""
    meta, start = _checked(path)
    buf = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for name, info in meta.items():
        code = info["dtype"]
        b, e = info["data_offsets"]
        raw = np.frombuffer(buf[start + b:start + e], dtype=_DTYPES[code])
        if code == "BF16":
            raw = (raw.astype(np.uint32) << 16).view(np.float32)
        out[name] = raw.reshape(info["shape"])
    return out


def _load(path: str, name: str) -> np.ndarray:
    from safetensors import safe_open

    try:
        with safe_open(path, framework="np") as f:   # mapped for this one tensor only
            return f.get_tensor(name)
    except Exception as e:  # the library's own errors name neither file nor tensor
        raise SafetensorsError(f"{path}: tensor {name} could not be read "
                               f"({type(e).__name__}: {e})") from e


def lazy(path) -> list[tuple[str, Callable[[], np.ndarray]]]:
    """``(name, load)`` for every tensor of ``path`` (header checked now, data read by ``load``
    in its stored dtype — bfloat16 as ml_dtypes' bfloat16)."""
    return [(name, functools.partial(_load, str(path), name)) for name in check(path)]


def write(path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None):
    """Write ``tensors`` atomically (temporary file, then rename)."""
    path = Path(path)
    entries, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        if a.dtype == _BF16:                          # ml_dtypes' bfloat16: raw 16-bit words
            a = a.view(np.uint16)
            code = "BF16"
        elif a.dtype in _CODES:
            code = _CODES[a.dtype]
        else:
            raise SafetensorsError(f"tensor {name}: dtype {a.dtype} cannot be written")
        blob = a.tobytes()
        entries[name] = {"dtype": code, "shape": list(a.shape),
                         "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    if metadata:
        entries["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    head = json.dumps(entries, separators=(",", ":")).encode()
    head += b" " * (-len(head) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(head)))
            f.write(head)
            for blob in blobs:
                f.write(blob)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
