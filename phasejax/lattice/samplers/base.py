"""Types shared by the samplers.

A sampler is an ``init`` / ``step`` pair of pure functions::

    state = sampler.init(key, model)
    state, info = sampler.step(key, state, model, temperature)

``model`` (a pytree of couplings and fields) and ``temperature`` are call arguments, so one
compilation serves a whole sweep or schedule. ``step`` acts on one system; the driver batches.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax


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


def init_random(key, model) -> LatticeState:
    """A uniformly random configuration (an infinite-temperature start)."""
    return LatticeState(model.random_tokens(key))
