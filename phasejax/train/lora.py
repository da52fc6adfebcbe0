"""What a training stage optimises: every parameter, or low-rank adapters (LoRA).

:func:`parametrize` splits a decoder into its graph, its non-parameter state, the *trainable*
pytree the optimizer sees, and ``to_params(trainable)`` which rebuilds the full parameter
state for a forward pass:

* full fine-tuning — the trainable tree is the parameters in float32 (a float32 master copy
  when the model is bfloat16; ``to_params`` casts back, so the forward runs in the model's
  dtype while Adam accumulates in float32);
* LoRA — for every kernel ``W`` (``in × out``) whose module name is in ``targets``, a pair
  ``A`` (``in × r``, Gaussian, scale ``1/√in``) and ``B`` (``r × out``, zeros) in float32, and
  ``W' = W + (α/r) A B`` computed in float32 and cast to ``W``'s dtype. The base weights stay
  frozen; at ``B = 0`` the adapted model is the base model exactly.

Checkpoints store the trainable tree with the optimizer state and save the *merged* model, so
the probe loads a LoRA checkpoint like any other.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import nnx

TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclasses.dataclass(frozen=True)
class LoRA:
    rank: int = 8
    alpha: float = 16.0
    targets: tuple = ("q_proj", "k_proj", "v_proj", "o_proj")

    def __post_init__(self):
        if self.rank < 1:
            raise ValueError(f"LoRA rank must be >= 1; got {self.rank}")
        unknown = sorted(set(self.targets) - set(TARGETS))
        if unknown or not self.targets:
            raise ValueError(f"LoRA targets {list(self.targets)}: unknown {unknown}; choose "
                             f"from {list(TARGETS)}")


def _module(path) -> str:
    names = [k.key for k in path if isinstance(k, jax.tree_util.DictKey)]
    return str(names[-2]) if len(names) >= 2 and names[-1] == "kernel" else ""


def parametrize(model, lora: LoRA | None = None, key=None):
    """``(graphdef, rest, trainable, to_params)`` for ``model`` (see the module docstring)."""
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    if lora is None:
        dtypes = jax.tree.map(lambda w: w.dtype, params)
        trainable = jax.tree.map(lambda w: w.astype(jnp.float32), params)
        return graphdef, rest, trainable, lambda t: jax.tree.map(
            lambda w, d: w.astype(d), t, dtypes)
    key = jax.random.key(0) if key is None else key
    # a State from nnx.split shares its Variables with the model, which nnx.update rewrites at
    # every checkpoint: rebuild the tree so that the frozen base stays the base
    params = jax.tree.map(lambda w: w, params)
    adapters = {}
    for i, (path, w) in enumerate(jax.tree_util.tree_flatten_with_path(params)[0]):
        if _module(path) in lora.targets:
            n_in, n_out = w.shape
            a = jax.random.normal(jax.random.fold_in(key, i), (n_in, lora.rank)) / n_in ** 0.5
            adapters[jax.tree_util.keystr(path)] = dict(a=a, b=jnp.zeros((lora.rank, n_out)))
    if not adapters:
        raise ValueError(f"no kernels named {list(lora.targets)} in this model")
    scale = lora.alpha / lora.rank

    def to_params(t):
        def merge(path, w):
            ab = t.get(jax.tree_util.keystr(path))
            if ab is None:
                return w
            return (w.astype(jnp.float32) + scale * ab["a"] @ ab["b"]).astype(w.dtype)
        return jax.tree_util.tree_map_with_path(merge, params)

    return graphdef, rest, adapters, to_params


def n_trainable(trainable) -> int:
    return sum(x.size for x in jax.tree.leaves(trainable))


__all__ = ["LoRA", "TARGETS", "parametrize", "n_trainable"]
