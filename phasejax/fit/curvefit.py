"""Fit a toy chain's parameters to measured curves ``O(T, N)`` by weighted least squares.

The toy is an open chain of ``N`` tokens (``q`` states) with a Potts coupling and a field
along a fixed profile,

.. math:: E(s) = −J Σ_i δ(s_i, s_{i+1}) − a Σ_i f[s_i],

observed at toy temperature ``τ·T`` (``T`` the data's temperature). Its observables are exact
(enumeration of the ``q^N`` sequences): Potts ``m = (q max_k n_k/N − 1)/(q − 1)`` moments,
Binder ``U₄``, ``χ = N(⟨m²⟩ − ⟨|m|⟩²)/T``, energy and specific heat per site, entropy per
site of the sequence distribution and the entropy of the token frequencies. Parameters
``θ = (J, a, τ)`` minimise ``Σ ((O_toy − O_data)/σ)²`` (``scipy.optimize.least_squares``);
uncertainties come from the covariance ``(JᵀJ)⁻¹`` of the weighted residuals, and
``χ²/dof`` reports the goodness of fit.

Identifiability: Boltzmann weights depend on ``J/τ`` and ``a/τ`` only, so one of the three
sets the energy unit and is held fixed at its starting value: ``J`` (usually 1, as for the
Ising model) when some ``N > 1``, the field scale when every ``N = 1`` (one answer: no bonds).
The temperature scale ``τ`` is always fitted, the field scale too when a profile is given and
``N > 1``. Energy-scaled observables are compared in data units, ``E_data = E_toy/τ``
(for a language model ``E = −ln p`` at ``T = 1``); ``C`` is the same in both units.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple, Sequence

import numpy as np
from scipy import optimize

from phasejax.analysis import distributions as D

PARAMETERS = ("J", "field", "tscale")
MAX_STATES = 2_000_000


class CurveFit(NamedTuple):
    """Result of a weighted least-squares fit of the toy chain's ``θ`` to measured curves."""

    names: tuple            # parameter names
    values: np.ndarray      # best fit
    errors: np.ndarray      # one-sigma, from the covariance
    covariance: np.ndarray
    chi2: float
    dof: int
    success: bool

    def as_dict(self) -> dict:
        """``{name: value, name_err: error, chi2, dof, chi2_per_dof}`` as plain floats."""
        out = {n: float(v) for n, v in zip(self.names, self.values)}
        out.update({f"{n}_err": float(e) for n, e in zip(self.names, self.errors)})
        out.update(chi2=self.chi2, dof=self.dof, chi2_per_dof=self.chi2 / max(self.dof, 1))
        return out


_CONFIGS: dict = {}


def _configurations(q: int, N: int) -> np.ndarray:
    if q**N > MAX_STATES:
        raise ValueError(f"q^N = {q}^{N} sequences are too many to enumerate "
                         f"(limit {MAX_STATES}); use shorter lengths")
    key = (q, N)
    if key not in _CONFIGS:
        _CONFIGS[key] = np.array(list(itertools.product(range(q), repeat=N)), np.int8)
    return _CONFIGS[key]


def chain_observables(J: float, field: float, T: float, N: int, q: int,
                      profile: Sequence[float] | None = None) -> dict:
    """Exact observables of the open Potts chain at temperature ``T`` (already scaled)."""
    s = _configurations(q, N)
    f = np.zeros(q) if profile is None else np.asarray(profile, float)
    bonds = (s[:, 1:] == s[:, :-1]).sum(1)
    E = -J * bonds - field * f[s].sum(1)
    logw = -E / T
    logw -= logw.max()
    w = np.exp(logw)
    Z = w.sum()
    p = w / Z
    counts = np.stack([(s == k).sum(1) for k in range(q)], 1)
    m = D.order_from_mode(counts.max(1), q, N)
    a, b, c = (p * m).sum(), (p * m**2).sum(), (p * m**4).sum()
    U = (p * E).sum()
    freq = (p[:, None] * counts).sum(0) / N
    nz = p > 0
    return dict(order_parameter=D.order_from_mode(freq.max(), q), top1_mass=freq.max(),
                abs_magnetisation=a, m2=b, m4=c, binder=D.binder(b, c),
                susceptibility=D.susceptibility(b, a, N=N, T=T), energy=U / N,
                specific_heat=D.specific_heat(U, (p * E**2).sum(), N=N, T=T),
                entropy=-(p[nz] * np.log(p[nz])).sum() / N,
                item_entropy=-(freq[freq > 0] * np.log(freq[freq > 0])).sum())


