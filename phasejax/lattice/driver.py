"""Run chains: one core that batches, shards and chunks, and two front-ends on it.

The core owns what every run of the lattice samplers needs:

* :func:`start_chains` — the initial states of ``n`` chains (random, ordered or given tokens);
* :func:`chain_step` — the sampler's ``step`` ``vmap``-ed over chains (one chain per
  temperature × replica; for parallel tempering one ladder per replica; along a protocol one
  per replica);
* :func:`shard_chains` — the chain axis spread over all local devices;
* :class:`ChunkedScan` — the ``lax.scan`` over steps, run as equal chunks of one compiled scan
  each, so long runs report progress without recompiling, and timed after compilation;
* :func:`check_counts`, :func:`check_temperatures`, :func:`check_simulation` — argument checks
  before anything compiles.

Front-ends: :func:`simulate` (here: thermalise, then measure at fixed temperatures) and
:func:`phasejax.lattice.anneal.anneal` (temperature and model follow a protocol). Every chain's
randomness derives from the key by ``split``/``fold_in`` alone, so the same seed on the same
device gives bit-identical traces whatever the sharding.
"""

from __future__ import annotations

import time
from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import NamedSharding, PartitionSpec as P

from phasejax.checks import check_counts, check_temperatures  # noqa: F401  (re-exported)
from phasejax.lattice.model import TOKEN_DTYPE
from phasejax.lattice.samplers.base import Sampler


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


# ----------------------------------------------------------------------------- the core
def check_simulation(model, sampler: Sampler, temperatures, *, n_replicas: int = 1,
                     n_therm: int = 0, n_measure: int = 1, thin: int = 1,
                     start="random") -> np.ndarray:
    """Every argument check of :func:`simulate`, without compiling or sampling anything.

    Returns the temperatures as :func:`check_temperatures` does. Raises ``ValueError`` naming
    the value: counts, ``start``, a tempering ladder of fewer than two temperatures, or a
    cluster sampler on couplings that are not ferromagnetic Potts
    (:class:`~phasejax.lattice.model.NotPottsLike`).
    """
    T = check_temperatures(temperatures)
    check_counts(n_replicas=(n_replicas, 1), n_therm=(n_therm, 0), n_measure=(n_measure, 1),
                 thin=(thin, 1))
    if isinstance(start, str) and start not in ("random", "ordered"):
        raise ValueError(f"start={start!r}; expected 'random', 'ordered' or an array of tokens")
    if sampler.ensemble and T.size < 2:
        raise ValueError("parallel tempering needs at least two temperatures")
    if sampler.cluster:
        model.bond_couplings()  # raises NotPottsLike, naming the couplings
    return T


def start_chains(key: jax.Array, sampler: Sampler, model, n_chains: int, start="random"):
    """Initial states of ``n_chains`` chains, batched on a leading axis.

    Args:
      key: PRNG key of the sampler's own (random) start, split once per chain.
      sampler: the sampler whose ``init`` builds the state.
      model: the model the chains start on.
      n_chains: number of chains.
      start: ``"random"`` (hot start: the sampler's uniform tokens), ``"ordered"`` (cold start:
        token 0 on every site) or an int array of tokens, shape ``model.shape`` (every chain)
        or ``(n_chains, *model.shape)`` (single-system samplers only).
    """
    states = jax.vmap(sampler.init, in_axes=(0, None))(jax.random.split(key, n_chains), model)
    if isinstance(start, str):
        if start == "random":
            return states
        if start == "ordered":
            return states._replace(tokens=jnp.zeros_like(states.tokens))
        raise ValueError(f"start={start!r}; expected 'random', 'ordered' or an array of tokens")
    if sampler.ensemble:
        raise ValueError("an ensemble sampler starts 'random' or 'ordered', not from given tokens")
    tok = jnp.asarray(start, TOKEN_DTYPE)
    shape = tuple(model.shape)
    if tok.shape not in (shape, (n_chains, *shape)):
        raise ValueError(f"init tokens have shape {tok.shape}; expected {shape} or "
                         f"{(n_chains, *shape)}")
    return states._replace(tokens=jnp.broadcast_to(tok, (n_chains, *shape)))


def chain_step(sampler: Sampler, *, model_axis: Optional[int] = None,
               temperature_axis: Optional[int] = 0, pinned: bool = False) -> Callable:
    """``sampler.step`` ``vmap``-ed over chains.

    The result is ``step(keys, states, model, temperature[, frozen]) -> (states, info)`` with
    one key, state (and frozen mask) per chain; ``model_axis`` / ``temperature_axis`` are ``0``
    when the model / temperature carry a chain axis and ``None`` when every chain shares one.
    """
    axes = (0, 0, model_axis, temperature_axis) + ((0,) if pinned else ())
    return jax.vmap(sampler.step, in_axes=axes)


