"""Histogram reweighting: observables at any temperature between the simulated ones.

Multiple histogram (Ferrenberg & Swendsen 1989): runs ``k = 1..K`` at inverse temperatures
``β_k`` with ``n_k`` samples of energy ``E`` estimate the density of states

.. math:: g(E) = \\frac{c(E)}{\\sum_j n_j e^{-β_j E + f_j}}, \\qquad
          e^{-f_k} = \\sum_E g(E) e^{-β_k E},

where ``c(E)`` counts ``E`` over all runs; the ``f_k`` are found by iterating the two
equations to a fixed point. Any observable ``O`` then has
``<O>_β = Σ_E g(E) e^{-βE} Ō(E) / Σ_E g(E) e^{-βE}`` with ``Ō(E)`` its mean over the samples
of energy ``E``. With one run this is single-histogram reweighting.

Samples carry weights, so the jackknife (drop one time block from every run) and the
bootstrap (resample blocks) re-solve the same equations; errors of every curve come from
there. Reweighting never extrapolates: a temperature outside the simulated range, neighbouring
runs whose energy histograms barely overlap, or a single-histogram target with too few
effective samples raise :class:`InsufficientOverlap`.
"""

from __future__ import annotations

import warnings
from typing import Dict, Optional

import numpy as np
from scipy.special import logsumexp

MIN_OVERLAP = 0.02      # minimal overlap Σ min(p_k, p_k+1) of neighbouring energy histograms
MIN_KISH_FRACTION = 0.01  # single histogram: effective samples / samples at the target
MIN_KISH_SAMPLES = 20     # ... and at least this many effective samples


class InsufficientOverlap(ValueError):
    """The data cannot support reweighting to the requested temperature."""


def histogram_overlap(e1: np.ndarray, e2: np.ndarray, bins: int = 40) -> float:
    """``Σ_b min(p1_b, p2_b)`` of two samples' histograms on common bins (1 = identical)."""
    lo, hi = min(e1.min(), e2.min()), max(e1.max(), e2.max())
    if hi <= lo:
        return 1.0
    edges = np.linspace(lo, hi, bins + 1)
    p1 = np.histogram(e1, edges)[0] / e1.size
    p2 = np.histogram(e2, edges)[0] / e2.size
    return float(np.minimum(p1, p2).sum())


class NotConverged(RuntimeWarning):
    """The multiple-histogram equations stopped at their iteration cap before converging."""


