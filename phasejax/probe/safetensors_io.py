"""Read and write the safetensors format with numpy alone (bfloat16 included).

Layout: an 8-byte little-endian header length ``n``, ``n`` bytes of JSON mapping each tensor name to
``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets into the byte buffer that follows),
then the buffer. bfloat16 is the upper half of a float32, so it is widened by a 16-bit shift.
"""

from __future__ import annotations

import json
import os
import struct
import tempfile
from pathlib import Path

import ml_dtypes
import numpy as np

_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
           "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_,
           "BF16": np.uint16}
_CODES = {np.dtype(v): k for k, v in _DTYPES.items() if k != "BF16"}
_BF16 = np.dtype(ml_dtypes.bfloat16)


class SafetensorsError(ValueError):
    """A file that is not valid safetensors (truncated, bad header, unknown dtype)."""


def header(path) -> dict:
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise SafetensorsError(f"{path}: too short to be a safetensors file")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8:
            raise SafetensorsError(f"{path}: header of {n} bytes does not fit a {size}-byte "
                                   "file (truncated or not safetensors)")
        try:
            meta = json.loads(f.read(n))
        except ValueError as e:
            raise SafetensorsError(f"{path}: header is not JSON ({e})") from e
    meta["__data_start__"] = 8 + n
    meta["__file_size__"] = size
    return meta


def read(path) -> dict[str, np.ndarray]:
    """All tensors of one file as numpy arrays (bfloat16 widened to float32)."""
    meta = header(path)
    start, size = meta.pop("__data_start__"), meta.pop("__file_size__")
    meta.pop("__metadata__", None)
    buf = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for name, info in meta.items():
        code = info.get("dtype")
        if code not in _DTYPES:
            raise SafetensorsError(f"{path}: tensor {name} has unsupported dtype {code!r}")
        b, e = info["data_offsets"]
        if start + e > size:
            raise SafetensorsError(f"{path}: tensor {name} ends at byte {start + e} beyond the "
                                   f"file's {size} bytes (truncated)")
        raw = np.frombuffer(buf[start + b:start + e], dtype=_DTYPES[code])
        if code == "BF16":
            raw = (raw.astype(np.uint32) << 16).view(np.float32)
        out[name] = raw.reshape(info["shape"])
    return out


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
