"""Transition decisions as statistical tests: crossings and peaks of finite-size curves.

A finite-size method names a transition temperature only when the data reject the hypothesis
that there is none. Each decision here is a test with a stated family-wise level ``α`` (default
5 %), so that on systems without a transition it speaks in at most about ``α`` of data sets; the
rates actually reached on exact chains without a transition, and the power on systems with a
known one, are measured by :mod:`phasejax.lattice.calibration` and published in
``docs/criticality_rates.md``.

**Data.** One observable on a (temperature × size) grid is a :class:`SizeCurves`: value, error
and, when available, bootstrap *replicates* that share their resamples across sizes at each
temperature. Sizes cut from the same generated sequences (prefixes) are correlated; the
difference of two sizes then has the error of the replicate differences, not
``√(e_a² + e_b²)``. Without replicates sizes are taken as independent.

**Crossing** of two sizes ``a < b`` (:func:`crossing`), ``d(T) = y_b(T) − y_a(T)``,
``z_j = d_j/σ_j``. The null hypothesis "``d`` keeps one sign on the grid" is rejected only when
``d`` is significantly positive at one temperature and significantly negative at a higher one,
each at the Bonferroni level ``z_c = Φ⁻¹(1 − α/n_T)`` over the ``n_T`` grid points, and
every significantly positive point lies below every significantly negative one (``+ − +`` is
two crossings in opposite directions, not one fixed point). The
orientation is the ordered phase below: the larger size is *higher* below the crossing (``U₄``
→ 2/3, ``ξ/N`` grows) and *lower* above it. Curves that merge on one side and separate on the
other have significant differences of one sign only and give no crossing. The crossing is
the sign change of ``d`` inside that bracket (with several, the one that best separates the
bracket's positive from its negative evidence), and the value of the curves there must be
significantly above zero:
a Binder cumulant that crosses at ``U₄ ≈ 0`` is the Gaussian fixed point that every
finite-range chain reaches, where its excess kurtosis changes sign, not a transition.

The crossing *temperature* is the zero of ``d`` read through the monotone cubic (PCHIP) through
the grid points: straight lines between two points bias it where ``d`` is flat on one side of
the segment and steep on the other (2D Ising at ``L = 16, 32`` on a grid ``0.08`` apart: the
line's zero lies ``0.015`` below ``T_c``, the cubic's ``0.001``). Its error is the standard
deviation over draws of the data and, in quadrature, the interpolation's own error: the distance
between the cubic's and the straight line's zero, or the straight line's error from the
curvature of ``d`` at the segment's ends, whichever is larger. The tests (the level above, the
drift of :func:`fixed_point`) read the straight-line crossing, whose false-positive rates were
measured.

**Fixed point.** A crossing of two sizes alone does not tell a transition from a crossover with
``ξ(T) ∝ N``, whose crossing drifts towards ``T = 0`` as ``N`` grows (a one-dimensional chain
with finite-range couplings, whose Binder curves do cross at finite sizes). A transition is
named only from three sizes or more (:func:`fixed_point`): the two largest pairs of consecutive
sizes must both cross, and between consecutive crossing pairs (from the largest down, as long as
they cross) the rate ``d ln T×/d ln N`` may not lie significantly below ``−ε`` (one-sided, level
``α``: the direction a crossover moves, at ``≈ −1/ln(N/ξ₀)``) nor beyond ``±ε`` by a wide
two-sided margin, ``ε`` = :data:`DRIFT_TOLERANCE` allowing for corrections to scaling.

**Peak** (:func:`peak`): the grid maximum of one size's curve counts only if it stands above a
point on each side by ``z_c`` standard errors of the difference; a flat noisy curve, or a
monotone one, has none.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple, Optional

import numpy as np
from scipy import stats as sstats

from phasejax.analysis.fits import interpolate_crossing, monotone_cubic_zero

NAN = float("nan")
# level of each one-sided test; the fixed-point and level conditions on top keep the rate at
# which a method names a transition for systems without one far below it (measured: 0 of
# 600 null data sets, docs/criticality_rates.md)
ALPHA = 0.2
# a peak is one test per size with nothing on top of it: it keeps the stricter level
PEAK_ALPHA = 0.05
# crossings of a transition may still move with N (corrections to scaling) by up to this rate,
# |d ln T×/d ln N|; a crossover's move down at ≈ 1/ln(N/ξ₀), 0.15–0.3 at text's sizes
DRIFT_TOLERANCE = 0.05


class SizeCurves(NamedTuple):
    """One observable on a temperature × size grid."""

    T: np.ndarray                      # (n_T,) ascending temperatures (the union grid)
    N: np.ndarray                      # (n_N,) ascending sizes
    value: np.ndarray                  # (n_T, n_N) estimates; nan where not measured
    error: np.ndarray                  # (n_T, n_N) standard errors
    replicates: Optional[np.ndarray]   # (n_T, B, n_N) bootstrap replicates, resamples shared
    #                                    across sizes at each T; None: sizes independent

    def size_index(self, N: int) -> int:
        """Column of size ``N``."""
        hits = np.flatnonzero(self.N == N)
        if hits.size != 1:
            raise ValueError(f"size N={N} is not on the grid {self.N.tolist()}")
        return int(hits[0])

    def curve(self, N: int):
        """``(T, value, error)`` of size ``N`` where it was measured."""
        j = self.size_index(N)
        ok = np.isfinite(self.value[:, j])
        return self.T[ok], self.value[ok, j], self.error[ok, j]


def size_curves(T, N, value, error, replicates=None) -> SizeCurves:
    """A checked :class:`SizeCurves` (temperatures and sizes sorted, shapes matched)."""
    T, N = np.asarray(T, float), np.asarray(N, int)
    value, error = np.asarray(value, float), np.asarray(error, float)
    if value.shape != (T.size, N.size) or error.shape != value.shape:
        raise ValueError(f"value and error must have shape (n_T, n_N) = ({T.size}, {N.size}); "
                         f"got {value.shape} and {error.shape}")
    if replicates is not None:
        replicates = np.asarray(replicates, float)
        if replicates.ndim != 3 or replicates.shape[0] != T.size or \
                replicates.shape[2] != N.size:
            raise ValueError(f"replicates must have shape (n_T, B, n_N) = ({T.size}, B, "
                             f"{N.size}); got {replicates.shape}")
    iT, iN = np.argsort(T), np.argsort(N)
    rep = None if replicates is None else replicates[iT][:, :, iN]
    return SizeCurves(T[iT], N[iN], value[np.ix_(iT, iN)], error[np.ix_(iT, iN)], rep)


def z_level(n_tests: int, alpha: float = ALPHA) -> float:
    """One-sided Bonferroni threshold ``Φ⁻¹(1 − α/n)`` for ``n`` grid points."""
    return float(sstats.norm.isf(alpha / max(int(n_tests), 1)))


def sign_change(d, s, zc: float):
    """``(z, pos, neg, bracket)`` of differences ``d`` with errors ``s`` on an ascending grid:
    ``z = d/s`` (``±∞`` where ``s`` is 0: exact values; nan where ``d`` or ``s`` is: a
    difference without an error is no evidence either way), the indices where ``z``
    is significantly positive (``> zc``) and negative (``< −zc``), and the bracket ``(lo, hi)``
    of the one change from positive to negative: ``lo`` the last significantly positive point,
    ``hi`` the first significantly negative one. ``None`` unless every significantly positive
    point lies below every significantly negative one: a difference that changes sign twice
    (``+ − +`` or ``− + −``) is not one crossing, and a transition has one."""
    d, s = np.asarray(d, float), np.asarray(s, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(s > 0, d / s, np.where(s == 0, np.sign(d) * np.inf, np.nan))
    pos, neg = np.flatnonzero(z > zc), np.flatnonzero(z < -zc)
    if not (pos.size and neg.size and pos.max() < neg.min()):
        return z, pos, neg, None
    return z, pos, neg, (int(pos.max()), int(neg.min()))


def sign_changes_twice(pos, neg) -> bool:
    """Whether significant signs of both kinds interleave (neither all ``+`` below all ``−``
    nor all ``−`` below all ``+``)."""
    return bool(pos.size and neg.size and pos.max() > neg.min() and neg.max() > pos.min())


def significant_signs(z, pos, neg, T) -> str:
    """``"+ at 0.6, 0.8; − at 1; + at 1.2"``: the significant signs along the grid."""
    runs, last = [], None
    for i in np.sort(np.concatenate([pos, neg])):
        sign = "+" if i in pos else "−"
        if sign != last:
            runs.append((sign, []))
            last = sign
        runs[-1][1].append(f"{T[i]:.3g}")
    return "; ".join(f"{sg} at T = {', '.join(ts)}" for sg, ts in runs)


def draws(rng: np.random.Generator, curves: SizeCurves, n: int) -> np.ndarray:
    """``(n, n_T, n_N)`` redraws of the data with the joint error structure.

    With replicates, each draw takes one replicate per temperature (the same replicate for all
    sizes, so shared sequences stay shared), re-centred on the estimate; otherwise every point
    is redrawn as ``value + error·z``, independently.
    """
    v = curves.value
    if curves.replicates is None:
        e = np.nan_to_num(curves.error)
        return v[None] + e[None] * rng.standard_normal((n, *v.shape))
    rep = curves.replicates
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)          # unmeasured (T, N): all nan
        centred = rep - np.nanmean(rep, axis=1, keepdims=True)
    pick = rng.integers(0, rep.shape[1], size=(n, rep.shape[0]))
    return v[None] + centred[np.arange(rep.shape[0])[None, :], pick]


def _spread(x) -> float:
    """Standard deviation of the finite entries (nan with fewer than two)."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    return float(np.std(x, ddof=1)) if x.size >= 2 else NAN


