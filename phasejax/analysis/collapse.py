"""Data collapse: finite-size curves drawn on one scaling function.

Near a continuous transition an observable of size ``L`` (lattice side) or ``N`` (a sequence
length) obeys

.. math:: y(T; N) = N^{a} f\\big((T - T_c) N^{1/ν}\\big),

so the points ``x = (T − T_c) N^{1/ν}``, ``Y = y N^{-a}`` of every size fall on one curve at the
right ``(T_c, 1/ν, a)``. For the Binder cumulant ``a = 0``; for ``⟨|m|⟩``, ``a = −β/ν``; for
``χ``, ``a = γ/ν``.

The quality of a collapse is the Houdayer–Hartmann measure (J. Houdayer and A. K. Hartmann,
Phys. Rev. B 70, 014418 (2004)), in its pairwise form: for every point of one size that lies
inside the ``x`` range of another size, the squared difference from that size's linear
interpolation (or, with ``cubic``, its monotone cubic one), over the sum of both variances,

.. math:: S = \\frac{1}{\\mathcal N} \\sum_{i \\ne j} \\sum_{p \\in i,\\, x_p \\in j}
          \\frac{(Y_p - Y_j(x_p))^2}{δY_p^2 + δY_j(x_p)^2},

``≈ 1`` when the curves agree within their errors and ``≫ 1`` when they do not. :func:`quality`
is used by the lattice side (reweighted curves, :func:`phasejax.analysis.fss.collapse`) and by
the grid-curve side (:func:`collapse_curves`, the language model's and the toy chain's curves
on their sampled temperatures).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import optimize

from phasejax.analysis.fits import monotone_cubic, monotone_slopes

NAN = float("nan")
START_INV_NU = (0.25, 0.5, 1.0, 2.0)   # further starting values of 1/ν (:func:`collapse_curves`)


def _sums(points, cubic: bool = False) -> tuple[float, int]:
    total, count = 0.0, 0
    slopes = [monotone_slopes(x, y) if cubic and x.size >= 3 else None for x, y, _ in points]
    for i, (x, y, dy) in enumerate(points):
        for j, (x2, y2, dy2) in enumerate(points):
            if i == j:
                continue
            inside = (x >= x2[0]) & (x <= x2[-1])
            if not inside.any():
                continue
            yi = monotone_cubic(x2, y2, x[inside], slopes[j]) if slopes[j] is not None \
                else np.interp(x[inside], x2, y2)
            di = np.interp(x[inside], x2, dy2)
            total += float(np.sum((y[inside] - yi) ** 2 / (dy[inside] ** 2 + di**2)))
            count += int(inside.sum())
    return total, count


def quality(points: Sequence[tuple]) -> float:
    """Collapse quality ``S`` of ``[(x, Y, δY), …]`` (one triple per size, ``x`` ascending).

    ``inf`` when no point of any size lies inside another size's ``x`` range.
    """
    total, count = _sums(points)
    return total / count if count else float("inf")


def scaled_points(curves: dict, T_c: float, inv_nu: float, a: float = 0.0) -> list[tuple]:
    """``[(x, Y, δY)]`` per size of ``curves = {N: (T, y, δy)}`` at ``(T_c, 1/ν, a)``."""
    out = []
    for N, (T, y, e) in sorted(curves.items()):
        scale = float(N) ** -a
        out.append(((np.asarray(T) - T_c) * float(N) ** inv_nu, np.asarray(y) * scale,
                    np.asarray(e) * scale))
    return out


def _fit(curves, start, fit_a: bool, a0: float, min_overlap: float, cubic: bool = False):
    T_all = np.concatenate([T for T, _, _ in curves.values()])
    lo, hi = float(T_all.min()), float(T_all.max())
    n_points = sum(len(T) for T, _, _ in curves.values())
    # a collapse is judged on the data: T_c inside the sampled range, and most points compared
    # (far from the data a few overlapping points can "agree" by accident)
    need = min_overlap * n_points * (len(curves) - 1)

    def objective(p):
        T_c, inv_nu = p[0], p[1]
        if inv_nu <= 0.02 or not lo <= T_c <= hi:
            return 1e12
        total, count = _sums(scaled_points(curves, T_c, inv_nu, p[2] if fit_a else a0), cubic)
        return total / count if count and count >= need else 1e12

    res = optimize.minimize(objective, start, method="Nelder-Mead",
                            options={"xatol": 1e-6, "fatol": 1e-6, "maxiter": 4000})
    return res.x, float(res.fun)


def collapse_curves(curves: dict, *, T_c0: float, inv_nu0: float, a0: float = 0.0,
                    fit_a: bool = False, redraws=(), max_quality: float = 3.0,
                    min_overlap: float = 0.5, cubic: bool = False,
                    starts=START_INV_NU) -> dict:
    """Best collapse of grid curves, with errors from refits of redrawn data.

    Args:
      curves: ``{N: (T, y, δy)}``, at least two sizes, errors ``> 0`` (the quality divides by
        them).
      T_c0, inv_nu0: starting point (e.g. a Binder crossing and its ``1/ν``); the fit also
        starts from the ``1/ν`` of :data:`START_INV_NU` and keeps the best.
      a0: the exponent ``a`` of ``N^a`` (``0`` for a Binder cumulant); fitted too if ``fit_a``.
      redraws: redrawn data, each ``{N: y}`` on the same temperatures as ``curves`` (e.g. from
        :func:`phasejax.analysis.decisions.draws`, which keeps sizes that share sequences
        correlated); each is refitted from the best fit. None: errors are ``nan``.
      max_quality: a best ``S`` above this is no collapse: values ``nan`` with the reason.
      min_overlap: the fit only considers ``(T_c, 1/ν)`` inside the sampled temperatures where
        at least this fraction of the possible point pairs (each point against each other
        size) overlaps; elsewhere a few points could agree by accident.
      cubic: compare each point with the other size's monotone cubic interpolant (PCHIP)
        instead of its straight lines. Between coarse grid points a steep large size is not
        straight; refitting with ``cubic`` measures what the straight lines cost.
      starts: the further starting values of ``1/ν`` (``()``: from ``inv_nu0`` alone, e.g. a
        refit from another fit's optimum).

    Returns:
      ``{"T_c", "T_c_err", "one_over_nu", "one_over_nu_err", "a", "a_err", "quality",
      "quality_err", "reason"}``; ``reason`` is non-empty exactly when the values are ``nan``.
    """
    out = dict(T_c=NAN, T_c_err=NAN, one_over_nu=NAN, one_over_nu_err=NAN, a=NAN, a_err=NAN,
               quality=NAN, quality_err=NAN, reason="")
    curves = {int(N): tuple(np.asarray(c, float) for c in v) for N, v in curves.items()}
    if len(curves) < 2:
        out["reason"] = f"a collapse needs curves at two sizes or more (got {len(curves)})"
        return out
    if not all(np.all(np.isfinite(e) & (e > 0)) for _, _, e in curves.values()):
        out["reason"] = "a collapse needs a positive error on every point"
        return out
    if not (np.isfinite(T_c0) and np.isfinite(inv_nu0) and inv_nu0 > 0):
        out["reason"] = f"no starting point (T_c={T_c0:.4g}, 1/ν={inv_nu0:.4g})"
        return out
    best, S = None, np.inf
    # from the given 1/ν and a few others: where the start overlaps too few points the
    # objective is flat and the simplex cannot leave it
    for nu in dict.fromkeys((inv_nu0, *starts)):
        p, s = _fit(curves, [T_c0, nu] + ([a0] if fit_a else []), fit_a, a0, min_overlap,
                    cubic)
        if best is None or s < S:
            best, S = p, s
    draws = []
    for r in redraws:
        redrawn = {N: (T, np.asarray(r[N], float), e) for N, (T, y, e) in curves.items()}
        p, s = _fit(redrawn, best, fit_a, a0, min_overlap, cubic)
        draws.append([*p[:2], p[2] if fit_a else a0, s])
    d = np.array(draws) if draws else np.full((0, 4), NAN)
    err = [float(np.std(d[:, k], ddof=1)) if len(d) >= 2 else NAN for k in range(4)]
    out.update(quality=S, quality_err=err[3])
    if S >= 1e12:
        out.update(quality=NAN, reason="no (T_c, 1/ν) inside the sampled temperatures overlaps "
                   f"{min_overlap:.0%} of the scaled points")
        return out
    if not np.isfinite(S) or S > max_quality:
        out["reason"] = (f"the curves do not collapse within their errors: best quality "
                         f"S = {S:.3g} > {max_quality:g} (S ≈ 1 for a collapse)")
        return out
    out.update(T_c=float(best[0]), T_c_err=err[0], one_over_nu=float(best[1]),
               one_over_nu_err=err[1], a=float(best[2]) if fit_a else float(a0),
               a_err=err[2] if fit_a else 0.0)
    return out
