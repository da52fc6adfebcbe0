"""Runs along a protocol: temperature, fields and couplings that change with the step.

:func:`anneal` advances ``n_replicas`` chains for ``n_steps`` steps. At step ``t`` the
temperature is ``temperature(t)`` and replica ``r`` sees the model ``model_at(t, r)`` — any
function of the traced step (see :mod:`phasejax.schedules`), so fields, couplings, seed fields
and reward tilts follow their schedules inside one compiled scan. Observables are recorded
every ``record_every`` steps as time series (one per replica), not as equilibrium averages.
Pinned sites (``frozen``) keep their tokens until ``release``.
"""

from __future__ import annotations

import time
from typing import Callable, Dict, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from phasejax.driver import _chunking, _Progress
from phasejax.model import EnergyModel
from phasejax.samplers.base import LatticeState, Sampler


class AnnealTrace(NamedTuple):
    steps: np.ndarray          # (n_rec,) step after which each record was taken
    temperature: np.ndarray    # (n_rec,) temperature at that step
    energy: np.ndarray         # (R, n_rec) total energy
    counts: np.ndarray         # (R, n_rec, q) sites holding each token
    acceptance: np.ndarray     # (R, n_rec) mean fraction of sites changed per step since the last record
    extra: Dict[str, np.ndarray]  # name -> (R, n_rec) from the measure function
    tokens: np.ndarray         # (R, *shape) final configurations
    n_sites: int
    q: int
    wall_time: float           # seconds after compilation of the first chunk


def anneal(key, model_at, sampler: Sampler, temperature, n_steps: int, *,
           n_replicas: int = 1, record_every: int = 1, init=None, frozen=None,
           release: Optional[int] = None, measure: Optional[Callable] = None,
           progress: bool = False) -> AnnealTrace:
    """Run ``n_replicas`` chains along a protocol and record time series.

    Args:
      key: JAX PRNG key.
      model_at: an :class:`EnergyModel` (fixed) or ``f(step, replica) -> EnergyModel``.
      sampler: a single-system sampler (not tempering).
      temperature: a number or a schedule ``step -> T``.
      n_steps: total steps; a multiple of ``record_every``.
      init: ``None`` (the sampler's random start), ``"ordered"`` (token 0 everywhere) or an
        int array of tokens, shape ``(*lattice.shape)`` or ``(n_replicas, *lattice.shape)``.
      frozen: boolean mask of pinned sites, same shapes as ``init``; needs a pinnable sampler.
      release: step from which pinned sites are free again (``None``: never).
      measure: ``f(model, tokens) -> {name: scalar}`` recorded with the energy and counts.
    """
    if sampler.ensemble:
        raise ValueError("anneal runs single-system samplers; parallel tempering has its own "
                         "temperature ladder")
    for name, v, lo in (("n_steps", n_steps, 1), ("record_every", record_every, 1),
                        ("n_replicas", n_replicas, 1)):
        if not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name}={v!r} must be an integer >= {lo}")
    if n_steps % record_every:
        raise ValueError(f"n_steps={n_steps} must be a multiple of record_every={record_every}")
    if frozen is not None and not sampler.pinnable:
        raise ValueError(f"sampler {sampler.name!r} cannot pin sites; use metropolis or heatbath")
    if isinstance(model_at, EnergyModel):
        fixed = model_at
        model_at = lambda t, r: fixed
    T_of = temperature if callable(temperature) else (lambda t: jnp.float32(temperature))
    model0 = model_at(jnp.int32(0), jnp.int32(0))
    T0 = np.asarray(jax.vmap(T_of)(jnp.arange(0, n_steps, max(1, n_steps // 64))))
    if not np.all(np.isfinite(T0)) or np.any(T0 <= 0):
        raise ValueError(f"the temperature schedule leaves (0, inf): e.g. {T0.min():.4g}")
    R, shape = n_replicas, model0.shape

    k_init, k_run = jax.random.split(key)
    if init is None:
        states = jax.vmap(sampler.init, in_axes=(0, None))(jax.random.split(k_init, R), model0)
    else:
        tok = jnp.zeros(shape, jnp.int8) if isinstance(init, str) and init == "ordered" \
            else jnp.asarray(init, jnp.int8)
        if tok.shape not in (shape, (R, *shape)):
            raise ValueError(f"init tokens have shape {tok.shape}; expected {shape} or "
                             f"{(R, *shape)}")
        states = LatticeState(jnp.broadcast_to(tok, (R, *shape)))
    if frozen is not None:
        frozen = jnp.broadcast_to(jnp.asarray(frozen, bool), (R, *shape))
    release = n_steps + 1 if release is None else int(release)
    replicas = jnp.arange(R)

    def models_at(t):
        return jax.vmap(lambda r: model_at(t, r))(replicas)

    def advance(carry, t):
        states, acc = carry
        T = T_of(t)
        models = models_at(t)
        keys = jax.random.split(jax.random.fold_in(k_run, t), R)
        if frozen is None:
            states, info = jax.vmap(sampler.step, in_axes=(0, 0, 0, None))(
                keys, states, models, T)
        else:
            fr = frozen & (t < release)
            states, info = jax.vmap(sampler.step, in_axes=(0, 0, 0, None, 0))(
                keys, states, models, T, fr)
        # the acceptance is kept, not dropped: besides being an observable, using it steers
        # XLA:CPU to a loop emission that is ~5x faster on small lattices (measured, L = 64)
        return (states, acc + info.acceptance), None

    def record(states, t):
        models = models_at(t)
        E = jax.vmap(lambda m, s: m.energy(s))(models, states.tokens)
        cnt = jax.vmap(lambda m, s: m.token_counts(s))(models, states.tokens)
        extra = jax.vmap(measure)(models, states.tokens) if measure is not None else {}
        return E, cnt, extra, T_of(t)

    def run_chunk(states, first_record, *, length):
        def one(states, i):
            t0 = (first_record + i) * record_every
            (states, acc), _ = lax.scan(advance, (states, jnp.zeros(R, jnp.float32)),
                                        t0 + jnp.arange(record_every))
            return states, (*record(states, t0 + record_every - 1), acc / record_every)
        return lax.scan(one, states, jnp.arange(length))

    n_rec = n_steps // record_every
    k_chunks, length = _chunking(n_rec)
    fn = jax.jit(lambda s, f: run_chunk(s, f, length=length))
    bar = _Progress(n_steps, enabled=progress)
    outs, t_start = [], None
    for c in range(k_chunks):
        states, out = fn(states, jnp.int32(c * length))
        outs.append(jax.tree.map(np.asarray, out))
        if t_start is None:
            t_start = time.perf_counter()
        bar.update(length * record_every)
    bar.close()
    wall = time.perf_counter() - t_start
    wall = wall * k_chunks / (k_chunks - 1) if k_chunks > 1 else float("nan")
    E = np.concatenate([o[0] for o in outs], 0).T
    cnt = np.concatenate([o[1] for o in outs], 0).transpose(1, 0, 2)
    extra = {k: np.concatenate([o[2][k] for o in outs], 0).T for k in outs[0][2]}
    T_rec = np.concatenate([o[3] for o in outs], 0)
    acc = np.concatenate([o[4] for o in outs], 0).T
    steps = np.arange(1, n_rec + 1) * record_every - 1
    return AnnealTrace(steps, T_rec, E.astype(np.float64), cnt, acc, extra,
                       np.asarray(states.tokens), model0.n_sites, model0.q, wall)
