"""Checkpoint tensors → decoder parameters through a table of name-mapping rules.

A :class:`Rule` maps checkpoint names matching ``pattern`` to module paths (``"{0}"`` is the first
regex group) after a transform (transpose, split, unpermute, …). Loading never stops at the first
problem: unmapped names, shape mismatches, failed conversions and parameters no tensor filled are
collected and raised together in one :class:`ModelFileError`.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable, NamedTuple

import jax.numpy as jnp
import numpy as np
from flax import nnx


class ModelFileError(ValueError):
    """A model file or folder that cannot be used, with every reason."""


class Rule(NamedTuple):
    pattern: str                                   # regex over checkpoint tensor names
    targets: tuple                                 # module paths; () drops the tensor
    transform: Callable = lambda w: (w,)           # array -> one array per target


def transpose(w):
    return (w.T,)


def identity(w):
    return (w,)


def split(n: int, axis: int):
    """Fused projections (GPT-2's ``c_attn``): ``n`` equal parts along ``axis``."""
    return lambda w: tuple(np.split(w, n, axis=axis))


def _target(model, path: str):
    obj = model
    for part in path.split("."):
        obj = obj[int(part)] if part.isdigit() else getattr(obj, part)
    return obj


def param_paths(model) -> set[str]:
    return {".".join(str(p) for p in path)
            for path, _ in nnx.to_flat_state(nnx.state(model, nnx.Param))}


def assign(model, tensors: Iterable[tuple[str, Callable[[], np.ndarray]]], rules, source,
           dtype=jnp.float32):
    """Fill ``model``'s parameters from ``(name, load)`` pairs; raise every problem at once."""
    compiled = [(re.compile(r.pattern), r) for r in rules]
    errors, filled = [], set()
    for name, load in tensors:
        for pattern, rule in compiled:
            m = pattern.fullmatch(name)
            if m:
                break
        else:
            errors.append(f"{name}: no mapping rule")
            continue
        if not rule.targets:
            continue
        paths = [t.format(*m.groups()) for t in rule.targets]
        try:
            arrays = rule.transform(np.asarray(load(), np.float32))
            for path, w in zip(paths, arrays, strict=True):
                param = _target(model, path)
                if param[...].shape != w.shape:
                    raise ValueError(f"{path}: shape {w.shape} does not fit "
                                     f"{param[...].shape}")
                param[...] = jnp.asarray(w, dtype)
                filled.add(path)
        except Exception as e:
            errors.append(f"{name} -> {', '.join(paths)}: {type(e).__name__}: {e}")
    missing = sorted(param_paths(model) - filled)
    if missing:
        errors.append(f"{len(missing)} parameter(s) with no tensor: {missing[:6]}"
                      + (" …" if len(missing) > 6 else ""))
    if errors:
        raise ModelFileError(f"{source}: {len(errors)} conversion error(s):\n  "
                             + "\n  ".join(errors))
    return model
