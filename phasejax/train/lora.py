"""What a training stage optimises: every parameter, or low-rank adapters (LoRA).

:func:`parametrize` splits a decoder into the *trainable* pytree the optimizer sees and two
ways back to a model (a :class:`Parametrization`):

* ``model(trainable, frozen)`` — the module the forward pass runs (inside ``jit``; ``frozen``,
  the untrained state — the whole base model under LoRA — goes in as an argument: closed over,
  its arrays would be compiled into the program as constants);
* ``to_params(trainable)`` — the full parameter state of the original model, which
  ``nnx.update`` writes into it for checkpoints and at the end.

Full fine-tuning — the trainable tree is the parameters in float32 (a float32 master copy when
the model is bfloat16; ``to_params`` casts back, so the forward runs in the model's dtype while
Adam accumulates in float32).

LoRA — for every kernel ``W`` (``in × out``) whose module name is in ``targets``, a pair ``A``
(``in × r``, Gaussian, scale ``1/√in``) and ``B`` (``r × out``, zeros) in float32. The forward
applies them factored, ``y = x W + (α/r)(x A) B`` (:class:`phasejax.probe.decoder.Linear`), so
the backward pass builds gradients of ``A`` and ``B`` only — merging ``W + (α/r) A B`` at every
step would build an ``in × out`` gradient for every adapted weight. The frozen base stays as
loaded; at ``B = 0`` the adapted model is the base model exactly. ``to_params`` merges
``W' = W + (α/r) A B`` (float32, cast to ``W``'s dtype) for checkpoints, so the probe loads a LoRA
checkpoint like any other.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from phasejax.probe.decoder import LoRAWeight

TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclasses.dataclass(frozen=True)
class LoRA:
    """Low-rank adapters: ``W + (alpha/rank) A B`` on the named projections."""

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


class Parametrization(NamedTuple):
    """A model split into what is trained and what is frozen (:func:`parametrize`)."""

    model: Callable                # (trainable, frozen) -> module for the forward pass
    frozen: Any                    # everything not trained (pass it into jit as an argument)
    trainable: Any                 # the pytree the optimizer updates
    to_params: Callable            # trainable -> full parameter State of the original model


def _names(path) -> list:
    return [k.key for k in path if isinstance(k, jax.tree_util.DictKey)]


def _module(path) -> str:
    names = _names(path)
    return str(names[-2]) if len(names) >= 2 and names[-1] == "kernel" else ""


def parametrize(key, model, lora: LoRA | None = None) -> Parametrization:
    """The trainable tree of ``model`` and its two ways back (see the module docstring).

    Args:
      key: JAX PRNG key for the adapters' random ``A`` factors (``fold_in(key, i)`` for the
        ``i``-th parameter leaf); unused without ``lora``, and ``None`` means ``key(0)``.
      model: the decoder (an ``nnx`` module) whose parameters are trained.
      lora: low-rank adapters to train, or ``None`` to train every parameter.

    Returns:
      A :class:`Parametrization`.
    """
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    if lora is None:
        dtypes = jax.tree.map(lambda w: w.dtype, params)
        to_params = lambda t: jax.tree.map(lambda w, d: w.astype(d), t, dtypes)
        return Parametrization(lambda t, f: nnx.merge(graphdef, to_params(t), f), rest,
                               jax.tree.map(lambda w: w.astype(jnp.float32), params), to_params)
    key = jax.random.key(0) if key is None else key
    # a State from nnx.split shares its Variables with the model, which nnx.update rewrites at
    # every checkpoint: rebuild the tree so that the frozen base stays the base
    params = jax.tree.map(lambda w: w, params)
    adapters, modules = {}, {}
    for i, (path, w) in enumerate(jax.tree_util.tree_flatten_with_path(params)[0]):
        if _module(path) in lora.targets:
            n_in, n_out = w.shape
            a = jax.random.normal(jax.random.fold_in(key, i), (n_in, lora.rank)) / n_in ** 0.5
            name = jax.tree_util.keystr(path)
            adapters[name] = dict(a=a, b=jnp.zeros((lora.rank, n_out)))
            modules[tuple(_names(path)[:-1])] = name
    if not adapters:
        raise ValueError(f"no kernels named {list(lora.targets)} in this model")
    scale = lora.alpha / lora.rank

    # a second module over the same (frozen) arrays, its adapted layers carrying A and B
    adapted = nnx.merge(graphdef, params, rest)
    for path, name in modules.items():
        layer = adapted
        for part in path:
            layer = layer[part] if isinstance(part, int) else getattr(layer, part)
        layer.lora_a = LoRAWeight(adapters[name]["a"])
        layer.lora_b = LoRAWeight(adapters[name]["b"])
        layer.lora_scale = scale
    lora_graph, factors, frozen = nnx.split(adapted, LoRAWeight, ...)
    # which adapter entry fills each leaf of the factor state, in its flattening order
    order = []
    for path, _ in jax.tree_util.tree_flatten_with_path(factors)[0]:
        names = _names(path)
        order.append((modules[tuple(names[:-1])], names[-1][len("lora_"):]))
    factor_def = jax.tree.structure(factors)

    def forward(t, f):
        state = jax.tree.unflatten(factor_def, [t[name][ab] for name, ab in order])
        return nnx.merge(lora_graph, state, f)

    def to_params(t):
        def merge(path, w):
            ab = t.get(jax.tree_util.keystr(path))
            if ab is None:
                return w
            return (w.astype(jnp.float32) + scale * ab["a"] @ ab["b"]).astype(w.dtype)
        return jax.tree_util.tree_map_with_path(merge, params)

    return Parametrization(forward, frozen, adapters, to_params)


def n_trainable(trainable) -> int:
    """Number of trainable scalars in a pytree."""
    return sum(x.size for x in jax.tree.leaves(trainable))


__all__ = ["LoRA", "Parametrization", "TARGETS", "parametrize", "n_trainable"]
