"""Types shared by the samplers.

A sampler is an ``init`` / ``step`` pair of pure functions::

    state = sampler.init(key, model)
    state, info = sampler.step(key, state, model, temperature)

``model`` (a pytree of couplings and fields) and ``temperature`` are call arguments, so one
compilation serves a whole sweep or schedule. ``step`` acts on one system; the driver batches.

A sampler is added by one module in this package with a factory decorated by
:func:`register`: :func:`make` discovers the package's modules, and the sweep derives the
sampler's config schema from the factory's signature.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Callable, NamedTuple, Optional

import jax

from phasejax.registry import Registry, import_modules


class LatticeState(NamedTuple):
    """State of a single-system sampler: the configuration."""

    tokens: jax.Array  # (*lattice.shape,) int8, values in [0, q)


class StepInfo(NamedTuple):
    """What a single-system step reports."""

    acceptance: jax.Array  # () float32: fraction of sites changed by the step


class Sampler(NamedTuple):
    """``init(key, model) -> state``; ``step(key, state, model, temperature) -> (state, info)``.

    ``ensemble`` samplers (parallel tempering) hold one configuration per temperature and take
    the whole temperature ladder in ``step``; their state's ``tokens`` has a leading
    temperature axis.
    """

    init: Callable
    step: Callable
    name: str
    ensemble: bool = False
    cluster: bool = False  # needs Potts-like couplings (model.bond_couplings())
    pinnable: bool = False  # step accepts frozen=mask (sites that keep their tokens)
    # sweeps(key, state, model, temperature, n[, frozen]) -> (state, info): n steps in one call,
    # for kernels that pay a conversion per call (the multispin kernel packs and unpacks once);
    # info.acceptance is summed over the n steps. None: drivers loop over step.
    sweeps: Optional[Callable] = None


def init_random(key, model) -> LatticeState:
    """A uniformly random configuration (an infinite-temperature start)."""
    return LatticeState(model.random_tokens(key))


RUNTIME = ("n_temperatures",)   # arguments the driver supplies, not the configuration
# name -> sampler factory; the factory's keyword parameters are the sampler's settings, and a
# parameter named in RUNTIME (the ladder length of an ensemble sampler) is given by whoever
# builds the sampler for a run. Every module of this package is imported on first lookup.
REGISTRY = Registry("sampler", lambda: import_modules([str(Path(__file__).parent)],
                                                      __package__))
register = REGISTRY.register


def available() -> list[str]:
    """Names of every registered sampler (all modules of the package imported)."""
    return REGISTRY.available()


def make(name: str, **kwargs) -> Sampler:
    """The sampler registered as ``name``, built with its factory's keyword arguments.

    Runtime arguments (:data:`RUNTIME`) reach only factories that take them, so one call serves
    every sampler of a sweep.
    """
    factory = REGISTRY.lookup(name)
    params = inspect.signature(factory).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    kwargs = {k: v for k, v in kwargs.items()
              if k not in RUNTIME or k in params or takes_any}
    return factory(**kwargs)