def shard_chains(tree, n_chains: int, *, shard: bool = True):
    """``(tree, n_devices)``: ``tree`` (leading axis: chains) spread over the local devices.

    Sharding happens only when ``shard`` is set, there are several devices and they divide
    ``n_chains``; otherwise the tree is returned as is with ``n_devices = 1``. Results do not
    depend on it: every random number comes from a key that is a function of the chain index.
    """
    n_dev = jax.local_device_count()
    if not (shard and n_dev > 1 and n_chains % n_dev == 0):
        return tree, 1
    mesh = jax.make_mesh((n_dev,), ("chains",), axis_types=(jax.sharding.AxisType.Auto,))
    return jax.device_put(tree, NamedSharding(mesh, P("chains"))), n_dev


def _chunking(n: int, max_chunks: int = 20) -> tuple[int, int]:
    """``(n_chunks, length)`` with ``n_chunks * length == n`` and as many chunks as allowed."""
    for k in range(min(max_chunks, n), 0, -1):
        if n % k == 0:
            return k, n // k
    return 1, n


class ChunkedScan:
    """``lax.scan`` of ``item`` over many items, run as equal chunks of one compiled scan each.

    ``item(carry, x, *args, record=bool) -> (carry, out)`` advances every chain by one item
    (one or more sampler steps) and, when ``record``, returns what to keep (``None`` when not).
    The scan input ``x`` of the ``i``-th item of chunk ``c`` is, with a ``key``, the item's key
    ``split(fold_in(key, c), length)[i]`` and, without one, the item's index (int32, counted
    from the first :meth:`run`). Chunks are numbered across runs, so phases (thermalise, then
    measure) draw distinct randomness from one key. One compilation per ``(length, record)``.

    Args:
      item: the scan body, see above.
      total: items over all runs (the length of the progress bar, in items).
      key: PRNG key the per-item keys derive from, or ``None`` for item indices.
      progress: show a ``tqdm`` bar on stderr (only on a terminal).
      on_update: called as ``on_update(done, total)`` after every chunk, in progress units.
      unit: progress units per item (e.g. sampler steps per recorded item).
      max_chunks: most chunks per run.
    """

    def __init__(self, item: Callable, *, total: int, key: Optional[jax.Array] = None,
                 progress: bool = False, on_update: Optional[Callable] = None, unit: int = 1,
                 max_chunks: int = 20):
        self.item, self.key, self.unit, self.max_chunks = item, key, unit, max_chunks
        self.chunks = 0   # chunks run so far
        self.items = 0    # items run so far
        self._bar = _Progress(total * unit, enabled=progress, on_update=on_update)
        self._compiled = {}

    def _chunk_fn(self, length: int, record: bool):
        if (length, record) not in self._compiled:
            keyed = self.key is not None

            def chunk(carry, c, first, key, *args):
                xs = (jax.random.split(jax.random.fold_in(key, c), length) if keyed
                      else first + jnp.arange(length, dtype=jnp.int32))
                return lax.scan(lambda cr, x: self.item(cr, x, *args, record=record), carry, xs)

            self._compiled[(length, record)] = jax.jit(chunk)
        return self._compiled[(length, record)]

    def run(self, carry, n: int, *args, record: bool = True):
        """Advance ``carry`` by ``n`` items in equal chunks.

        Returns ``(carry, out, wall)``: ``out`` the recorded outputs as host arrays stacked on
        a leading item axis (``None`` without ``record``); ``wall`` the seconds after the first
        (compiling) chunk, scaled to all ``n`` items (``nan`` with a single chunk).
        """
        k, length = _chunking(n, self.max_chunks)
        fn = self._chunk_fn(length, record)
        outs, t0 = [], None
        for _ in range(k):
            carry, out = fn(carry, jnp.int32(self.chunks), jnp.int32(self.items), self.key,
                            *args)
            self.chunks += 1
            self.items += length
            if record:
                outs.append(jax.tree.map(np.asarray, out))
            else:
                jax.block_until_ready(carry)
            if t0 is None:  # the first chunk pays compilation
                t0 = time.perf_counter()
            self._bar.update(length * self.unit)
        wall = (time.perf_counter() - t0) * n / (n - length) if k > 1 else float("nan")
        out = jax.tree.map(lambda *a: np.concatenate(a, 0), *outs) if record else None
        return carry, out, wall

    def close(self) -> None:
        """Close the progress bar."""
        self._bar.close()


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