class Reweighter:
    """Multiple-histogram reweighting of one system size from runs at several temperatures.

    Args:
      T: ``(K,)`` simulated temperatures.
      energy: ``(K, R, S)`` total energies (``R`` replicas, ``S`` samples each).
      observables: name → ``(K, R, S)`` per-sample values to reweight (e.g. ``m``, ``m2``).
      n_blocks: time blocks per replica for the jackknife/bootstrap.
      check_overlap: raise :class:`InsufficientOverlap` if neighbouring runs barely overlap.
    """

    def __init__(self, T, energy, observables: Dict[str, np.ndarray], n_blocks: int = 16,
                 check_overlap: bool = True):
        T = np.asarray(T, np.float64)
        order = np.argsort(T)
        self.T = T[order]
        self.beta = 1.0 / self.T
        E = np.asarray(energy, np.float64)[order]
        K, R, S = E.shape
        if K != self.T.size:
            raise ValueError(f"energy has {K} runs but {self.T.size} temperatures")
        self.shape = (K, R, S)
        self.n_blocks = max(2, min(n_blocks, S))
        if check_overlap:
            for k in range(K - 1):
                ov = histogram_overlap(E[k].ravel(), E[k + 1].ravel())
                if ov < MIN_OVERLAP:
                    raise InsufficientOverlap(
                        f"energy histograms at T={self.T[k]:.5g} and T={self.T[k + 1]:.5g} "
                        f"overlap by {ov:.3f} < {MIN_OVERLAP}: add temperatures in between")
        self.E_unique, inverse = np.unique(E.ravel(), return_inverse=True)
        self._inv = inverse.reshape(K, R, S)
        self._obs = {n: np.asarray(v, np.float64)[order] for n, v in observables.items()}
        self._obs["E"] = E
        self._block = (np.arange(S) * self.n_blocks) // S          # block id of each time
        self._f = np.zeros(K)
        self.solve()

    # ------------------------------------------------------------------ core
    def _sums(self, w):
        """Weighted counts per run and unique energy, and weighted sums of each observable."""
        K, U = self.shape[0], self.E_unique.size
        idx = (np.arange(K)[:, None, None] * U + self._inv).ravel()
        counts = np.bincount(idx, weights=w.ravel(), minlength=K * U).reshape(K, U)
        flat_u = self._inv.ravel()
        sums = {n: np.bincount(flat_u, weights=(w * v).ravel(), minlength=U)
                for n, v in self._obs.items()}
        return counts, sums

    def _wham(self, counts, f0, tol=1e-10, max_iter=20000):
        n = counts.sum(1)
        c = counts.sum(0)
        ok = c > 0
        Eu, logc = self.E_unique[ok], np.log(c[ok])
        logn = np.log(np.maximum(n, 1e-300))
        bE = self.beta[:, None] * Eu[None, :]                     # (K, U)
        f = f0.copy()
        for _ in range(max_iter):
            log_den = logsumexp(logn[:, None] - bE + f[:, None], axis=0)
            f_new = -logsumexp(logc[None, :] - bE - log_den[None, :], axis=1)
            f_new -= f_new[0]
            change = float(np.max(np.abs(f_new - f)))
            f = f_new
            if change < tol:
                break
        else:
            warnings.warn(f"histogram reweighting did not converge in {max_iter} iterations "
                          f"(last change of the free energies {change:.3g} > tol {tol:g}); "
                          "reweighted values may be off", NotConverged, stacklevel=3)
        log_den = logsumexp(logn[:, None] - bE + f[:, None], axis=0)
        log_g = np.full(self.E_unique.size, -np.inf)
        log_g[ok] = logc - log_den
        return f, log_g

    def solve(self, weights: Optional[np.ndarray] = None):
        """(Re)solve for the density of states with per-sample ``weights`` (default 1)."""
        w = np.ones(self.shape) if weights is None else weights
        counts, sums = self._sums(w)
        f, log_g = self._wham(counts, self._f)
        c = counts.sum(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = {k: np.where(c > 0, s / np.maximum(c, 1e-300), 0.0) for k, s in sums.items()}
        state = (log_g, means)
        if weights is None:
            self._f, self._state = f, state
        return state

    # ------------------------------------------------------------ averages
    def _check_range(self, T):
        T = np.atleast_1d(np.asarray(T, np.float64))
        lo, hi = self.T[0], self.T[-1]
        tol = 1e-9 * max(1.0, hi)
        if self.T.size > 1 and (T.min() < lo - tol or T.max() > hi + tol):
            raise InsufficientOverlap(
                f"temperatures {T.min():.5g}..{T.max():.5g} leave the simulated range "
                f"[{lo:.5g}, {hi:.5g}]; reweighting does not extrapolate")
        return T

    def averages(self, T, state=None) -> Dict[str, np.ndarray]:
        """``<O>`` for every stored observable (and ``E``, ``E2``, ``E4``) at temperatures ``T``."""
        T = self._check_range(T)
        log_g, means = state if state is not None else self._state
        logw = log_g[None, :] - self.E_unique[None, :] / T[:, None]
        p = np.exp(logw - logsumexp(logw, axis=1, keepdims=True))
        out = {k: p @ v for k, v in means.items()}
        out["E2"] = p @ (self.E_unique**2)
        out["E4"] = p @ (self.E_unique**4)
        return out

    def energy_distribution(self, T, state=None):
        """``(E values, P(E))`` at one temperature ``T`` (discrete, over observed energies)."""
        T = float(self._check_range(T)[0])
        log_g, _ = state if state is not None else self._state
        logw = log_g - self.E_unique / T
        p = np.exp(logw - logsumexp(logw))
        return self.E_unique, p

    # ------------------------------------------------------------ resampling
    def jackknife_states(self):
        """States with time block ``b`` dropped from every run, ``b = 0..n_blocks-1``."""
        for b in range(self.n_blocks):
            w = np.broadcast_to((self._block != b).astype(float), self.shape).copy()
            yield self.solve(w)

    def replica_bootstrap_states(self, key, n: int):
        """``n`` states with the replicas of each run resampled with replacement: the error
        when replicas differ by more than their own time blocks show (at a first-order
        transition, a replica that rarely tunnels keeps the phase it started in)."""
        from phasejax.analysis.stats import numpy_rng

        rng = numpy_rng(key)
        K, R, _ = self.shape
        for _ in range(n):
            mult = rng.multinomial(R, np.full(R, 1 / R), size=K).astype(float)    # (K, R)
            yield self.solve(np.broadcast_to(mult[:, :, None], self.shape).copy())

    def bootstrap_states(self, key, n: int):
        """``n`` states with blocks of each run and replica resampled with replacement (the
        JAX PRNG ``key`` fixes the draws)."""
        from phasejax.analysis.stats import numpy_rng

        rng = numpy_rng(key)
        K, R, _ = self.shape
        for _ in range(n):
            mult = rng.multinomial(self.n_blocks, np.full(self.n_blocks, 1 / self.n_blocks),
                                   size=(K, R)).astype(float)           # (K, R, B)
            w = np.take_along_axis(mult, np.broadcast_to(self._block, self.shape), axis=2)
            yield self.solve(w)


def single_histogram(T0: float, energy: np.ndarray, values: np.ndarray, T) -> np.ndarray:
    """``<O>`` at temperatures ``T`` from samples at ``T0`` alone (Ferrenberg–Swendsen 1988).

    ``<O>_T = Σ_i O_i e^{-(1/T - 1/T0) E_i} / Σ_i e^{-(1/T - 1/T0) E_i}``. Raises
    :class:`InsufficientOverlap` where the effective sample size ``(Σw)²/Σw²`` falls below
    ``MIN_KISH_FRACTION`` of the samples (or below ``MIN_KISH_SAMPLES``).
    """
    E = np.asarray(energy, np.float64).ravel()
    O = np.asarray(values, np.float64).ravel()
    T = np.atleast_1d(np.asarray(T, np.float64))
    out = np.empty(T.size)
    for i, t in enumerate(T):
        logw = -(1 / t - 1 / T0) * (E - E.mean())
        w = np.exp(logw - logw.max())
        kish = w.sum() ** 2 / (w**2).sum()
        if kish < max(MIN_KISH_FRACTION * E.size, min(MIN_KISH_SAMPLES, E.size / 2)):
            raise InsufficientOverlap(
                f"reweighting from T={T0:.5g} to T={t:.5g} leaves {kish:.0f} effective samples "
                f"of {E.size}: too far from the simulated temperature")
        out[i] = (w @ O) / w.sum()
    return out
