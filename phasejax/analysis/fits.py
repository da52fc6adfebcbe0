"""Small fitting helpers shared across the package: a weighted least-squares straight line
(:func:`weighted_line`), a power law fitted in log–log (:func:`loglog_fit`, :class:`PowerLaw`)
and the linear interpolation of where two points cross a level (:func:`interpolate_crossing`).

Used by the finite-size scaling of reweighted runs (:mod:`phasejax.analysis.fss`) and of grid
curves (:mod:`phasejax.analysis.scaling`), the correlation exponent of sequences
(:mod:`phasejax.analysis.sequences`), choice curves (:mod:`phasejax.fit.choice`) and
nucleation rates (:mod:`phasejax.lattice.nucleation`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

NAN = float("nan")


class PowerLaw(NamedTuple):
    """A fitted power law ``y = A x^p`` (:func:`loglog_fit`)."""

    exponent: float   # p in y = A x^p
    error: float      # standard error of p (nan when it cannot be estimated)
    amplitude: float  # A
    chi2_dof: float   # χ²/dof of a weighted fit (nan unweighted or with no dof)
    n_points: int     # points used (finite, x > 0, y > 0)


def weighted_line(x, y, w=None):
    """Weighted least-squares line ``y = a x + b``: ``(a, b, cov, chi²)`` (``cov`` unscaled)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    w = np.ones_like(x) if w is None else np.asarray(w, float)
    A = np.stack([x, np.ones_like(x)], 1)
    AtW = A.T * w
    cov = np.linalg.inv(AtW @ A)
    a, b = cov @ (AtW @ y)
    chi2 = float(np.sum(w * (y - a * x - b) ** 2))
    return float(a), float(b), cov, chi2


def loglog_fit(*, x, y, yerr=None) -> PowerLaw:
    """``y = A x^p`` by least squares of ``ln y`` on ``ln x``.

    With errors the weights are ``1/σ²`` with ``σ_{ln y} = yerr / y`` and the parameter
    covariance ``(AᵀWA)⁻¹`` is scaled by ``χ²/dof`` when that exceeds 1 (the Birge ratio: an
    error is never smaller than the scatter of the points says). Without errors the fit is
    unweighted and the covariance is scaled by the residual variance (needs three points; with
    two the error is ``nan``). Points with ``x ≤ 0``, ``y ≤ 0``, a non-finite value or a
    non-positive error are dropped.
    """
    x = np.asarray(x, float).ravel()
    y = np.asarray(y, float).ravel()
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    e = None
    if yerr is not None:
        e = np.asarray(yerr, float).ravel()
        ok &= np.isfinite(e) & (e > 0)
    n = int(ok.sum())
    if n < 2 or np.ptp(np.log(x[ok])) == 0:
        return PowerLaw(NAN, NAN, NAN, NAN, n)
    X, Y = np.log(x[ok]), np.log(y[ok])
    w = None if e is None else (y[ok] / e[ok]) ** 2
    try:
        p, b, cov, chi2 = weighted_line(X, Y, w)
    except np.linalg.LinAlgError:     # weights so uneven that the normal matrix is singular
        return PowerLaw(NAN, NAN, NAN, NAN, n)
    dof = n - 2
    if e is None:
        var = cov[0, 0] * chi2 / dof if dof > 0 else NAN
        chi2_dof = NAN
    else:
        chi2_dof = chi2 / dof if dof > 0 else NAN
        var = cov[0, 0] * max(1.0, chi2_dof if dof > 0 else 1.0)
    err = float(np.sqrt(var)) if var >= 0 else NAN     # var < 0: a singular normal matrix
    return PowerLaw(p, err, float(np.exp(b)), float(chi2_dof), n)


def interpolate_crossing(x0, y0, x1, y1, level=0.0):
    """Where the straight line through ``(x0, y0)`` and ``(x1, y1)`` takes the value ``level``:
    ``x = x0 + (level − y0)(x1 − x0)/(y1 − y0)`` (linear interpolation; ``y1 ≠ y0``)."""
    return x0 + (level - y0) * (x1 - x0) / (y1 - y0)
