"""Checkpoint tensors → decoder parameters through a table of name-mapping rules.

A :class:`Rule` maps checkpoint names matching ``pattern`` to module paths (``"{0}"`` is the first
regex group) after a transform (transpose, split, unpermute, …). Loading never stops at the first
problem: unmapped names, shape mismatches, failed conversions and parameters no tensor filled are
collected and raised together in one :class:`ModelFileError`.

:func:`build` loads lean: the module is built abstractly (``nnx.eval_shape``: shapes and dtypes,
no random initialisation), each tensor is read only when its turn comes, converted on the host
in its stored dtype (bfloat16 stays bfloat16 when the model is bfloat16), cast once and put on
its device(s) at once — sharded over a 1-D mesh when one is given. Peak host memory is the
parameters plus about two copies of the largest tensor.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

MESH_AXIS = "model"


class ModelFileError(ValueError):
    """A model file or folder that cannot be used, with every reason."""


class Rule(NamedTuple):
    """One name-mapping rule: checkpoint tensors matching ``pattern`` go to ``targets``."""

    pattern: str                                   # regex over checkpoint tensor names
    targets: tuple                                 # module paths; () drops the tensor
    transform: Callable = lambda w: (w,)           # array -> one array per target


def transpose(w):
    """A ``(out, in)`` checkpoint matrix as an ``(in, out)`` kernel."""
    return (w.T,)


def identity(w):
    """The tensor unchanged."""
    return (w,)


def split(n: int, axis: int):
    """Fused projections (GPT-2's ``c_attn``): ``n`` equal parts along ``axis``."""
    return lambda w: tuple(np.split(w, n, axis=axis))


def shard_spec(shape: tuple, n: int, axis_name: str = MESH_AXIS) -> PartitionSpec:
    """How a parameter is laid out over a 1-D mesh of ``n`` devices: a matrix is split along
    its last axis that ``n`` divides (the output features of a kernel, the width of an
    embedding), else its first; vectors and indivisible matrices are replicated."""
    if len(shape) >= 2 and n > 1:
        for axis in (len(shape) - 1, 0):
            if shape[axis] % n == 0:
                spec = [None] * len(shape)
                spec[axis] = axis_name
                return PartitionSpec(*spec)
    return PartitionSpec()


def local_mesh(devices=None) -> Mesh:
    """A 1-D mesh (axis ``"model"``, automatic sharding) over ``devices`` (all local ones)."""
    devices = np.asarray(jax.local_devices() if devices is None else devices)
    return Mesh(devices.reshape(-1), (MESH_AXIS,), axis_types=(AxisType.Auto,))


def _placer(mesh: Mesh | None):
    """``host array -> jax.Array`` on the default device, or laid out over ``mesh``."""
    if mesh is None:
        return lambda w: jax.device_put(w)
    if mesh.devices.ndim != 1:
        raise ValueError(f"loading shards over a 1-D mesh; got axes {mesh.axis_names}")
    axis = mesh.axis_names[0]
    # automatic axes: the decoder's plain einsums are then partitioned by the compiler
    mesh = Mesh(mesh.devices, (axis,), axis_types=(AxisType.Auto,))
    n = mesh.devices.size

    return lambda w: jax.device_put(w, NamedSharding(mesh, shard_spec(w.shape, n, axis)))


def build(make: Callable[[], nnx.Module], tensors: Iterable[tuple[str, Callable[[], np.ndarray]]],
          rules, source, dtype=jnp.float32, mesh: Mesh | None = None):
    """The module ``make()`` builds, with every parameter read from ``(name, load)`` pairs.

    ``make`` runs only abstractly; ``load()`` is called once per tensor, in order, and its array
    dropped as soon as it is on the device. Every problem is collected and raised at once.
    """
    graphdef, state = nnx.split(nnx.eval_shape(make))
    slots = {".".join(str(p) for p in path): var for path, var in nnx.to_flat_state(state)}
    target = np.dtype(dtype)
    place = _placer(mesh)
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
            arrays = rule.transform(np.asarray(load()))
            for path, w in zip(paths, arrays, strict=True):
                if path not in slots:
                    raise ValueError(f"{path}: the model has no such parameter")
                slot = slots[path].get_value()
                if tuple(slot.shape) != w.shape:
                    raise ValueError(f"{path}: shape {w.shape} does not fit {tuple(slot.shape)}")
                slots[path].set_value(place(w.astype(target, copy=False)))
                filled.add(path)
            del arrays
        except Exception as e:
            errors.append(f"{name} -> {', '.join(paths)}: {type(e).__name__}: {e}")
    missing = sorted(set(slots) - filled)
    if missing:
        errors.append(f"{len(missing)} parameter(s) with no tensor: {missing[:6]}"
                      + (" …" if len(missing) > 6 else ""))
    if errors:
        raise ModelFileError(f"{source}: {len(errors)} conversion error(s):\n  "
                             + "\n  ".join(errors))
    return nnx.merge(graphdef, state)