def _beyond_noise(x: float, noise: float) -> float:
    """``√(x² − noise²)`` (0 if negative): a measured shift or bias less the part its own noise
    would give for a system without one (a nan noise counts as 0)."""
    return float(np.sqrt(max(x * x - (noise if np.isfinite(noise) else 0.0) ** 2, 0.0)))


def _difference(curves: SizeCurves, ia: int, ib: int):
    """``(T, d, σ_d, rows)`` on the temperatures where both sizes were measured."""
    rows = np.flatnonzero(np.isfinite(curves.value[:, ia]) & np.isfinite(curves.value[:, ib]))
    d = curves.value[rows, ib] - curves.value[rows, ia]
    if curves.replicates is not None:
        rep = curves.replicates[rows][:, :, ib] - curves.replicates[rows][:, :, ia]
        s = np.nanstd(rep, axis=1, ddof=1)
    else:
        s = np.hypot(curves.error[rows, ia], curves.error[rows, ib])
    return curves.T[rows], d, s, rows


def _zero_in(T, d, lo: int, hi: int) -> tuple[float, int]:
    """The sign change of ``d`` between indices ``lo`` (``d > 0``) and ``hi`` (``d < 0``) that
    best separates positive evidence below from negative above (linear interpolation), and the
    index ``i`` of the grid segment ``[T_i, T_{i+1}]`` that holds it (``-1`` if none)."""
    best, where, score = NAN, -1, -np.inf
    for i in range(lo, hi):
        if d[i] > 0 >= d[i + 1] or (d[i] >= 0 > d[i + 1]):
            t = float(interpolate_crossing(T[i], d[i], T[i + 1], d[i + 1])) \
                if d[i] != d[i + 1] else float(T[i])
            s = float(np.sum(d[lo:i + 1]) - np.sum(d[i + 1:hi + 1]))
            if s > score:
                best, where, score = t, i, s
    return best, where


