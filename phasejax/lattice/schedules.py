"""Schedules: values of temperature, fields or couplings as functions of the step.

A schedule is a pure function ``step -> value`` that works on traced integers, so a driver
evaluates it inside ``lax.scan`` and one compilation serves the whole protocol (the same
idea as optax's learning-rate schedules). Constructors return such functions; combinators
build protocols from pieces::

    T = piecewise([constant(3.0), linear(3.0, 1.0, 500), constant(1.0)], boundaries=[200, 700])
    T = cycles(linear(2.0, 1.0, 100), period=100)          # reheating cycles

Every schedule is exact at its knots: ``linear(a, b, n)(0) == a`` and ``(n) == b`` and
constant beyond.
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax.numpy as jnp
import numpy as np

Schedule = Callable[[jnp.ndarray], jnp.ndarray]


def _t(step):
    return jnp.asarray(step, jnp.float32)


def constant(value) -> Schedule:
    """``v(t) = value``."""
    v = jnp.asarray(value, jnp.float32)
    return lambda step: v + 0.0 * _t(step)


def linear(start, stop, n_steps: int) -> Schedule:
    """``start → stop`` linearly over ``n_steps`` steps, then ``stop``."""
    _check_steps(n_steps)
    a, b = jnp.float32(start), jnp.float32(stop)

    def f(step):
        x = jnp.clip(_t(step) / n_steps, 0.0, 1.0)
        return jnp.where(x >= 1.0, b, a + (b - a) * x)

    return f


def geometric(start, stop, n_steps: int) -> Schedule:
    """``start · (stop/start)^{t/n}`` over ``n_steps`` steps (same signs, nonzero), then ``stop``."""
    _check_steps(n_steps)
    if start == 0 or stop == 0 or (start > 0) != (stop > 0):
        raise ValueError(f"geometric schedule needs nonzero start and stop of one sign; got "
                         f"{start}, {stop}")
    a, b = jnp.float32(start), jnp.float32(stop)
    r = jnp.float32(np.log(stop / start))

    def f(step):
        x = jnp.clip(_t(step) / n_steps, 0.0, 1.0)
        return jnp.where(x >= 1.0, b, a * jnp.exp(r * x))

    return f


def exponential_quench(start, stop, timescale: float) -> Schedule:
    """``stop + (start - stop) e^{-t/τ}``: a quench relaxing with time constant ``τ``."""
    if not timescale > 0:
        raise ValueError(f"quench timescale={timescale!r} must be > 0")
    a, b = jnp.float32(start), jnp.float32(stop)
    return lambda step: b + (a - b) * jnp.exp(-_t(step) / jnp.float32(timescale))


def piecewise(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    """Schedule ``i`` runs from ``boundaries[i-1]`` (its own step 0) to ``boundaries[i]``."""
    if len(boundaries) != len(schedules) - 1:
        raise ValueError(f"{len(schedules)} schedules need {len(schedules) - 1} boundaries; "
                         f"got {len(boundaries)}")
    if list(boundaries) != sorted(boundaries) or any(b < 0 for b in boundaries):
        raise ValueError(f"boundaries must be increasing and >= 0; got {list(boundaries)}")
    starts = [0, *boundaries]

    def f(step):
        t = jnp.asarray(step)
        out = schedules[0](t)
        for s0, sched in zip(starts[1:], schedules[1:]):
            out = jnp.where(t >= s0, sched(t - s0), out)
        return out

    return f


def cycles(schedule: Schedule, period: int) -> Schedule:
    """Repeat ``schedule`` every ``period`` steps (annealing with reheating)."""
    _check_steps(period)
    return lambda step: schedule(jnp.asarray(step) % period)


def shifted(schedule: Schedule, offset: int) -> Schedule:
    """``schedule`` delayed by ``offset`` steps (its value at 0 before that)."""
    return lambda step: schedule(jnp.maximum(jnp.asarray(step) - offset, 0))


def values(schedule: Schedule, n_steps: int) -> np.ndarray:
    """The schedule at steps ``0 .. n_steps - 1`` as a numpy array."""
    return np.asarray(schedule(jnp.arange(n_steps)))


def _check_steps(n):
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"number of steps {n!r} must be a positive integer")