# ----------------------------------------------------------------------------- equilibrium
def simulate(key: jax.Array, model, sampler: Sampler, temperatures, *, n_replicas: int = 1,
             n_therm: int = 100, n_measure: int = 1000, thin: int = 1,
             site_histograms: bool = True, progress: bool = False, shard: bool = True,
             start: str = "random", on_chunk=None, record_states: bool = False) -> Trace:
    """Thermalise ``n_therm`` sweeps, then record ``n_measure`` samples, ``thin`` steps each.

    A sweep here is ``thin`` sampler steps, in thermalisation as in measurement.

    Args:
      key: JAX PRNG key; the run is a deterministic function of it.
      model: an :class:`~phasejax.lattice.model.EnergyModel`.
      sampler: a :class:`~phasejax.lattice.samplers.Sampler`; an ensemble sampler (tempering) runs
        the whole temperature ladder in each chain.
      temperatures: 1D array of temperatures.
      n_replicas: independent chains per temperature (per ladder for tempering).
      n_therm: thermalisation sweeps (not recorded).
      n_measure: recorded samples.
      thin: sampler steps per sweep.
      site_histograms: accumulate per-site token counts (memory ``n_T n_R N q`` int32).
      progress: print a progress bar to stderr.
      shard: spread chains over all local devices when their number divides evenly.
      start: ``"random"`` (hot start: uniform tokens), ``"ordered"`` (cold start: every site
        token 0) or an int array of tokens (``model.shape``, every chain). Below a transition a
        hot start can trap local samplers in long-lived domain walls; a cold start avoids that.
      on_chunk: called as ``on_chunk(done, total)`` after every chunk of sweeps.
      record_states: keep every measured configuration (memory ``n_T n_R n_S N`` bytes), for
        statistics that need the configurations themselves (correlation functions).
    """
    T = check_simulation(model, sampler, temperatures, n_replicas=n_replicas, n_therm=n_therm,
                         n_measure=n_measure, thin=thin, start=start)
    n_T, q, N = T.size, model.q, model.n_sites

    k_init, k_run = jax.random.split(key)
    if sampler.ensemble:
        n_chains = n_replicas
        T_chain = jnp.asarray(np.broadcast_to(T, (n_chains, n_T)), jnp.float32)
        tokens_of = lambda state: state.tokens                # (n_T, *shape)
    else:
        n_chains = n_T * n_replicas
        T_chain = jnp.asarray(np.repeat(T, n_replicas), jnp.float32)
        tokens_of = lambda state: state.tokens[None]          # (1, *shape)
    states = start_chains(k_init, sampler, model, n_chains, start)
    (states, T_chain), used_devices = shard_chains((states, T_chain), n_chains, shard=shard)
    step_all = chain_step(sampler, model_axis=None, temperature_axis=0)

    def measure(state):
        tok = jax.vmap(tokens_of)(state)                       # (C, n_slots, *shape)
        flat = tok.reshape(tok.shape[0], tok.shape[1], -1)
        E = jax.vmap(jax.vmap(model.energy))(tok)
        cnt = jax.vmap(jax.vmap(model.token_counts))(tok)
        return flat, E, cnt

    # thin steps in one call where the sampler packs its state (the multispin kernel)
    many = (jax.vmap(sampler.sweeps, in_axes=(0, 0, None, 0, None))
            if thin > 1 and sampler.sweeps is not None and not sampler.ensemble else None)

    def sweep(carry, k, model, T_chain, *, record):
        states, acc, site = carry
        if many is not None:
            states, info = many(jax.random.split(k, n_chains), states, model, T_chain, thin)
            acc = acc + info.acceptance
        for j in range(thin if many is None else 0):
            states, info = step_all(jax.random.split(jax.random.fold_in(k, j), n_chains),
                                    states, model, T_chain)
            acc = acc + info.acceptance
        if not record:
            return (states, acc, site), None
        flat, E, cnt = measure(states)
        if site is not None:
            site = site + jax.nn.one_hot(flat, q, dtype=jnp.int32)
        return (states, acc, site), (E, cnt, flat.astype(jnp.int8) if record_states else None)

    slots = n_T if sampler.ensemble else 1
    acc = jnp.zeros((n_chains, slots) if sampler.ensemble else (n_chains,), jnp.float32)
    site = jnp.zeros((n_chains, slots, N, q), jnp.int32) if site_histograms else None

    loop = ChunkedScan(sweep, total=n_therm + n_measure, key=k_run, progress=progress,
                       on_update=on_chunk)
    if n_therm:
        (states, acc, site), _, _ = loop.run((states, acc, site), n_therm, model, T_chain,
                                             record=False)
    acc = jnp.zeros_like(acc)
    (states, acc, site), (E, cnt, conf), wall = loop.run((states, acc, site), n_measure, model,
                                                         T_chain, record=True)
    loop.close()

    return _trace(sampler, states, T, n_replicas, E, cnt, np.asarray(acc) / (n_measure * thin),
                  site, conf, N, q, wall, used_devices)


def _trace(sampler, states, T, n_replicas, E, cnt, acc, site, conf, N, q, wall,
           used_devices) -> Trace:
    """The scanned records ``(S, C, slots, …)`` reordered to the :class:`Trace` layout
    ``(n_T, n_R, S, …)``: one chain per temperature × replica, or one ladder per replica."""
    E = E.astype(np.float64)                                  # (S, C, slots)
    site_np = None if site is None else np.asarray(site)
    n_T = T.size
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