def _cubic_or_line(T, d, i: int, t: float) -> float:
    """The zero of the monotone cubic through ``d`` on segment ``i``, or the straight line's
    ``t`` where there is none (a grid of two points)."""
    if i < 0 or T.size < 3:
        return float(t)
    z = monotone_cubic_zero(T, d, i)
    return z if np.isfinite(z) else float(t)


def _interpolation_error(T, d, i: int, t: float, cubic: float | None = None) -> float:
    """Size of the error of a zero of ``d`` found by linear interpolation on ``[T_i, T_{i+1}]``.

    Two indicators that see different shapes; the larger is taken.

    * **Curvature at the segment's ends.** The straight line misses the curve by
      ``d''(t)(t − T_i)(T_{i+1} − t)/2`` (the leading term of linear interpolation), which moves
      the zero by that over the slope; ``d''`` is the larger second difference at either end.
      This holds a steep difference between extrema on the neighbouring points (exact
      Curie–Weiss cumulants of 1,024 and 4,096 spins on ``0.9 … 1.1``: it says 0.0032 where the
      line is 0.0036 off).
    * **The neighbours' slopes.** The distance to the zero of the monotone cubic through the
      same points (PCHIP: piecewise cubic Hermite, slopes from the neighbouring secants by
      Fritsch–Carlson, :func:`phasejax.analysis.fits.monotone_cubic`), which reads the points
      beyond the segment. A difference that is flat on one side of the segment and steep on
      the other (a large size's Binder cumulant on a coarse grid, 2D Ising at ``L = 16, 32``)
      has small second differences at both ends while its zero sits towards the steep end,
      where the cubic moves it. On a segment where ``d`` changes sign the cubic is monotone
      and has one zero; where the neighbours continue the straight line it is the line.

    Both vanish for a straight ``d`` and grow with the grid spacing; at high statistics they can
    exceed the statistical error. ``cubic``: the cubic's zero, when already known."""
    if i < 0 or not np.isfinite(t) or T.size < 3:
        return NAN
    h = T[i + 1] - T[i]
    slope = abs(d[i + 1] - d[i]) / h
    curv = []
    for j in (i, i + 1):
        if 0 < j < T.size - 1:
            h1, h2 = T[j] - T[j - 1], T[j + 1] - T[j]
            curv.append(abs(2.0 * ((d[j + 1] - d[j]) / h2 - (d[j] - d[j - 1]) / h1) / (h1 + h2)))
    if not curv or slope <= 0:
        return NAN
    curvature = float(max(curv) * (t - T[i]) * (T[i + 1] - t) / (2.0 * slope))
    cubic = monotone_cubic_zero(T, d, i) if cubic is None else cubic
    return max(curvature, abs(cubic - t)) if np.isfinite(cubic) else curvature


