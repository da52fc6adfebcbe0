"""Nucleation: cluster sizes, nucleation times and rates, committors, and classical
nucleation theory (CNT) for the square-lattice Ising model.

CNT for a circular droplet of the stable phase (magnetisation ``+m₀``) of radius ``R`` in the
metastable one, in a field ``h > 0`` with interface tension ``σ``:

.. math:: ΔF(R) = 2πRσ - 2 h m₀ π R², \\qquad R^* = \\frac{σ}{2 h m₀},
          \\qquad ΔF^* = \\frac{π σ²}{2 h m₀},

so the rate per site behaves as ``ln I ≈ a - Ξ/h`` with ``Ξ = π σ²/(2 m₀ T)``. For the square
lattice the axis interface tension is ``σ(T) = 2J + T ln tanh(J/T)`` (Onsager) and ``m₀`` is
Yang's magnetisation; the lattice droplet is not round, so CNT fixes scales within a factor
of order one, not exactly.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from phasejax.analysis.fits import interpolate_crossing
from phasejax.lattice.exact import yang_magnetisation
from phasejax.lattice.samplers.cluster import label_components


def cluster_sizes(model, tokens, token: int) -> jax.Array:
    """Sizes of the connected clusters of ``token`` (indexed by root; 0 elsewhere), ``(N,)``."""
    src, dst, _ = (jnp.asarray(a) for a in model.lattice.edges)
    s = tokens.reshape(-1)
    active = (s[src] == token) & (s[dst] == token)
    labels = label_components(model.n_sites, src, dst, active)
    return jax.ops.segment_sum((s == token).astype(jnp.int32), labels, model.n_sites)


def largest_cluster(model, tokens, token: int) -> jax.Array:
    """Number of sites in the largest connected cluster of ``token``."""
    return jnp.max(cluster_sizes(model, tokens, token))


def first_passage(series: np.ndarray, steps: np.ndarray, threshold: float):
    """First recorded step at which each replica's series reaches ``threshold``.

    Returns ``(times, observed)``; replicas that never reach it get the last step and
    ``observed = False`` (right-censored).
    """
    series = np.atleast_2d(series)
    hit = series >= threshold
    observed = hit.any(1)
    idx = np.where(observed, hit.argmax(1), series.shape[1] - 1)
    return steps[idx].astype(float) + 1.0, observed


class Rate(NamedTuple):
    """A nucleation rate per site per step with its error, from censored first passages."""

    rate: float       # per site per step
    stderr: float
    events: int
    exposure: float   # total replica-steps observed


def nucleation_rate(times, observed, n_sites: int) -> Rate:
    """Maximum-likelihood rate of a Poisson process with right-censoring, per site per step.

    ``I = n_events / (N Σ_r t_r)``; relative error ``1/√n_events``.
    """
    times = np.asarray(times, float)
    n = int(np.sum(observed))
    exposure = float(times.sum())
    rate = n / (n_sites * exposure) if exposure > 0 else float("nan")
    return Rate(rate, rate / np.sqrt(n) if n else float("nan"), n, exposure)


def interface_tension(T, J: float = 1.0):
    """Onsager's axis interface tension of the square-lattice Ising model."""
    T = np.asarray(T, float)
    return 2 * J + T * np.log(np.tanh(J / T))


def cnt_ising_2d(T: float, h: float, J: float = 1.0) -> dict:
    """CNT critical radius, barrier and ``Ξ`` for field ``h`` at temperature ``T < T_c``."""
    sigma = float(interface_tension(T, J))
    m0 = float(yang_magnetisation(T, J))
    if m0 <= 0 or h == 0:
        raise ValueError(f"CNT needs T below T_c and h != 0; got T={T}, h={h}")
    h = abs(h)
    return {"sigma": sigma, "m0": m0, "critical_radius": sigma / (2 * h * m0),
            "barrier": np.pi * sigma**2 / (2 * h * m0), "xi": np.pi * sigma**2 / (2 * m0 * T)}


def crossing(x, y, level: float = 0.5) -> float:
    """First ``x`` where ``y`` (increasing on the whole) crosses ``level``, interpolated."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    above = np.nonzero(y >= level)[0]
    if above.size == 0 or above[0] == 0:
        return float("nan")
    i = above[0]
    return float(interpolate_crossing(x[i - 1], y[i - 1], x[i], y[i], level))


def fit_rate_vs_field(h, rate, rate_err=None) -> dict:
    """Least-squares ``ln I = a - Ξ/|h|``; returns ``a``, ``Ξ`` (with errors) and ``R²``."""
    h, rate = np.abs(np.asarray(h, float)), np.asarray(rate, float)
    ok = rate > 0
    x, y = 1.0 / h[ok], np.log(rate[ok])
    w = None
    if rate_err is not None:
        rel = np.asarray(rate_err, float)[ok] / rate[ok]
        w = 1.0 / np.maximum(rel, 1e-6)
    if x.size < 2:
        nan = float("nan")
        return {"a": nan, "a_err": nan, "xi": nan, "xi_err": nan, "r2": nan,
                "n_points": int(x.size)}
    if x.size > 2:
        coef, cov = np.polyfit(x, y, 1, w=w, cov="unscaled" if w is not None else True)
        err = np.sqrt(np.diag(cov))
    else:  # two points fix the line; no error estimate
        coef, err = np.polyfit(x, y, 1), np.full(2, np.nan)
    pred = np.polyval(coef, x)
    r2 = 1.0 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2)
    return {"a": float(coef[1]), "a_err": float(err[1]), "xi": float(-coef[0]),
            "xi_err": float(err[0]), "r2": float(r2), "n_points": int(ok.sum())}
