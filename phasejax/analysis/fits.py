"""Small fitting helpers shared across the package: a weighted least-squares straight line
(:func:`weighted_line`), a power law fitted in log–log (:func:`loglog_fit`, :class:`PowerLaw`)
the linear interpolation of where two points cross a level (:func:`interpolate_crossing`), and
the monotone piecewise-cubic interpolant (PCHIP, :func:`monotone_cubic`, several times faster
than building ``scipy``'s ``PchipInterpolator`` for the few points of a temperature grid, where
a fit calls it thousands of times), its zero on a segment (:func:`monotone_cubic_zero`) and
its slope (:func:`monotone_cubic_slope`).

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


def monotone_slopes(x, y) -> np.ndarray:
    """Slopes at the points of the monotone piecewise-cubic (PCHIP) interpolant of ``(x, y)``
    (``x`` increasing, two points or more), by Fritsch–Carlson: at an interior point the
    weighted harmonic mean of the neighbouring secants, 0 where they differ in sign or one is
    0; at an end the three-point estimate, limited to keep the shape (the rule of
    F. N. Fritsch and J. Butland, SIAM J. Sci. Stat. Comput. 5, 300 (1984))."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    h = np.diff(x)
    m = np.diff(y) / h
    if m.size == 1:
        return np.full(2, m[0])
    d = np.zeros_like(y)
    w1, w2 = 2 * h[1:] + h[:-1], h[1:] + 2 * h[:-1]
    flat = (np.sign(m[1:]) != np.sign(m[:-1])) | (m[1:] == 0) | (m[:-1] == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        d[1:-1] = np.where(flat, 0.0, (w1 + w2) / (w1 / m[:-1] + w2 / m[1:]))

    def end(h0, h1, m0, m1):
        s = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
        if np.sign(s) != np.sign(m0):
            return 0.0
        if np.sign(m0) != np.sign(m1) and abs(s) > 3 * abs(m0):
            return 3 * m0
        return s

    d[0], d[-1] = end(h[0], h[1], m[0], m[1]), end(h[-1], h[-2], m[-1], m[-2])
    return d


def _piece(x, xq):
    """``(k, h, t)``: the segment ``[x_k, x_{k+1}]`` that holds ``xq`` (the end ones beyond),
    its width and ``xq``'s place in it, ``t ∈ [0, 1]``."""
    k = np.clip(np.searchsorted(x, xq, side="right") - 1, 0, x.size - 2)
    h = x[k + 1] - x[k]
    return k, h, (xq - x[k]) / h


def monotone_cubic(x, y, xq, slopes=None) -> np.ndarray:
    """The monotone piecewise-cubic (PCHIP) interpolant of ``(x, y)`` at ``xq`` inside
    ``[x₀, x₋₁]``: cubic Hermite pieces with :func:`monotone_slopes` (or ``slopes``, when
    already computed). Between points where the data are monotone it is monotone, and it never
    overshoots them; where the data lie on a straight line it is that line."""
    x, y, xq = np.asarray(x, float), np.asarray(y, float), np.asarray(xq, float)
    d = monotone_slopes(x, y) if slopes is None else slopes
    k, h, t = _piece(x, xq)
    t2, t3 = t * t, t * t * t
    return ((2 * t3 - 3 * t2 + 1) * y[k] + (t3 - 2 * t2 + t) * h * d[k]
            + (3 * t2 - 2 * t3) * y[k + 1] + (t3 - t2) * h * d[k + 1])


def monotone_cubic_zero(x, y, i: int) -> float:
    """The zero of the monotone cubic interpolant (:func:`monotone_cubic`) on the segment
    ``[x_i, x_{i+1}]`` where ``y`` changes sign (nan if it does not). There the cubic is
    monotone (Fritsch–Carlson) and the zero unique: bisection to machine precision."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    y0, y1 = float(y[i]), float(y[i + 1])
    if y0 == 0.0 or y1 == 0.0:
        return float(x[i] if y0 == 0.0 else x[i + 1])
    if (y0 > 0) == (y1 > 0) or not (np.isfinite(y0) and np.isfinite(y1)):
        return NAN
    d = monotone_slopes(x, y)
    h = float(x[i + 1] - x[i])
    s0, s1 = h * float(d[i]), h * float(d[i + 1])
    # y(t) = ((a t + b) t + s0) t + y0 on t ∈ [0, 1]
    a, b = 2 * y0 + s0 - 2 * y1 + s1, -3 * y0 - 2 * s0 + 3 * y1 - s1
    lo, hi, up = 0.0, 1.0, y0 > 0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if (((a * mid + b) * mid + s0) * mid + y0 > 0) == up:
            lo = mid
        else:
            hi = mid
    return float(x[i]) + h * 0.5 * (lo + hi)


def monotone_cubic_slope(x, y, t: float) -> float:
    """The derivative at ``t`` (inside ``[x₀, x₋₁]``) of the monotone cubic interpolant
    (:func:`monotone_cubic`) of ``(x, y)``."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    d = monotone_slopes(x, y)
    k, h, s = _piece(x, float(t))
    return float(((6 * s * s - 6 * s) * (y[k] - y[k + 1])) / h
                 + (3 * s * s - 4 * s + 1) * d[k] + (3 * s * s - 2 * s) * d[k + 1])
