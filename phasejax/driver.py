"""Run chains: thermalise, then measure, batched over temperatures and replicas.

:func:`simulate` owns the ``lax.scan`` over sweeps, the ``vmap`` over chains (one chain per
temperature × replica; for parallel tempering one ladder per replica) and the sharding of the
chain axis over all local devices. Work proceeds in equal chunks of one compiled scan each, so
long runs report progress without recompiling. Every chain's randomness derives from the key
by ``split``/``fold_in`` alone, so the same seed on the same device gives bit-identical traces
whatever the sharding.
"""

from __future__ import annotations

import time
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import NamedSharding, PartitionSpec as P

from phasejax.samplers.base import Sampler


class Trace(NamedTuple):
    """Measured time series of one run (host numpy arrays)."""

    temperatures: np.ndarray      # (n_T,) float
    energy: np.ndarray            # (n_T, n_R, n_S) float64: total energy per sample
    counts: np.ndarray            # (n_T, n_R, n_S, q) int32: sites holding each token
    site_counts: Optional[np.ndarray]  # (n_T, n_R, N, q) int32: per-site token visits, or None
    acceptance: np.ndarray        # (n_T, n_R) float: mean fraction of sites changed per step
    swap_acceptance: Optional[np.ndarray]  # (n_R, n_T - 1) float for tempering, else None
    n_sites: int
    q: int
    wall_time: float              # seconds spent in measured sweeps (after compilation)
    n_devices: int                # devices the chains were sharded over
    states: Optional[np.ndarray] = None  # (n_T, n_R, n_S, N) int8 sampled tokens, or None


def _chunking(n: int, max_chunks: int = 20) -> tuple[int, int]:
    """``(n_chunks, length)`` with ``n_chunks * length == n`` and as many chunks as allowed."""
    for k in range(min(max_chunks, n), 0, -1):
        if n % k == 0:
            return k, n // k
    return 1, n


def _validate(temperatures, n_replicas, n_therm, n_measure, thin):
    T = np.asarray(temperatures, dtype=np.float64).reshape(-1)
    if T.size == 0:
        raise ValueError("no temperatures given")
    if not np.all(np.isfinite(T)) or np.any(T <= 0):
        raise ValueError(f"every temperature must be finite and > 0; got {T.tolist()}")
    for name, v, lo in (("n_replicas", n_replicas, 1), ("n_therm", n_therm, 0),
                        ("n_measure", n_measure, 1), ("thin", thin, 1)):
        if not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name}={v!r} must be an integer >= {lo}")
    return T