class Crossing(NamedTuple):
    """Result of :func:`crossing` for one pair of sizes."""

    N_a: int
    N_b: int
    found: bool           # the test rejected "no crossing"
    T: float              # crossing temperature (nan unless found)
    T_err: float
    level: float          # the observable at the crossing (mean of both sizes)
    level_err: float
    z_below: float        # largest z of d = y_b − y_a below the crossing (ordered side)
    z_above: float        # most negative z above it
    z_c: float            # the threshold both had to pass
    bracket: tuple        # (T_lo, T_hi): grid points whose significance brackets the crossing
    reason: str           # why not found ("" when found)
    T_draws: np.ndarray   # (n_draws,) the crossing in each redraw (nan: none in the bracket)
    T_line: float = NAN   # the straight-line crossing, which the fixed-point test reads
    T_line_draws: np.ndarray = np.full(0, NAN)   # and its redraws


def crossing(rng: np.random.Generator, curves: SizeCurves, N_a: int, N_b: int, *,
             alpha: float = ALPHA, n_draws: int = 200, data=None,
             name: str = "the curves") -> Crossing:
    """Test whether the curves of sizes ``N_a < N_b`` cross (module docstring).

    Args:
      rng: numpy generator of the redraws (see :func:`phasejax.analysis.stats.numpy_rng`).
      curves: the observable (``U₄``, ``ξ/N``, …).
      N_a, N_b: the two sizes, ``N_a < N_b``.
      alpha: family-wise level of each one-sided test.
      n_draws: redraws for the errors of the crossing temperature and level.
      data: ``(n_draws, n_T, n_N)`` redraws to use instead (so several tests share draws).
      name: what the curves are, for the reason.
    """
    ia, ib = curves.size_index(N_a), curves.size_index(N_b)
    T, d, s, rows = _difference(curves, ia, ib)
    zc = z_level(max(T.size, 1), alpha)
    none = lambda why, zb=NAN, za=NAN: Crossing(N_a, N_b, False, NAN, NAN, NAN, NAN, zb, za, zc,
                                                 (NAN, NAN), why, np.full(0, NAN))
    if T.size < 2:
        return none(f"{name} of N={N_a} and N={N_b} share fewer than two temperatures")
    z, pos, neg, found = sign_change(d, s, zc)
    span = f"T ∈ [{T[0]:.4g}, {T[-1]:.4g}]"
    if pos.size == 0 and neg.size == 0:
        return none(f"{name} of N={N_a} and N={N_b} never differ significantly on {span} "
                    f"(|z| ≤ {zc:.2f} everywhere)", float(np.max(z)), float(np.min(z)))
    if found is None:
        if sign_changes_twice(pos, neg):
            why = (f"y(N={N_b}) − y(N={N_a}) changes sign more than once on {span} "
                   f"({significant_signs(z, pos, neg, T)}; z_c = {zc:.2f}): {name} cross in both "
                   "directions, not at one fixed point")
        elif pos.size and neg.size:
            why = (f"{name} of N={N_a} and N={N_b} cross the wrong way: the larger size is "
                   f"significantly lower at T={T[neg.min()]:.4g} and higher at "
                   f"T={T[pos.max()]:.4g} (disordered below, ordered above)")
        else:
            sign, at = (">", T[pos]) if pos.size else ("<", T[neg])
            why = (f"{name} of N={N_a} and N={N_b} do not cross on {span}: y(N={N_b}) − "
                   f"y(N={N_a}) is significantly {sign} 0 (at T = "
                   f"{', '.join(f'{t:.3g}' for t in at[:4])}{'…' if at.size > 4 else ''}) and "
                   f"never significantly of the other sign (z_c = {zc:.2f})")
        return none(why, float(np.max(z)), float(np.min(z)))
    lo, hi = found
    t0, seg = _zero_in(T, d, lo, hi)
    level = lambda v: float(np.interp(t0, T, 0.5 * (v[rows, ia] + v[rows, ib])))
    D = draws(rng, curves, n_draws) if data is None else data
    tb, tc, lb, eb = (np.full(len(D), NAN) for _ in range(4))
    for k, x in enumerate(D):
        dd = x[rows, ib] - x[rows, ia]
        if dd[lo] > 0 > dd[hi]:
            tb[k], i = _zero_in(T, dd, lo, hi)
            tc[k] = _cubic_or_line(T, dd, i, tb[k])
            lb[k] = float(np.interp(tb[k], T, 0.5 * (x[rows, ia] + x[rows, ib])))
            eb[k] = _interpolation_error(T, dd, i, tb[k], tc[k])
    # the estimate reads the curves through monotone cubics; the tests (the level here, the
    # drift in fixed_point) read the straight-line crossing, as their rates were measured
    t1 = _cubic_or_line(T, d, seg, t0)
    T_err, u_err = _spread(tc), _spread(lb)
    # the grid's resolution: the interpolation error joins the statistical one in quadrature,
    # less its own noise (the spread of the estimate over draws), so that curves with no
    # curvature but noise are not charged twice
    interp = _interpolation_error(T, d, seg, t0, t1)
    if np.isfinite(interp):
        T_err = float(np.hypot(T_err, _beyond_noise(interp, _spread(eb))))
    u0 = level(curves.value)
    result = Crossing(N_a, N_b, True, t1, T_err, u0, u_err, float(z[lo]), float(z[hi]), zc,
                      (float(T[lo]), float(T[hi])), "", tc, float(t0), tb)
    if not (u0 > zc * (u_err if np.isfinite(u_err) else np.inf)):
        return result._replace(found=False, T=NAN, T_err=NAN, T_line=NAN, reason=(
            f"{name} of N={N_a} and N={N_b} cross at T={t0:.4g} where they are "
            f"{u0:.3g} ± {u_err:.2g}, not significantly above 0: the Gaussian value that every "
            "finite-range chain reaches, not a fixed point of a transition"))
    return result


