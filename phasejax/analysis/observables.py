"""Thermodynamic observables of a run, each with an error bar and ``τ_int``.

Per sample, from the total energy ``E`` and the token counts ``n_k`` of ``N`` sites:

* energy per site ``e = E/N``;
* order parameter ``m = (q max_k n_k / N - 1) / (q - 1)`` (Potts; for ``q = 2`` this is
  ``|σ̄|``) and, for ``q = 2``, the signed magnetisation ``σ̄ = (n_1 - n_0)/N``;
* moments ``<|m|>``, ``<m²>``, ``<m⁴>``;
* specific heat per site ``C = N (<e²> - <e>²) / T²``;
* susceptibility ``χ = N (<m²> - <|m|>²) / T``;
* Binder cumulant ``U₄ = 1 - <m⁴> / (3 <m²>²)``;
* token fractions ``<n_k>/N`` and the per-site token entropy ``mean_i H(p_i)`` where ``p_i`` is
  site ``i``'s token histogram over the run (error from the spread over replicas).

Rows come out tidy: one per temperature × observable.
"""

from __future__ import annotations

import numpy as np

from phasejax.analysis import distributions as D
from phasejax.analysis import stats


def order_parameter(counts: np.ndarray, n_sites: int) -> np.ndarray:
    """Potts order parameter ``m = (q max_k n_k/N − 1)/(q − 1)`` from token counts (last axis
    ``q``) of ``N = n_sites`` sites (:func:`phasejax.analysis.distributions.order_from_mode`)."""
    return D.order_from_mode(counts.max(-1), counts.shape[-1], n_sites)


def site_entropy(site_counts: np.ndarray) -> np.ndarray:
    """Mean over sites of the entropy (nats) of each site's token histogram; last two axes ``(N, q)``."""
    p = site_counts / np.maximum(site_counts.sum(-1, keepdims=True), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(-1)
    return h.mean(-1)


def summarise(trace, warn: bool = True) -> list[dict]:
    """Tidy rows ``{T, observable, mean, stderr, tau_int, n_samples}`` for every temperature of
    a run's :class:`~phasejax.lattice.driver.Trace` (read through its fields only: the analysis
    does not depend on the lattice package)."""
    rows = []
    N, q = trace.n_sites, trace.q
    for i, T in enumerate(trace.temperatures):
        e = trace.energy[i] / N                                   # (R, S)
        m = order_parameter(trace.counts[i], N)
        label = f"T={T:.5g}"

        def add(name, mean, err, tau, n=e.size):
            rows.append(dict(T=float(T), observable=name, mean=float(mean), stderr=float(err),
                             tau_int=float(tau), n_samples=int(n)))

        for name, x in (("energy", e), ("abs_magnetisation", m), ("m2", m**2), ("m4", m**4)):
            est = stats.estimate_mean(x, f"{label} {name}", warn=warn)
            add(name, est.mean, est.stderr, est.tau_int)
        if q == 2:
            sig = (trace.counts[i][..., 1] - trace.counts[i][..., 0]) / N
            est = stats.estimate_mean(sig, warn=False)
            add("magnetisation", est.mean, est.stderr, est.tau_int)
        tau_e, tau_m = stats.tau_int(e), stats.tau_int(m)
        add("specific_heat", *stats.estimate_function(
            [e, e**2], lambda a, b: N * (b - a * a) / T**2, tau_e), tau_e)
        add("susceptibility", *stats.estimate_function(
            [m, m**2], lambda a, b: D.susceptibility(b, a, N=N, T=T), tau_m), tau_m)
        add("binder", *stats.estimate_function([m**2, m**4], D.binder, tau_m), tau_m)
        for k in range(q):
            est = stats.estimate_mean(trace.counts[i][..., k] / N, warn=False)
            add(f"token_fraction_{k}", est.mean, est.stderr, est.tau_int)
        if trace.site_counts is not None:
            h = site_entropy(trace.site_counts[i])               # (R,)
            err = h.std(ddof=1) / np.sqrt(h.size) if h.size > 1 else np.nan
            add("site_entropy", h.mean(), err, np.nan)
        acc = trace.acceptance[i]
        add("acceptance", np.mean(acc), np.nan, np.nan)
        if trace.swap_acceptance is not None and i < trace.temperatures.size - 1:
            add("swap_acceptance", trace.swap_acceptance[:, i].mean(), np.nan, np.nan)
    return rows