def simulate(key: jax.Array, model, sampler: Sampler, temperatures, *, n_replicas: int = 1,
             n_therm: int = 100, n_measure: int = 1000, thin: int = 1,
             site_histograms: bool = True, progress: bool = False, shard: bool = True,
             start: str = "random", on_chunk=None, record_states: bool = False) -> Trace:
    """Thermalise ``n_therm`` steps, then record ``n_measure`` samples ``thin`` steps apart.

    Args:
      key: JAX PRNG key; the run is a deterministic function of it.
      model: an :class:`~phasejax.model.EnergyModel`.
      sampler: a :class:`~phasejax.samplers.Sampler`; an ensemble sampler (tempering) runs
        the whole temperature ladder in each chain.
      temperatures: 1D array of temperatures.
      n_replicas: independent chains per temperature (per ladder for tempering).
      site_histograms: accumulate per-site token counts (memory ``n_T n_R N q`` int32).
      progress: print a progress bar to stderr.
      shard: spread chains over all local devices when their number divides evenly.
      start: ``"random"`` (hot start: uniform tokens) or ``"ordered"`` (cold start: every site
        token 0). Below a transition a hot start can trap local samplers in long-lived domain
        walls; a cold start avoids that.
      on_chunk: called as ``on_chunk(done, total)`` after every chunk of sweeps.
      record_states: keep every measured configuration (memory ``n_T n_R n_S N`` bytes), for
        statistics that need the configurations themselves (correlation functions).
    """
    T = _validate(temperatures, n_replicas, n_therm, n_measure, thin)
    if start not in ("random", "ordered"):
        raise ValueError(f"start={start!r}; expected 'random' or 'ordered'")
    n_T, q, N = T.size, model.q, model.n_sites
    if sampler.ensemble and n_T < 2:
        raise ValueError("parallel tempering needs at least two temperatures")
    if sampler.cluster:
        model.bond_couplings()  # raises NotPottsLike, naming the couplings, before compiling

    k_init, k_run = jax.random.split(key)
    if sampler.ensemble:
        n_chains = n_replicas
        T_chain = jnp.asarray(np.broadcast_to(T, (n_chains, n_T)), jnp.float32)
        step_one = lambda k, s, m, t: sampler.step(k, s, m, t)
        tokens_of = lambda state: state.tokens                # (n_T, *shape)
    else:
        n_chains = n_T * n_replicas
        T_chain = jnp.asarray(np.repeat(T, n_replicas), jnp.float32)
        step_one = sampler.step
        tokens_of = lambda state: state.tokens[None]          # (1, *shape)
    states = jax.vmap(sampler.init, in_axes=(0, None))(jax.random.split(k_init, n_chains), model)
    if start == "ordered":
        states = states._replace(tokens=jnp.zeros_like(states.tokens))

    n_dev = jax.local_device_count()
    used_devices = 1
    if shard and n_dev > 1 and n_chains % n_dev == 0:
        used_devices = n_dev
        mesh = jax.make_mesh((n_dev,), ("chains",), axis_types=(jax.sharding.AxisType.Auto,))
        spec = NamedSharding(mesh, P("chains"))
        states = jax.device_put(states, spec)
        T_chain = jax.device_put(T_chain, spec)

    step_all = jax.vmap(step_one, in_axes=(0, 0, None, 0))

    def measure(state):
        tok = jax.vmap(tokens_of)(state)                       # (C, n_slots, *shape)
        flat = tok.reshape(tok.shape[0], tok.shape[1], -1)
        E = jax.vmap(jax.vmap(model.energy))(tok)
        cnt = jax.vmap(jax.vmap(model.token_counts))(tok)
        return flat, E, cnt

    def run_chunk(key, states, acc, site, model, T_chain, *, length, record):
        def one(carry, k):
            states, acc, site = carry
            for j in range(thin):
                states, info = step_all(jax.random.split(jax.random.fold_in(k, j), n_chains),
                                        states, model, T_chain)
                acc = acc + info.acceptance
            if not record:
                return (states, acc, site), None
            flat, E, cnt = measure(states)
            if site is not None:
                site = site + jax.nn.one_hot(flat, q, dtype=jnp.int32)
            return (states, acc, site), (E, cnt, flat.astype(jnp.int8) if record_states
                                         else None)

        keys = jax.random.split(key, length)
        return lax.scan(one, (states, acc, site), keys)

    slots = n_T if sampler.ensemble else 1
    acc = jnp.zeros((n_chains, slots) if sampler.ensemble else (n_chains,), jnp.float32)
    site = jnp.zeros((n_chains, slots, N, q), jnp.int32) if site_histograms else None

    compiled = {}

    def chunk_fn(length, record):
        if (length, record) not in compiled:
            compiled[(length, record)] = jax.jit(
                lambda *a: run_chunk(*a, length=length, record=record))
        return compiled[(length, record)]

    bar = _Progress(n_therm + n_measure, enabled=progress, on_update=on_chunk)
    chunk_index = 0
    if n_therm:
        k_chunks, length = _chunking(n_therm)
        for _ in range(k_chunks):
            kc = jax.random.fold_in(k_run, chunk_index)
            (states, acc, site), _ = chunk_fn(length, False)(kc, states, acc, site, model, T_chain)
            chunk_index += 1
            jax.block_until_ready(states)
            bar.update(length)
    acc = jnp.zeros_like(acc)
    k_chunks, length = _chunking(n_measure)
    energies, counts, configs = [], [], []
    t0 = None
    for c in range(k_chunks):
        kc = jax.random.fold_in(k_run, chunk_index)
        fn = chunk_fn(length, True)
        (states, acc, site), (E, cnt, conf) = fn(kc, states, acc, site, model, T_chain)
        chunk_index += 1
        energies.append(np.asarray(E))
        counts.append(np.asarray(cnt))
        if record_states:
            configs.append(np.asarray(conf))
        if t0 is None:  # the first measured chunk pays compilation
            t0, first = time.perf_counter(), length
        bar.update(length)
    bar.close()
    wall = time.perf_counter() - t0
    measured_steps = n_measure - first
    wall = wall * n_measure / measured_steps if measured_steps else float("nan")

    E = np.concatenate(energies, 0).astype(np.float64)       # (S, C, slots)
    cnt = np.concatenate(counts, 0)                           # (S, C, slots, q)
    acc = np.asarray(acc) / (n_measure * thin)
    site_np = None if site is None else np.asarray(site)
    conf = np.concatenate(configs, 0) if record_states else None   # (S, C, slots, N)
    if sampler.ensemble:
        E = E.transpose(2, 1, 0)                              # (n_T, R, S)
        cnt = cnt.transpose(2, 1, 0, 3)
        acc = acc.T
        if site_np is not None:
            site_np = site_np.transpose(1, 0, 2, 3)
        sa = np.asarray(states.swaps_accepted) / np.maximum(np.asarray(states.swaps_attempted), 1)
        if conf is not None:
            conf = conf.transpose(2, 1, 0, 3)
    else:
        E = E[:, :, 0].T.reshape(n_T, n_replicas, -1)
        cnt = cnt[:, :, 0].transpose(1, 0, 2).reshape(n_T, n_replicas, -1, q)
        acc = acc.reshape(n_T, n_replicas)
        if site_np is not None:
            site_np = site_np[:, 0].reshape(n_T, n_replicas, N, q)
        if conf is not None:
            conf = conf[:, :, 0].transpose(1, 0, 2).reshape(n_T, n_replicas, -1, N)
        sa = None
    return Trace(T, E, cnt, site_np, acc, sa, N, q, wall, used_devices, conf)


class _Progress:
    """Sweep progress through ``tqdm`` on stderr; ``on_update(done, total)`` is called either way.

    ``disable=None`` turns the bar off when stderr is not a terminal (log files, Slurm logs),
    so no ``\\r`` frames end up in them.
    """

    def __init__(self, total: int, enabled: bool, on_update=None):
        from tqdm import tqdm

        self.total, self.done, self.on_update = total, 0, on_update
        self.bar = tqdm(total=total, unit="sweep", leave=False, dynamic_ncols=True,
                        disable=None if enabled else True)

    def update(self, n: int):
        self.done += n
        if self.on_update is not None:
            self.on_update(self.done, self.total)
        self.bar.update(n)

    def close(self):
        self.bar.close()