class FixedPoint(NamedTuple):
    """Result of :func:`fixed_point`: a transition temperature named, or why not."""

    found: bool
    T: float             # crossing of the two largest sizes (nan unless found)
    T_err: float         # its statistical error and half the last shift between pairs
    level: float         # the observable there
    level_err: float
    drift: float         # T×(largest pair) − T×(next pair)
    drift_err: float
    crossings: tuple     # every consecutive pair's Crossing, smallest first
    reason: str


def fixed_point(rng: np.random.Generator, curves: SizeCurves, *, alpha: float = ALPHA,
                n_draws: int = 200, name: str = "the curves") -> FixedPoint:
    """A transition named by crossings: the two largest pairs of consecutive sizes both cross
    (:func:`crossing`) and their crossing temperatures agree within their joint error (the
    same redraws for both, so shared sequences are accounted for). Needs three sizes."""
    sizes = [int(n) for n in curves.N]
    D = draws(rng, curves, n_draws)
    pairs = list(zip(sizes, sizes[1:]))
    cx = tuple(crossing(rng, curves, a, b, alpha=alpha, data=D, name=name) for a, b in pairs)
    none = lambda why, drift=NAN, drift_err=NAN: FixedPoint(False, NAN, NAN, NAN, NAN, drift,
                                                            drift_err, cx, why)
    if len(sizes) < 3:
        last = cx[-1] if cx else None
        why = (f"needs three sizes or more to tell a fixed point from a crossover whose "
               f"crossing drifts with N (got {sizes})")
        if last is not None and not last.found:
            why = f"{last.reason}; also {why}"
        return none(why)
    top, nxt = cx[-1], cx[-2]
    if not top.found:
        return none(top.reason)
    if not nxt.found:
        return none(f"the largest sizes cross at T={top.T:.4g} ± {top.T_err:.2g}, but "
                    f"{nxt.reason}")
    # every run of consecutive crossing pairs from the top down enters the drift test
    chain = [top, nxt]
    for c in reversed(cx[:-2]):
        if not c.found:
            break
        chain.append(c)
    z_down, z_any = float(sstats.norm.isf(alpha)), float(sstats.norm.isf(alpha / 20))
    for upper, lower in zip(chain, chain[1:]):
        # the drift as a rate, d ln T× / d ln N between the pairs' geometric-mean sizes: a
        # crossover with ξ(T) ∝ N moves down at ≈ −1/ln(N/ξ₀), a transition's crossings settle
        span = np.log(np.sqrt(upper.N_a * upper.N_b) / np.sqrt(lower.N_a * lower.N_b))
        rate = np.log(upper.T_line / lower.T_line) / span
        with np.errstate(invalid="ignore", divide="ignore"):
            err = _spread(np.log(upper.T_line_draws / lower.T_line_draws) / span)
        if not np.isfinite(err) or rate < -DRIFT_TOLERANCE - z_down * err or \
                abs(rate) > DRIFT_TOLERANCE + z_any * err:
            return none(f"the crossings drift: T×(N={lower.N_a},{lower.N_b}) = "
                        f"{lower.T_line:.4g}, T×(N={upper.N_a},{upper.N_b}) = "
                        f"{upper.T_line:.4g} (d ln T×/d ln N = "
                        f"{rate:+.3g} ± {err:.2g}, beyond ±{DRIFT_TOLERANCE:g}): no fixed point "
                        "within errors, as for a crossover where ξ(T) ≈ N (its crossings move to "
                        "lower T as N grows)", upper.T - lower.T,
                        _spread(upper.T_draws - lower.T_draws))
    drift = top.T - nxt.T
    drift_err = _spread(top.T_draws - nxt.T_draws)
    # the crossing of the largest sizes still sits off T_c by corrections to scaling: half the
    # last shift between pairs (the rest of a sequence that shrinks by 1/3 per step) joins its
    # error in quadrature. The measured shift carries its own noise, whose square would enlarge
    # the error for systems with no shift at all; it is subtracted from the shift's square.
    systematic = 0.5 * _beyond_noise(drift, drift_err)
    return FixedPoint(True, top.T, float(np.hypot(top.T_err, systematic)), top.level,
                      top.level_err, drift, drift_err, cx, "")


