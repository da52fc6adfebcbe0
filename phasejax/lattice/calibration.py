"""How often each finite-size method names a transition: false positives and power.

A ``T_c`` stands only beside the rate at which the method says "transition" for systems that
have none, and the rate at which it finds one that is there. This module makes the data sets
and counts the decisions of :func:`phasejax.analysis.scaling.scaling_analysis` and of the
bridge (:func:`decide_bridge`: the power-law chain fitted at every temperature, placed on its
family's phase diagram; null data are the same Markov chains, power data the open power-law
chain of :func:`open_chain_datasets`):

* **No transition** (:func:`markov_dataset`): exact autoregressive Markov chains — the text a
  language model would write if each token depended on the previous one only. Token ``b``
  follows ``a`` with probability ``∝ exp((J δ(a, b) + h_b)/T)``, from a fixed start state, like
  a language model sampled at temperature ``T`` from its first token. Over a temperature grid
  the correlation length ``ξ(T) = −1/ln λ₂(T)`` runs from ``≪ N`` to ``≫ N``; a chain with
  finite-range couplings has no transition at ``T > 0``, so every ``T_c`` named is a false
  positive. The data set mirrors the text-criticality presets: the same sizes (prefixes of the
  same sequences), sequences per temperature and bootstrap.
* **A transition** (:func:`long_range_datasets`, :func:`ising2d_datasets`,
  :func:`curie_weiss_datasets`): the long-range Potts chain with periodic images
  (:mod:`toy_models.long_range_chain`; ``q = 2``, ``σ = 1/2``) and the 2D Ising model, sampled
  with Swendsen–Wang at the same number of configurations per point (a pool of ``n_datasets``
  measurements of ``n_samples`` replicas is simulated once per size; data set ``d`` is
  measurement ``d`` of every replica, ``thin`` cluster sweeps apart); and the Curie–Weiss
  model (mean field, ``T_c = 1``), whose magnetisation is drawn exactly from its distribution
  ``P(M) ∝ C(N, (N+M)/2) e^{M²/(2NT)}`` — independent samples at any size, cheaply.

:func:`decide` runs every method on one data set; :func:`rates` turns many decisions into the
fraction that named a transition and, where the truth is known, the coverage of the ``1σ`` and
``2σ`` intervals. ``benchmarks/bench_criticality_rates.py`` prints the whole table.
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Sequence

import jax
import numpy as np

from phasejax.analysis import scaling
from phasejax.analysis.decisions import SizeCurves
from phasejax.analysis.sequences import moment_bootstrap, prefix_statistics, sequence_statistics
from phasejax.analysis.stats import numpy_rng

NAN = float("nan")
OBSERVABLES = ("binder_connected", "binder", "susceptibility", "tau", "xi_over_N")


class MarkovChain(NamedTuple):
    """An autoregressive chain: ``P(b | a) ∝ exp((J δ(a, b) + h_b)/T)``."""

    J: float
    h: tuple          # (q,) field on each state
    start: int = 0    # the state before the first site

    @property
    def q(self) -> int:
        return len(self.h)

    def transition(self, T: float) -> np.ndarray:
        """``(q, q)`` matrix ``P[a, b]``."""
        logits = (self.J * np.eye(self.q) + np.asarray(self.h, float)[None, :]) / T
        P = np.exp(logits - logits.max(1, keepdims=True))
        return P / P.sum(1, keepdims=True)

    def exact_moments(self, T: float, N: int) -> dict:
        """Exact ``U₄``, ``U₄ᶜ``, ``χ``, ``τ`` and ``⟨|m|⟩`` of ``N`` sites after the start, for
        ``q = 2`` (``m = 2 m_1 − 1``), by dynamic programming over the count of state 1."""
        if self.q != 2:
            raise ValueError("exact moments are implemented for q = 2")
        P = self.transition(T)
        D = np.zeros((2, N + 1))
        D[self.start, 0] = 1.0
        for _ in range(N):
            new = np.zeros_like(D)
            new[0] = D[0] * P[0, 0] + D[1] * P[1, 0]
            new[1, 1:] = D[0, :-1] * P[0, 1] + D[1, :-1] * P[1, 1]
            D = new
        p = D.sum(0)
        m = 2.0 * np.arange(N + 1) / N - 1.0
        mu, am, m2, m4 = p @ m, p @ np.abs(m), p @ m**2, p @ m**4
        c = m - mu
        c2, c4 = p @ c**2, p @ c**4
        return dict(abs_magnetisation=am, m2=m2, m4=m4, binder=1 - m4 / (3 * m2**2),
                    binder_connected=1 - c4 / (3 * c2**2),
                    susceptibility=N * (m2 - am**2) / T, tau=N * c2 / 2.0)

    def correlation_length(self, T: float) -> float:
        """``−1/ln |λ₂|`` of the transition matrix."""
        lam = np.sort(np.abs(np.linalg.eigvals(self.transition(T))))[-2]
        return float(-1.0 / np.log(lam)) if 0 < lam < 1 else (np.inf if lam >= 1 else 0.0)


def markov_sequences(key, chain: MarkovChain, T: float, n: int, N: int) -> np.ndarray:
    """``(n, N)`` states of ``n`` independent sequences of the chain at temperature ``T``."""
    rng = numpy_rng(key)
    cdf = np.cumsum(chain.transition(T), axis=1)
    cdf[:, -1] = 1.0
    y = np.empty((n, N), np.int64)
    s = np.full(n, chain.start, np.int64)
    u = rng.random((N, n))
    for t in range(N):
        s = (u[t][:, None] >= cdf[s]).sum(1)
        y[:, t] = s
    return y


def markov_dataset(key, chain: MarkovChain, temperatures, sizes, *, n_sequences: int,
                   n_boot: int = 100) -> dict:
    """``{observable: SizeCurves}`` of one data set of the chain: at every temperature
    ``n_sequences`` sequences of the largest size, every size a prefix (as for generated text),
    measured with :func:`~phasejax.analysis.sequences.prefix_statistics`."""
    sizes = sorted(int(N) for N in sizes)
    stats = []
    for i, T in enumerate(temperatures):
        k = jax.random.fold_in(key, i)
        y = markov_sequences(jax.random.fold_in(k, 0), chain, float(T), n_sequences, sizes[-1])
        stats += prefix_statistics(jax.random.fold_in(k, 1), y, sizes, q=chain.q, T=float(T),
                                   n_boot=n_boot)
    return {o: scaling.curves_from_statistics(stats, o) for o in OBSERVABLES}


# ----------------------------------------------------------------------------- with a transition
def _pool(key, model, temperatures, *, n_datasets, n_samples, thin, n_therm, states,
          start="random"):
    from phasejax.lattice import samplers
    from phasejax.lattice.driver import simulate

    return simulate(key, model, samplers.make("swendsen_wang"), np.asarray(temperatures),
                    n_replicas=n_samples, n_therm=n_therm, n_measure=n_datasets, thin=thin,
                    site_histograms=False, record_states=states, start=start)


def long_range_datasets(key, temperatures, sizes, *, n_datasets: int, n_samples: int,
                        sigma: float = 0.5, J: float = 1.0, thin: int = 3, n_therm: int = 200,
                        n_boot: int = 100) -> list[dict]:
    """``n_datasets`` data sets of the ``q = 2`` long-range chain with images on rings of odd
    ``sizes`` (``R = (L − 1)/2``), ``n_samples`` configurations per point, measured as periodic
    sequences (every observable, ``ξ/N`` included)."""
    import toy_models

    per_size = {}
    for L in sorted(int(x) for x in sizes):
        model = toy_models.make("long_range_chain", L=L, q=2, J=J, sigma=sigma, images=True)
        tr = _pool(jax.random.fold_in(key, L), model, temperatures, n_datasets=n_datasets,
                   n_samples=n_samples, thin=thin, n_therm=n_therm, states=True)
        per_size[L] = tr.states                                  # (n_T, n_R, n_S, L)
    out = []
    for d in range(n_datasets):
        stats = []
        for L, st in per_size.items():
            for i, T in enumerate(temperatures):
                stats.append(sequence_statistics(
                    jax.random.fold_in(key, 100_000 + 1000 * d + 10 * i + L % 10),
                    st[i, :, d].astype(np.int64), q=2, T=float(T), periodic=True,
                    n_boot=n_boot))
        out.append({o: scaling.curves_from_statistics(stats, o) for o in OBSERVABLES})
    return out


def ising2d_datasets(key, temperatures, sizes, *, n_datasets: int, n_samples: int,
                     thin: int = 4, n_therm: int = 200, n_boot: int = 100) -> list[dict]:
    """``n_datasets`` data sets of the 2D Ising model (``N = L²``): the moments of ``m`` per
    configuration (``U₄ᶜ``, ``χ``; no ``τ`` or ``ξ/N``), ``n_samples`` per point."""
    import toy_models

    T = np.asarray(temperatures, float)
    Ls = sorted(int(x) for x in sizes)
    m = {}
    for L in Ls:
        tr = _pool(jax.random.fold_in(key, L), toy_models.make("ising", L=L, dim=2), T,
                   n_datasets=n_datasets, n_samples=n_samples, thin=thin, n_therm=n_therm,
                   states=False)
        c = tr.counts.astype(np.float64)                         # (n_T, n_R, n_S, 2)
        m[L] = (c[..., 1] - c[..., 0]) / (L * L)
    return _moment_datasets(key, T, {L * L: m[L] for L in Ls}, n_datasets, n_boot)


def _moment_datasets(key, T, m: dict, n_datasets: int, n_boot: int) -> list[dict]:
    """Data sets of ``U₄ᶜ``, ``U₄`` and ``χ`` from samples of the order parameter, ``m[N]``
    of shape ``(n_T, n_R, n_datasets)`` (data set ``d``: the ``n_R`` samples ``[:, :, d]``),
    with bootstrap replicates (sizes sampled independently)."""
    sizes = sorted(m)
    names = ("binder_connected", "binder", "susceptibility")
    out = []
    for d in range(n_datasets):
        vals = {o: np.full((T.size, len(sizes)), NAN) for o in names}
        reps = {o: np.full((T.size, n_boot, len(sizes)), NAN) for o in names}
        for j, N in enumerate(sizes):
            for i, t in enumerate(T):
                v, r = moment_bootstrap(jax.random.fold_in(key, 100_000 * d + 1000 * i + j),
                                        m[N][i, :, d], N=N, T=float(t), n_boot=n_boot)
                for o in names:
                    vals[o][i, j], reps[o][i, :, j] = v[o], r[o]
        out.append({o: SizeCurves(T, np.asarray(sizes), vals[o],
                                  np.nanstd(reps[o], axis=1, ddof=1), reps[o]) for o in names})
    return out


def curie_weiss_m(rng, N: int, T: float, size) -> np.ndarray:
    """Exact independent draws of ``m = M/N`` of the Curie–Weiss model ``H = −M²/(2N)`` of
    ``N`` spins at temperature ``T``: ``P(M) ∝ C(N, (N+M)/2) e^{M²/(2NT)}``."""
    from scipy.special import gammaln

    k = np.arange(N + 1)
    M = 2.0 * k - N
    lw = gammaln(N + 1) - gammaln(k + 1) - gammaln(N - k + 1) + M * M / (2.0 * N * float(T))
    p = np.exp(lw - lw.max())
    return M[rng.choice(N + 1, size=size, p=p / p.sum())] / N


def curie_weiss_datasets(key, temperatures, sizes, *, n_datasets: int, n_samples: int,
                         n_boot: int = 100) -> list[dict]:
    """``n_datasets`` data sets of the Curie–Weiss Ising model ``H = −M²/(2N)`` (``T_c = 1``):
    ``n_samples`` exact, independent draws of ``m = M/N`` per ``(N, T)``, measured as
    ``U₄ᶜ`` and ``χ``."""
    rng = numpy_rng(key)
    T = np.asarray(temperatures, float)
    sizes = sorted(int(N) for N in sizes)
    m = {N: np.stack([curie_weiss_m(rng, N, t, (n_datasets, n_samples)) for t in T])
         for N in sizes}
    return _moment_datasets(key, T, {N: m[N].transpose(0, 2, 1) for N in sizes}, n_datasets,
                            n_boot)


# ----------------------------------------------------------------------------- the bridge
def open_chain_datasets(key, temperatures, N: int, *, n_datasets: int, n_samples: int,
                        K: float = 1.0, sigma: float = 0.5, q: int = 2, thin: int = 3,
                        n_therm: int = 200) -> list[list[np.ndarray]]:
    """``n_datasets`` data sets of the open power-law chain ``K r^{-(1+σ)}`` over every
    distance ``r < N`` (zero field, every site started on state 0): per temperature an
    ``(n_samples, N)`` array of states, sampled like text (an open chain of ``N`` sites) with
    Swendsen–Wang (:func:`toy_models.long_range_chain.open_chain`). Data set ``d`` is
    measurement ``d`` of every replica, ``thin`` sweeps apart."""
    from phasejax.lattice.model import power_law
    from toy_models.long_range_chain import open_chain, open_sites, open_start

    model = open_chain(N, q, power_law(np.arange(1, N, dtype=np.float64), K, sigma))
    tr = _pool(key, model, np.asarray(temperatures, float), n_datasets=n_datasets,
               n_samples=n_samples, thin=thin, n_therm=n_therm, states=True,
               start=open_start(N, q))
    per_T = open_sites(tr.states, N).astype(np.int64)                # (n_T, n_R, n_S, N)
    return [[st[:, d] for st in per_T] for d in range(n_datasets)]


def decide_bridge(key, sequences, temperatures, *, q: int, n_bootstrap: int = 8) -> dict:
    """``{"bridge": (T×, error)}``: the power-law chain fitted at every temperature to
    ``sequences`` (one ``(n, N)`` array per temperature, as generated text) and the temperature
    where it passes its family's critical coupling (:mod:`phasejax.fit.bridge`; ``nan``:
    none)."""
    from phasejax.fit import bridge as B

    fits = B.fit_temperatures(key, sequences, q=q, n_bootstrap=n_bootstrap)
    points = B.bridge(temperatures, fits, q=q, N=int(np.shape(sequences[0])[1]))
    t, err, _ = B.critical_temperature(points)
    return {"bridge": (t, err)}


# ----------------------------------------------------------------------------- sequence tasks
def _rows_from_order_parameter(key, m: dict, temperatures, n_boot: int) -> list[dict]:
    """Rows as the probe writes them for a sequence task (``prompt="all"``): the moments of
    the per-sequence order parameter ``m[(N, i)]`` (temperature ``i``) with bootstrap errors
    (:func:`~phasejax.analysis.sequences.moment_rows`)."""
    from phasejax.analysis.sequences import moment_rows

    return [r for (N, i), x in sorted(m.items())
            for r in moment_rows(jax.random.fold_in(key, 1000 * N + i), x, N=N,
                                 T=float(temperatures[i]), n_boot=n_boot)]


def sequence_task_rows(key, chain: MarkovChain, temperatures, sizes, *, n_sequences: int,
                       n_boot: int = 100) -> list[dict]:
    """One data set of a sequence task answered by the chain: at every length ``N`` and
    temperature ``n_sequences`` sequences sampled anew (the probe asks for each length
    separately, so sizes are independent, unlike text's prefixes), read with the Potts order
    parameter as the probe reads parsed items."""
    from phasejax.analysis.sequences import potts_m

    m = {}
    for N in sorted(int(x) for x in sizes):
        for i, t in enumerate(temperatures):
            y = markov_sequences(jax.random.fold_in(key, 1000 * N + i), chain, float(t),
                                 n_sequences, N)
            m[(N, i)] = potts_m(y, q=chain.q)
    return _rows_from_order_parameter(jax.random.fold_in(key, 1), m, temperatures, n_boot)


def curie_weiss_sequence_rows(key, temperatures, sizes, *, n_sequences: int,
                              n_boot: int = 100) -> list[dict]:
    """One data set of the Curie–Weiss model (``T_c = 1``) as a sequence task: ``n_sequences``
    exact draws of ``|m|`` (the ``q = 2`` Potts order parameter) per size and temperature."""
    rng = numpy_rng(key)
    m = {(N, i): np.abs(curie_weiss_m(rng, N, t, n_sequences))
         for N in sorted(int(x) for x in sizes) for i, t in enumerate(temperatures)}
    return _rows_from_order_parameter(jax.random.fold_in(key, 1), m, temperatures, n_boot)


def decide_sequence_task(key, rows: Sequence[dict]) -> dict:
    """``{method: (T_c, error)}`` of the sequence-task path's decisions
    (:func:`phasejax.fit.sequence.decisions`) on one data set of rows (``nan``: none)."""
    from phasejax.fit.sequence import SEQUENCE_METHODS, decisions

    out = {m: (NAN, NAN) for m in SEQUENCE_METHODS}
    for r in decisions(key, rows)["estimates"]:
        if r["quantity"] == "T_c" and r["method"] in out:
            out[r["method"]] = (r["value"], r["error"])
    return out


# ----------------------------------------------------------------------------- decisions
def decide(key, curves: dict, *, binder: str = "binder_connected", n_boot: int = 200,
           collapse_boot: int = 20) -> dict:
    """``{method: (T_c, error)}`` of every transition method on one data set (``nan``: none).

    ``binder``: the cumulant the crossings read — the connected ``U₄ᶜ`` for chains with a
    field or a fixed start (as for text), the plain ``U₄`` for systems symmetric under
    ``m → −m``, where ``U₄ᶜ`` equals it in expectation but its finite sample is spoiled by
    the random split of samples between the two signs of an ordered phase.
    """
    res = scaling.scaling_analysis(key, curves, binder=binder, n_boot=n_boot,
                                   collapse_boot=collapse_boot)
    out = {m: (NAN, NAN) for m in scaling.TRANSITION_METHODS}
    for r in res["estimates"]:
        if r["quantity"] == "T_c" and r["method"] in out:
            out[r["method"]] = (r["value"], r["error"])
    return out


def rates(decisions: Sequence[dict], truth: float | None = None,
          truth_err: float = 0.0) -> dict:
    """Per method: ``named`` (fraction of data sets with a ``T_c``), and with ``truth`` the
    fraction of named ``T_c`` whose ``1σ`` / ``2σ`` interval covers it and the mean error.
    The methods are those of the decisions (:func:`decide`, :func:`decide_bridge`).

    A reference known only to ``± truth_err`` (a simulated ``T_c``) is compared with
    ``|T_c − truth| ≤ k √(σ² + truth_err²)`` (``cover_1sigma``, ``cover_2sigma``); the bare
    ``k σ`` rates are then also given (``cover_1sigma_bare``, ``cover_2sigma_bare``)."""
    out = {}
    n = len(decisions)
    for m in (decisions[0] if n else scaling.TRANSITION_METHODS):
        got = np.array([d[m] for d in decisions], float).reshape(n, 2)
        named = np.isfinite(got[:, 0])
        row = dict(n=n, named=float(named.mean()) if n else NAN, n_named=int(named.sum()))
        if truth is not None and named.any():
            tc, err = got[named, 0], got[named, 1]
            dev = np.abs(tc - truth)
            both = np.hypot(err, truth_err)
            row.update(cover_1sigma=float(np.mean(dev <= both)),
                       cover_2sigma=float(np.mean(dev <= 2 * both)),
                       mean_T_c=float(np.mean(tc)), mean_error=float(np.nanmean(err)))
            if truth_err > 0:
                row.update(cover_1sigma_bare=float(np.mean(dev <= err)),
                           cover_2sigma_bare=float(np.mean(dev <= 2 * err)))
        out[m] = row
    return out


# ----------------------------------------------------------------------------- stored rates
RATES_TABLE = "criticality_rates.csv"
RATES_COLUMNS = ("system", "kind", "n", "sizes", "method", "refits", "datasets", "named",
                 "cover_1sigma", "cover_2sigma", "cover_1sigma_bare", "cover_2sigma_bare",
                 "mean_T_c", "mean_error", "truth_err", "command")
# the text presets' temperature grids (conf/criticality/cpu.yaml, gpu.yaml)
PRESET_GRIDS = dict(cpu=(0.4, 0.6, 0.8, 0.9, 1.0, 1.1, 1.3, 1.6),
                    gpu=(0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.3, 1.6))
# the system whose power is quoted beside each method's decision on text, ``(system, sizes,
# refits, grid)``: a chain with a transition seen as a run on that preset grid sees it, for the
# finite-size methods the ring with images on the preset's own grid (a grid centred on T_c,
# which a run on text cannot choose, overstates the power: such a reference, grid None, is
# quoted with that caveat and never makes a "none" resolved); for the bridge the open chain of
# text's boundaries at the presets' 8 refits, measured on a grid centred on T_c only
POWER_REFERENCE = {**{m: (("long_range σ=0.5, cpu preset grid", "21 41 81 161", "", "cpu"),
                          ("long_range σ=0.5, gpu preset grid", "21 41 81 161", "", "gpu"))
                      for m in scaling.TRANSITION_METHODS},
                   "bridge": (("open long_range σ=0.5", "160", "8", None),)}
RESOLVED_POWER = 0.9      # below this power a "none" is "not resolved", not "no transition"
NOMINAL_1SIGMA = 0.6827   # the coverage of a ±1σ Gaussian interval
# the sequence-task path of the main job (:mod:`phasejax.fit.sequence`): answers of the probe's
# default lengths and temperatures (phasejax.probe.measure.ProbeSettings), its null systems of
# kind "null_sequence", and a mean-field transition at T = 1 seen on that grid as its power
SEQUENCE_GRID = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
SEQUENCE_SIZES = (4, 8)
SEQUENCE_POWER_REFERENCE = (("curie_weiss, sequence task", "4 8", "", "sequence"),)


class MeasuredRates(NamedTuple):
    """What ``docs/criticality_rates.md`` measured for one method at (about) the statistics of
    a run: the level is the largest sequence count per temperature measured at or below the
    run's (the smallest measured when the run has fewer: ``below`` is then true, and the power
    is an upper bound of the run's)."""

    method: str
    n: int                          # the run's sequences per temperature
    level: int                      # the measured level the rates are from
    below: bool                     # the run has fewer sequences than any measured level
    false_positives: int            # data sets without a transition on the grid that named one
    null_sets: int                  # … of these, pooled over the systems
    null_systems: int               # … and rows of the table
    false_positive_upper: float     # one-sided 95 % upper bound of the rate (Clopper–Pearson)
    power: float                    # fraction of the reference system's data sets found
    power_sets: int
    power_system: str
    null_sizes: str                 # the sizes of those rows, ";" between rows
    grid_matched: bool = False      # the power was measured on the run's own preset grid
    cover_1sigma: float = NAN       # of the reference's data sets that named a T_c, the
    cover_2sigma: float = NAN       # fractions whose ±1σ, ±2σ intervals held its truth
    covered_sets: int = 0           # … out of this many

    @property
    def _coverage_measured(self) -> bool:
        return self.covered_sets > 0 and np.isfinite(self.cover_1sigma)

    def under_covers(self) -> bool:
        """Whether the ±1σ intervals covered the reference's truth significantly less often
        than the nominal 68.3 % (one-sided binomial test at level 5 % on
        :attr:`covered_sets`): the method's error is then a lower bound of its error."""
        from scipy.stats import binom

        if not self._coverage_measured:
            return False
        k = int(round(self.cover_1sigma * self.covered_sets))
        return float(binom.cdf(k, self.covered_sets, NOMINAL_1SIGMA)) < 0.05

    def coverage(self) -> str:
        """One line on how often the method's intervals held the reference's truth (empty
        where not measured)."""
        if not self._coverage_measured:
            return ""
        line = (f"its ±1σ interval held the reference's T_c in {self.cover_1sigma:.0%} of the "
                f"{self.covered_sets} data sets that named one (nominal 68 %), ±2σ in "
                f"{self.cover_2sigma:.0%} (nominal 95 %)")
        if self.under_covers():
            line += ": significantly below nominal, so the error is a lower bound"
        return line

    @property
    def false_positive_rate(self) -> float:
        return self.false_positives / self.null_sets if self.null_sets else NAN

    @property
    def resolved(self) -> bool:
        """Whether a "none" at this statistics says "no transition" rather than "not
        resolved": the power measured on the run's own preset grid is at least
        :data:`RESOLVED_POWER` at the run's sequence count."""
        return self.grid_matched and not self.below and self.power >= RESOLVED_POWER

    def unresolved(self) -> str:
        """Why a "none" at this statistics is not "no transition" (for a run not
        :attr:`resolved`)."""
        power = (f"is {self.power:.0%}" if np.isfinite(self.power) else "was not measured")
        power += "" if self.grid_matched or not np.isfinite(self.power) else " (on another grid)"
        power += f" at n = {self.level}" + (f", more than this run's {self.n}" if self.below
                                            else "")
        return (f"not resolved at this statistics: the method's power {power}, so 'none' is "
                f"not 'no transition'")

    def note(self) -> str:
        """One line for a decision's reason."""
        at = (f"at n = {self.level} sequences per temperature (this run has {self.n}, fewer "
              f"than any level measured)" if self.below else f"at n = {self.level}")
        sizes = " and ".join(x.replace(" ", "/") for x in self.null_sizes.split(";") if x)
        fp = (f"{self.false_positives} of {self.null_sets} data sets with no transition on the "
              f"grid named one (N = {sizes}; rate ≤ {self.false_positive_upper:.1%} at 95 %)")
        pw = (f"{self.power_system}: found in {self.power:.0%} of {self.power_sets} data sets"
              + ("" if self.grid_matched else " on a grid centred on its T_c, not this run's")
              if np.isfinite(self.power) else "power not measured on this run's grid")
        return f"measured {at}: {fp}; {pw}"


@functools.lru_cache(maxsize=1)
def stored_rates() -> tuple:
    """Rows of the shipped table of measured rates (``phasejax/lattice/data``), written by
    ``benchmarks/bench_criticality_rates.py --table``."""
    from importlib import resources

    from phasejax import io

    with resources.as_file(resources.files("phasejax.lattice").joinpath("data", RATES_TABLE)) \
            as path:
        return tuple(io.read_table(path))


def _at_level(rows, n: int) -> tuple[int, bool]:
    levels = sorted({int(r["n"]) for r in rows})
    fit = [x for x in levels if x <= n]
    return (fit[-1], False) if fit else (levels[0], True)


def preset_grid(temperatures) -> str | None:
    """The name of the preset grid (:data:`PRESET_GRIDS`) that ``temperatures`` are, or None."""
    T = tuple(sorted(round(float(t), 6) for t in temperatures))
    return next((k for k, g in PRESET_GRIDS.items() if T == tuple(sorted(g))), None)


def sequence_grid(temperatures, sizes) -> str | None:
    """``"sequence"`` when ``temperatures`` and ``sizes`` are the sequence-task path's
    measured grid (:data:`SEQUENCE_GRID`, :data:`SEQUENCE_SIZES`), else None."""
    T = tuple(sorted(round(float(t), 6) for t in temperatures))
    same = T == SEQUENCE_GRID and tuple(sorted(int(N) for N in sizes)) == SEQUENCE_SIZES
    return "sequence" if same else None


def measured_rates(method: str, n: int, temperatures=(), rows=None, *, path: str = "text",
                   sizes=()) -> MeasuredRates | None:
    """The stored false-positive rate (every system without a transition on the grid, at one
    level, pooled) and power (on the preset grid that ``temperatures`` are) of ``method`` for
    a run with ``n`` sequences per temperature; ``None`` for a method without stored rates.

    ``path``: ``"text"`` (free generation read as a lattice: null rows of kind ``"null"``,
    power from :data:`POWER_REFERENCE`) or ``"sequence"`` (answers of a sequence task, sizes
    sampled independently and read with the plain ``U₄``: null rows of kind
    ``"null_sequence"``, power from :data:`SEQUENCE_POWER_REFERENCE` where ``temperatures``
    and ``sizes`` are its grid)."""
    from scipy.stats import beta

    if path not in ("text", "sequence"):
        raise ValueError(f"path must be 'text' or 'sequence', not {path!r}")
    rows = stored_rates() if rows is None else rows
    kind = "null" if path == "text" else "null_sequence"
    null = [r for r in rows if r["method"] == method and r["kind"] == kind]
    if not null:
        return None
    level, below = _at_level(null, n)
    null = [r for r in null if int(r["n"]) == level]
    sets = sum(int(r["datasets"]) for r in null)
    fp = int(round(sum(float(r["named"]) * int(r["datasets"]) for r in null)))
    upper = float(beta.ppf(0.95, fp + 1, sets - fp)) if fp < sets else 1.0
    if path == "text":
        grid, references = preset_grid(temperatures), POWER_REFERENCE.get(method, ())
    else:
        grid, references = sequence_grid(temperatures, sizes), SEQUENCE_POWER_REFERENCE
    power, power_sets, name, matched = NAN, 0, "", False
    cover, covered = (NAN, NAN), 0
    for system, sizes_, refits, g in references:                       # at the same level only
        if g is not None and g != grid:
            continue
        at = [r for r in rows if r["method"] == method and r["system"] == system
              and str(r["sizes"]) == sizes_ and str(r["refits"]) == refits
              and int(r["n"]) == level]
        if at:
            power, power_sets = float(at[0]["named"]), int(at[0]["datasets"])
            name, matched = f"{system} ({sizes_.replace(' ', '/')})", g is not None
            covered = int(round(power * power_sets))
            cover = tuple(_number(at[0].get(c)) for c in ("cover_1sigma", "cover_2sigma"))
            break
    null_sizes = ";".join(dict.fromkeys(str(r["sizes"]) for r in null))
    return MeasuredRates(method, int(n), level, below, fp, sets, len(null), upper, power,
                         power_sets, name, null_sizes, matched, *cover, covered)


def _number(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return NAN


# the columns :func:`annotate` adds to a decision's row
RATE_COLUMNS = ("rates_n", "fp_rate", "fp_upper95", "power", "cover_1sigma", "cover_2sigma",
                "rates")


def annotate(row: dict, n: int, temperatures, *, path: str = "text", sizes=(),
             rows=None) -> dict:
    """``row`` (a decision with ``method`` and ``value``, made on ``n`` sequences per
    temperature on ``temperatures``) with its method's measured false-positive rate, power and
    coverage at that statistics (:func:`measured_rates`, ``docs/criticality_rates.md``, or
    ``rows`` of such a table): ``rates_n``, ``fp_rate``, ``fp_upper95``, ``power``,
    ``cover_1sigma``, ``cover_2sigma``, ``rates``. A "none" that the power does not resolve
    (below :data:`RESOLVED_POWER` on the run's own grid, or not measured there) says "not
    resolved" in its ``reason``; a named ``T_c`` says there how often the method's intervals
    held the reference's truth, and whether that is significantly below nominal. A method
    without stored rates is returned unchanged."""
    r = measured_rates(row["method"], n, temperatures, rows, path=path, sizes=sizes)
    if r is None:
        return row
    row = dict(row, rates_n=r.level, fp_rate=r.false_positive_rate,
               fp_upper95=r.false_positive_upper, power=r.power, cover_1sigma=r.cover_1sigma,
               cover_2sigma=r.cover_2sigma, rates=r.note())
    if not np.isfinite(float(row["value"])):
        if not r.resolved:
            row["reason"] = f"{row['reason']}; {r.unresolved()}"
    elif r.coverage():
        row["reason"] = (f"{row['reason']}; {r.coverage()}" if row.get("reason")
                         else r.coverage())
    return row