def toy_curves(theta, points, q: int, profile=None) -> np.ndarray:
    """Toy value of each ``(observable, N, T)`` in ``points`` at ``θ = (J, a, τ)``.

    A 2D ``profile`` ``(replicas, q)`` is quenched disorder: one field profile per replica
    (per prompt variant), observables averaged over replicas.
    """
    J, a, tau = theta
    profiles = [None] if profile is None else np.atleast_2d(np.asarray(profile, float))
    cache = {}
    out = np.empty(len(points))
    for i, (obs, N, T) in enumerate(points):
        key = (int(N), float(T))
        if key not in cache:
            per = [chain_observables(J, a, tau * T, int(N), q, f) for f in profiles]
            cache[key] = {k: float(np.mean([d[k] for d in per])) for k in per[0]}
        out[i] = cache[key][obs] / (tau if obs == "energy" else 1.0)
    return out


def fit_chain_curves(rows: Sequence[dict], q: int, observables: Sequence[str],
                     profile=None, theta0=(1.0, 1.0, 1.0),
                     bounds=((-5.0, -10.0, 0.05), (5.0, 10.0, 20.0)),
                     fixed: str | None = None) -> CurveFit:
    """Least-squares fit of ``(J, field, tscale)`` to tidy ``rows`` ``{observable, L, T, mean,
    stderr}`` (``L`` = sequence length ``N``); rows without a finite positive error are skipped.

    ``fixed`` names the parameter that sets the energy unit (``"J"``, ``"field"`` or
    ``"tscale"``); by default ``J`` when some ``N > 1`` and the field otherwise.
    """
    data = [r for r in rows if r["observable"] in observables
            and np.isfinite(float(r["stderr"])) and float(r["stderr"]) > 0
            and np.isfinite(float(r["mean"]))]
    if len(data) <= len(PARAMETERS):
        raise ValueError(f"{len(data)} usable data points for {len(PARAMETERS)} parameters "
                         f"(observables {list(observables)})")
    points = [(r["observable"], int(float(r["L"])), float(r["T"])) for r in data]
    y = np.array([float(r["mean"]) for r in data])
    err = np.array([float(r["stderr"]) for r in data])
    sites = max(n for _, n, _ in points)
    if fixed is None:
        free = [2] + ([1] if profile is not None and sites > 1 else [])
    else:
        if fixed not in PARAMETERS:
            raise ValueError(f"fixed={fixed!r} not in {PARAMETERS}")
        free = [i for i, n in enumerate(PARAMETERS) if n != fixed
                and not (n == "J" and sites == 1) and not (n == "field" and profile is None)]
    full = np.array(theta0, float)

    def residuals(x):
        th = full.copy()
        th[free] = x
        return (toy_curves(th, points, q, profile) - y) / err

    lo = np.array(bounds[0], float)[free]
    hi = np.array(bounds[1], float)[free]
    res = optimize.least_squares(residuals, full[free], bounds=(lo, hi), x_scale="jac")
    values = full.copy()
    values[free] = res.x
    cov = np.full((3, 3), np.nan)
    try:
        sub = np.linalg.inv(res.jac.T @ res.jac)
        cov[np.ix_(free, free)] = sub
    except np.linalg.LinAlgError:
        pass
    errors = np.sqrt(np.clip(np.diag(cov), 0, None))
    errors[[i for i in range(3) if i not in free]] = 0.0
    chi2 = float(np.sum(res.fun**2))
    return CurveFit(PARAMETERS, values, errors, cov, chi2, len(y) - len(free), bool(res.success))