class Peak(NamedTuple):
    """Result of :func:`peak` for one size."""

    N: int
    found: bool
    T: float          # vertex of the parabola through the maximum and its neighbours
    height: float     # the curve there
    z_left: float     # (max − lowest point on the left) / σ of that difference
    z_right: float
    z_c: float
    reason: str


def _vertex(T, y, i):
    c2, c1, c0 = np.polyfit(T[i - 1:i + 2], y[i - 1:i + 2], 2)
    if not c2 < 0:
        return float(T[i]), float(y[i])
    t = float(np.clip(-c1 / (2 * c2), T[i - 1], T[i + 1]))
    return t, float(c0 + c1 * t + c2 * t * t)


def peak(T, y, e, *, N: int = 0, alpha: float = PEAK_ALPHA, name: str = "the curve") -> Peak:
    """Whether the grid maximum of ``y(T)`` is a significant interior peak (module docstring).

    Temperatures are measured independently, so a difference's error is ``√(e_i² + e_j²)``.
    """
    T, y, e = (np.asarray(a, float) for a in (T, y, e))
    ok = np.isfinite(y)
    T, y, e = T[ok], y[ok], e[ok]
    zc = z_level(max(T.size, 1), alpha)
    if T.size < 3:
        return Peak(N, False, NAN, NAN, NAN, NAN, zc, f"{name} has fewer than three points")
    i = int(np.argmax(y))
    if i == 0 or i == T.size - 1:
        return Peak(N, False, NAN, NAN, NAN, NAN, zc,
                    f"the maximum of {name} lies on the edge of the grid (T={T[i]:.4g})")
    s = np.hypot(e[i], e)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(s > 0, (y[i] - y) / s, np.inf * np.sign(y[i] - y))
    zl, zr = float(np.max(z[:i])), float(np.max(z[i + 1:]))
    t, h = _vertex(T, y, i)
    if min(zl, zr) <= zc:
        side = "left" if zl <= zc else "right"
        return Peak(N, False, NAN, NAN, zl, zr, zc,
                    f"the maximum of {name} at T={T[i]:.4g} does not stand significantly above "
                    f"the {side} side (z = {min(zl, zr):.2f} ≤ {zc:.2f}): no peak")
    return Peak(N, True, t, h, zl, zr, zc, "")
