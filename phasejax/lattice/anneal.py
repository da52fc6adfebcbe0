"""Runs along a protocol: temperature, fields and couplings that change with the step.

:func:`anneal` advances ``n_replicas`` chains for ``n_steps`` steps. At step ``t`` the
temperature is ``temperature(t)`` and replica ``r`` sees the model ``model_at(t, r)`` — any
function of the traced step (see :mod:`phasejax.lattice.schedules`), so fields, couplings,
seed fields and reward tilts follow their schedules inside one compiled scan. Observables are
recorded every ``record_every`` steps as time series (one per replica), not as equilibrium
averages. Pinned sites (``frozen``) keep their tokens until ``release``. Batching, sharding,
chunking and progress are the driver core's (:mod:`phasejax.lattice.driver`); this module is
the protocol.
"""

from __future__ import annotations

from typing import Callable, Dict, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from phasejax.checks import check_counts
from phasejax.lattice.driver import ChunkedScan, chain_step, shard_chains, start_chains
from phasejax.lattice.model import EnergyModel
from phasejax.lattice.samplers.base import Sampler


class AnnealTrace(NamedTuple):
    """Time series of one :func:`anneal` run (host numpy arrays)."""

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
           progress: bool = False, shard: bool = True) -> AnnealTrace:
    """Run ``n_replicas`` chains along a protocol and record time series.

    Step ``t`` of replica ``r`` is one sampler step at ``T = temperature(t)`` on
    ``model_at(t, r)``, with key ``split(fold_in(k, t), n_replicas)[r]`` (``k`` from ``key``),
    so the randomness of a step does not depend on how the run is chunked.

    Args:
      key: JAX PRNG key.
      model_at: an :class:`EnergyModel` (fixed) or ``f(step, replica) -> EnergyModel``.
      sampler: a single-system sampler (not tempering).
      temperature: a number or a schedule ``step -> T``.
      n_steps: total steps; a multiple of ``record_every``.
      n_replicas: independent chains.
      record_every: steps between records.
      init: ``None`` (the sampler's random start), ``"ordered"`` (token 0 everywhere) or an
        int array of tokens, shape ``(*lattice.shape)`` or ``(n_replicas, *lattice.shape)``.
      frozen: boolean mask of pinned sites, same shapes as ``init``; needs a pinnable sampler.
      release: step from which pinned sites are free again (``None``: never).
      measure: ``f(model, tokens) -> {name: scalar}`` recorded with the energy and counts.
      progress: print a progress bar (in steps) to stderr.
      shard: spread the replicas over all local devices when their number divides evenly.
    """
    model_at, T_of, model0 = _protocol(sampler, model_at, temperature, n_steps,
                                       record_every=record_every, n_replicas=n_replicas,
                                       frozen=frozen)
    R, shape = n_replicas, model0.shape

    k_init, k_run = jax.random.split(key)
    states = start_chains(k_init, sampler, model0, R, "random" if init is None else init)
    if frozen is not None:
        frozen = jnp.broadcast_to(jnp.asarray(frozen, bool), (R, *shape))
    (states, frozen), _ = shard_chains((states, frozen), R, shard=shard)
    release = n_steps + 1 if release is None else int(release)
    replicas = jnp.arange(R)
    step_all = chain_step(sampler, model_axis=0, temperature_axis=None,
                          pinned=frozen is not None)

    def models_at(t):
        return jax.vmap(lambda r: model_at(t, r))(replicas)

    def advance(carry, t, frozen):
        states, acc = carry
        keys = jax.random.split(jax.random.fold_in(k_run, t), R)
        pins = () if frozen is None else (frozen & (t < release),)
        states, info = step_all(keys, states, models_at(t), T_of(t), *pins)
        # the acceptance is kept, not dropped: besides being an observable, using it steers
        # XLA:CPU to a loop emission that is ~5x faster on small lattices (measured, L = 64)
        return (states, acc + info.acceptance), None

    def observe(states, t):
        models = models_at(t)
        E = jax.vmap(lambda m, s: m.energy(s))(models, states.tokens)
        cnt = jax.vmap(lambda m, s: m.token_counts(s))(models, states.tokens)
        extra = jax.vmap(measure)(models, states.tokens) if measure is not None else {}
        return E, cnt, extra, T_of(t)

    def stretch(states, i, frozen, *, record):   # the record_every steps up to record i
        t0 = i * record_every
        (states, acc), _ = lax.scan(lambda c, t: advance(c, t, frozen),
                                    (states, jnp.zeros(R, jnp.float32)),
                                    t0 + jnp.arange(record_every))
        return states, (*observe(states, t0 + record_every - 1), acc / record_every)

    n_rec = n_steps // record_every
    loop = ChunkedScan(stretch, total=n_rec, progress=progress, unit=record_every)
    states, (E, cnt, extra, T_rec, acc), wall = loop.run(states, n_rec, frozen)
    loop.close()
    steps = np.arange(1, n_rec + 1) * record_every - 1
    return AnnealTrace(steps, T_rec, E.T.astype(np.float64), cnt.transpose(1, 0, 2), acc.T,
                       {k: v.T for k, v in extra.items()}, np.asarray(states.tokens),
                       model0.n_sites, model0.q, wall)


def _protocol(sampler, model_at, temperature, n_steps: int, *, record_every: int,
              n_replicas: int, frozen):
    """Checks of an :func:`anneal` protocol before anything compiles, and its parts as
    functions: ``(model_at(step, replica), T_of(step), the model at step 0)``."""
    if sampler.ensemble:
        raise ValueError("anneal runs single-system samplers; parallel tempering has its own "
                         "temperature ladder")
    check_counts(n_steps=(n_steps, 1), record_every=(record_every, 1),
                 n_replicas=(n_replicas, 1))
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
    return model_at, T_of, model0
