"""Finite-size scaling in the sequence length ``N`` from curves on a temperature grid.

:mod:`phasejax.analysis.fss` reweights Boltzmann samples to any temperature. Autoregressive sampling
of a language model at temperature ``T`` is *not* Boltzmann in the sequence log-probability,
so reweighting does not apply to the model side: its curves exist only at the sampled
temperatures and are interpolated linearly between them. Everything here works on such curves
(:class:`~phasejax.analysis.decisions.SizeCurves`, from :func:`curves_from_statistics` with
joint bootstrap replicates, or from tidy rows with :func:`curves_from_rows`), from the model or
from a toy alike.

Every method that can name a transition is a statistical decision
(:mod:`phasejax.analysis.decisions`) whose false-positive rate on systems without a transition
and power on systems with one are measured (:mod:`phasejax.lattice.calibration`,
``docs/criticality_rates.md``):

* **Binder crossing** (``binder_crossing``): the connected Binder cumulants of consecutive sizes
  must cross with significant differences of opposite sign on both sides, at a cumulant
  significantly above 0, and the two largest pairs' crossings must agree within errors
  (:func:`~phasejax.analysis.decisions.fixed_point`). ``T_c`` is the crossing of the two
  largest sizes. ``1/ν`` from ``dU₄/dT |_{T_c} ∝ N^{1/ν}``: the slope of each size's curve at
  ``T_c`` is that of the monotone cubic through its grid points, the exponent a log–log fit over
  sizes (a straight line through the five grid points nearest ``T_c`` averages a large size's
  steep drop with its flat ends: on 2D Ising's grid ``2.0 … 2.55`` it gave ``1/ν`` of ``−0.1``
  to ``−0.3`` for ``N = L²``, exact ``½``; the cubic's slopes give ``0.3 … 0.8``).
* **ξ/N crossing** (``xi_crossing``): the same decision on the second-moment correlation length
  over the size, which grows with ``N`` in an ordered phase and falls in a disordered one.
* **χ-peak scaling** (``chi_peak``): a size has a peak only if its grid maximum stands
  significantly above both sides (:func:`~phasejax.analysis.decisions.peak`);
  ``χ_max ∝ N^{γ/ν}`` over the sizes with peaks, and ``T_c`` from
  ``T*(N) = T_c + a N^{−1/ν}`` with ``1/ν`` from the Binder method (so it names a transition
  only where the Binder method did). For ``q = 2`` with ``m`` of one sign, ``χT = 2τ``: χ and
  τ are then not independent evidence.
* **Collapse** (``binder_collapse``): ``U₄(T; N) = f((T − T_c) N^{1/ν})``, started only from a
  Binder transition (:mod:`phasejax.analysis.collapse`), fitted on the critical region: two
  grid temperatures on each side of that crossing and any within ±10 % of it
  (:func:`critical_window`); ``S ≫ 1`` is no collapse.

For the χ-peak extrapolation and the collapse, corrections to scaling bias ``T_c`` beyond its
statistical error; with three sizes or more, the shift of the estimate when the smallest size
is left out is added in quadrature to the error, for the χ peaks also half the grid spacing (a
parabola's vertex through three grid points; their statistical error redraws the Binder ``1/ν``
with the peaks, since it sets the extrapolation's lever arm) and for the collapse (whose curves are read
through monotone cubics between grid points) its shift from the straight-line reading and its
distance from the Binder crossing it started from (so the intervals cover at their nominal rate,
which ``docs/criticality_rates.md`` measures).
* **Slope of τ** (``tau_slope``): ``s(T) = d ln τ / d ln N`` (weighted least squares at each
  temperature common to all sizes) and ``T_onset``, where ``s`` first falls through ``1/2`` as
  ``T`` rises. An onset, not a transition temperature: ``s = 1`` means non-self-averaging, and
  ``½ < s < 1`` still has ``Var(m) → 0``. It never starts a collapse.

Errors come from redraws of the data that keep its joint structure: with replicates, one
bootstrap replicate per temperature, shared by all sizes (they are prefixes of the same
sequences); without, independent Gaussian redraws of every point. A method that names nothing
returns ``nan`` with the reason.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from phasejax.analysis import decisions as dec
from phasejax.analysis.collapse import START_INV_NU, collapse_curves
from phasejax.analysis.fits import (interpolate_crossing, loglog_fit, monotone_cubic_slope,
                                    weighted_line)
from phasejax.analysis.stats import numpy_rng

NAN = float("nan")
METHODS = ("binder_crossing", "xi_crossing", "chi_peak", "binder_collapse", "tau_slope")
TRANSITION_METHODS = METHODS[:4]     # the methods that can name a T_c
# the critical region a collapse is fitted on: at least this many grid temperatures on each
# side of the Binder crossing, and every temperature within this fraction of it. Leading-order
# scaling holds only near T_c; far from it (deep in either phase, where every size's U₄ sits at
# its limit with a tiny error) corrections to scaling dominate the quality at any statistics
# where a collapse is worth fitting
COLLAPSE_WINDOW = 2
COLLAPSE_SPAN = 0.1


# ----------------------------------------------------------------------------- curves
def curves_from_statistics(stats: Sequence, observable: str) -> dec.SizeCurves:
    """A :class:`~phasejax.analysis.decisions.SizeCurves` of one scalar observable from
    :class:`~phasejax.analysis.sequences.SequenceStatistics` on a (T, N) grid, with their
    bootstrap replicates (``"xi_over_N"`` divides ``ξ`` by ``N``).

    Statistics of one temperature must come from one
    :func:`~phasejax.analysis.sequences.prefix_statistics` call (shared resamples) or from
    independent runs per size; every one must have the same number of replicates.
    """
    stats = list(stats)
    name = {"xi_over_N": "xi", "tau": "tau_trace"}.get(observable, observable)
    T = np.array(sorted({s.T for s in stats}))
    N = np.array(sorted({s.N for s in stats}))
    B = {s.replicates[name].shape[0] for s in stats}
    if len(B) != 1:
        raise ValueError(f"statistics with different numbers of replicates {sorted(B)}")
    v = np.full((T.size, N.size), NAN)
    e = np.full_like(v, NAN)
    r = np.full((T.size, B.pop(), N.size), NAN)
    for s in stats:
        i, j = int(np.searchsorted(T, s.T)), int(np.searchsorted(N, s.N))
        est = s.moments[name] if name in s.moments else getattr(s, name)
        scale = 1.0 / s.N if observable == "xi_over_N" else 1.0
        v[i, j], e[i, j] = est.value * scale, est.error * scale
        r[i, :, j] = s.replicates[name] * scale
    return dec.SizeCurves(T, N, v, e, r)


def curves_from_rows(rows: Sequence[dict], observable: str) -> dec.SizeCurves:
    """One observable from tidy rows (``N`` or ``L``, ``T``, ``observable``, ``mean``,
    ``stderr``), without replicates (sizes taken as independent). Rows with a ``prompt``
    other than ``"all"`` and non-finite means are skipped; a missing error is ``nan``.
    ``"xi_over_N"`` is built from ``xi`` rows."""
    name = "xi" if observable == "xi_over_N" else observable
    pts = {}
    for r in rows:
        if r.get("observable") != name or r.get("prompt", "all") != "all":
            continue
        mean = float(r["mean"])
        if not np.isfinite(mean):
            continue
        N = int(float(r["N"] if "N" in r else r["L"]))
        err = r.get("stderr")
        err = NAN if err is None or err == "" else float(err)
        scale = 1.0 / N if observable == "xi_over_N" else 1.0
        pts[(float(r["T"]), N)] = (mean * scale, err * scale)
    T = np.array(sorted({t for t, _ in pts}))
    N = np.array(sorted({n for _, n in pts}), int)
    v = np.full((T.size, N.size), NAN)
    e = np.full_like(v, NAN)
    for (t, n), (m, s) in pts.items():
        v[np.searchsorted(T, t), np.searchsorted(N, n)] = m
        e[np.searchsorted(T, t), np.searchsorted(N, n)] = s
    return dec.SizeCurves(T, N, v, e, None)


def _has_errors(c: dec.SizeCurves) -> bool:
    ok = np.isfinite(c.value)
    return bool(ok.any()) and bool(np.all(np.isfinite(c.error[ok]))) and bool(
        np.any(c.error[ok] > 0))


def _estimate(method, quantity, value, error, reason="", **extra):
    return dict(method=method, quantity=quantity, value=float(value), error=float(error),
                reason=reason, **extra)


def _std(values) -> float:
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    return float(np.std(v, ddof=1)) if v.size >= 2 else NAN


# ----------------------------------------------------------------------------- Binder, ξ/N
def _inv_nu(c: dec.SizeCurves, t: float, values=None) -> float:
    """``1/ν`` from ``dU₄/dT |_t ∝ N^{1/ν}``: each size's slope at ``t`` is that of the monotone
    cubic through its grid points, the exponent a log–log fit over sizes."""
    s = []
    for j, N in enumerate(c.N):
        ok = np.isfinite(c.value[:, j])
        T, y = c.T[ok], (c.value if values is None else values)[ok, j]
        s.append(monotone_cubic_slope(T, y, t) if T.size >= 2 and T[0] <= t <= T[-1] else NAN)
    s = np.array(s)
    if not (np.all(s < 0) or np.all(s > 0)):
        return NAN
    return loglog_fit(x=c.N, y=np.abs(s)).exponent


def _crossing_rows(method, fp: dec.FixedPoint, level_name, extra_rows=()):
    info = dict(drift=fp.drift, drift_err=fp.drift_err,
                pairs=";".join(f"{x.N_a}-{x.N_b}:{x.T:.4g}±{x.T_err:.2g}" if x.found else
                               f"{x.N_a}-{x.N_b}:none" for x in fp.crossings))
    if not fp.found:
        rows = [_estimate(method, q, NAN, NAN, fp.reason, **info)
                for q in ("T_c", level_name, *extra_rows)]
        return rows
    return [_estimate(method, "T_c", fp.T, fp.T_err, "", **info),
            _estimate(method, level_name, fp.level, fp.level_err, "", **info)]


def _binder(rng, c: dec.SizeCurves, *, alpha, n_boot, name):
    if c.N.size < 2:
        why = f"needs {name!r} curves at two sizes or more (got {c.N.size})"
        return dec.FixedPoint(False, NAN, NAN, NAN, NAN, NAN, NAN, (), why), NAN, NAN, \
            np.full(0, NAN)
    fp = dec.fixed_point(rng, c, alpha=alpha, n_draws=n_boot, name=f"the {name} curves")
    if not fp.found:
        return fp, NAN, NAN, np.full(0, NAN)
    nu = _inv_nu(c, fp.T)
    D = dec.draws(rng, c, n_boot)
    nu_d = np.array([_inv_nu(c, fp.T, values=x) for x in D])
    return fp, nu, _std(nu_d), nu_d


# ----------------------------------------------------------------------------- χ peaks
def _chi_peaks(c: dec.SizeCurves, alpha):
    """Each size's peak test (:func:`~phasejax.analysis.decisions.peak`) at level ``alpha``."""
    out = []
    for N in c.N:
        T, y, e = c.curve(int(N))
        out.append(dec.peak(T, y, e, N=int(N), alpha=alpha, name=f"χ(N={N})"))
    return out


def _extrapolate(sizes, T_peak, T_err, inv_nu):
    """Intercept of ``T*(N) = T_c + a N^{-1/ν}``."""
    x = np.asarray(sizes, float) ** (-inv_nu)
    T_peak, T_err = np.asarray(T_peak, float), np.asarray(T_err, float)
    ok = np.isfinite(T_peak)
    if ok.sum() < 2 or not np.isfinite(inv_nu):
        return NAN
    w = 1.0 / T_err[ok] ** 2 if np.all(np.isfinite(T_err[ok]) & (T_err[ok] > 0)) else None
    return weighted_line(x[ok], T_peak[ok], w)[1]


def _half68(values) -> float:
    """Half the central 68 % range of the finite values (σ for a normal; robust to the long
    tails of an extrapolation whose lever arm is itself uncertain)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    return float(0.5 * np.subtract(*np.percentile(v, [84.13, 15.87]))) if v.size >= 2 else NAN


def _chi_rows(rng, X: dec.SizeCurves, fp, inv_nu, *, alpha, n_boot, inv_nu_draws=()):
    if X.N.size < 2:
        why = f"needs susceptibility curves at two sizes or more (got {X.N.size})"
        return [_estimate("chi_peak", q, NAN, NAN, why) for q in ("gamma_over_nu", "T_c")], []
    peaks = _chi_peaks(X, alpha)
    D = dec.draws(rng, X, n_boot)
    found = [p for p in peaks if p.found]
    # the peak of each redraw, at the same grid maximum (its position error and height error)
    pos_d = np.full((n_boot, len(peaks)), NAN)
    h_d = np.full_like(pos_d, NAN)
    for k, x in enumerate(D):
        for j, p in enumerate(peaks):
            if p.found:
                ok = np.isfinite(X.value[:, j])
                T, y = X.T[ok], x[ok, j]
                i = int(np.argmax(y))
                if 0 < i < T.size - 1:
                    pos_d[k, j], h_d[k, j] = dec._vertex(T, y, i)
    T_err = np.array([_std(pos_d[:, j]) for j in range(len(peaks))])
    h_err = np.array([_std(h_d[:, j]) for j in range(len(peaks))])
    table = [dict(N=p.N, T_peak=p.T, T_peak_err=float(T_err[j]), peak=p.height,
                  peak_err=float(h_err[j]), z_left=p.z_left, z_right=p.z_right, z_c=p.z_c,
                  reason=p.reason) for j, p in enumerate(peaks)]
    rows = []
    if len(found) < 2:
        why = (f"needs significant interior peaks at two sizes or more (got {len(found)}: "
               + "; ".join(p.reason for p in peaks if not p.found) + ")")
        rows.append(_estimate("chi_peak", "gamma_over_nu", NAN, NAN, why))
        rows.append(_estimate("chi_peak", "T_c", NAN, NAN, why))
        return rows, table
    idx = [j for j, p in enumerate(peaks) if p.found]
    sizes = [peaks[j].N for j in idx]
    fit = lambda h: loglog_fit(x=sizes, y=h, yerr=h_err[idx] if np.all(
        np.isfinite(h_err[idx])) else None)
    g = fit(np.array([peaks[j].height for j in idx]))
    g_err = _std([fit(h_d[k, idx]).exponent for k in range(n_boot)])
    rows.append(_estimate("chi_peak", "gamma_over_nu", g.exponent, g_err,
                          "" if np.isfinite(g.exponent) else "the peak heights give no slope",
                          sizes=",".join(map(str, sizes))))
    if not fp.found or not inv_nu > 0:
        why = ("extrapolating T*(N) needs 1/ν > 0 from a Binder transition, and "
               + (f"the Binder method named none ({fp.reason})" if not fp.found else
                  f"its 1/ν is {inv_nu:.3g}"))
        rows.append(_estimate("chi_peak", "T_c", NAN, NAN, why))
        return rows, table
    T_peaks = [peaks[j].T for j in idx]
    tc = _extrapolate(sizes, T_peaks, T_err[idx], inv_nu)
    # each redraw's peaks with a redraw of the Binder 1/ν (the lever arm of the extrapolation);
    # a redraw whose 1/ν is not positive has no extrapolation
    nus = np.asarray(inv_nu_draws, float)
    nus = np.where(nus > 0, nus, NAN) if nus.size else np.full(n_boot, inv_nu)
    tc_err = _half68([_extrapolate(sizes, pos_d[k, idx], T_err[idx], nus[k % nus.size])
                      for k in range(n_boot)])
    if len(sizes) >= 3:     # corrections to scaling: the shift when the smallest size is dropped
        tc_err = float(np.hypot(tc_err, tc - _extrapolate(sizes[1:], T_peaks[1:],
                                                          T_err[idx][1:], inv_nu)))
    # a vertex through three grid points can sit up to half a spacing from the true maximum
    tc_err = float(np.hypot(tc_err, 0.5 * np.median(np.diff(X.T))))
    rows.append(_estimate("chi_peak", "T_c", tc, tc_err, "",
                          note="T*(N) = T_c + a N^(-1/ν), 1/ν from the Binder method; the error "
                               "holds the redraws of the peaks and of 1/ν, the shift when the "
                               "smallest size is dropped and half a grid spacing"))
    return rows, table


# ----------------------------------------------------------------------------- τ slope
def _tau_slopes(tau: dec.SizeCurves, values, rows, weights):
    lnN = np.log(tau.N)
    s = np.full(rows.size, NAN)
    for k, i in enumerate(rows):
        v = values[i]
        ok = v > 0
        w = None if weights is None else weights[k][ok]
        if w is not None and np.count_nonzero(w) < 2:
            w = None
        if ok.sum() >= 2:
            s[k] = weighted_line(lnN[ok], np.log(v[ok]), w)[0]
    return s


def _onset(grid, s, threshold):
    """First temperature where ``s`` falls through ``threshold`` (``(T, reason)``)."""
    above = s >= threshold
    for i in range(grid.size - 1):
        if np.isfinite(s[i]) and np.isfinite(s[i + 1]) and above[i] and not above[i + 1]:
            return float(interpolate_crossing(grid[i], s[i], grid[i + 1], s[i + 1],
                                              threshold)), ""
    fin = s[np.isfinite(s)]
    if fin.size == 0:
        return NAN, "no temperature with a positive τ at two sizes"
    if np.all(fin >= threshold):
        return NAN, (f"d ln τ/d ln N ≥ {threshold:g} on the whole grid "
                     f"[{grid[0]:.4g}, {grid[-1]:.4g}]: the onset lies above it, if anywhere")
    if np.all(fin < threshold):
        return NAN, (f"d ln τ/d ln N < {threshold:g} on the whole grid "
                     f"[{grid[0]:.4g}, {grid[-1]:.4g}]: no τ ∝ N regime on it")
    return NAN, f"d ln τ/d ln N rises through {threshold:g} but never falls through it"


def _tau_rows(rng, Tau: dec.SizeCurves, *, threshold, n_boot):
    note = f"first T where d ln τ/d ln N falls through {threshold:g}: an onset, not a T_c"
    if Tau.N.size < 2:
        why = f"needs τ curves at two sizes or more (got {Tau.N.size})"
        return [_estimate("tau_slope", "T_onset", NAN, NAN, why, note=note)], []
    rows = np.flatnonzero(np.all(np.isfinite(Tau.value), axis=1))
    if rows.size < 2:
        why = "fewer than two temperatures common to all sizes"
        return [_estimate("tau_slope", "T_onset", NAN, NAN, why, note=note)], []
    grid = Tau.T[rows]
    weights = None
    if _has_errors(Tau):
        v, e = Tau.value[rows], Tau.error[rows]
        with np.errstate(divide="ignore", invalid="ignore"):
            weights = np.where((v > 0) & (e > 0), (v / e) ** 2, 0.0)
    s0 = _tau_slopes(Tau, Tau.value, rows, weights)
    D = dec.draws(rng, Tau, n_boot)
    sd = np.array([_tau_slopes(Tau, x, rows, weights) for x in D])
    slopes = [dict(T=float(t), slope=float(a), slope_err=_std(sd[:, j]))
              for j, (t, a) in enumerate(zip(grid, s0))]
    tc, why = _onset(grid, s0, threshold)
    tc_err = _std([_onset(grid, d, threshold)[0] for d in sd]) if weights is not None else NAN
    if np.isfinite(tc) and weights is None:
        why = "no error bars given: error unavailable"
    return [_estimate("tau_slope", "T_onset", tc, tc_err, why, note=note)], slopes


# ----------------------------------------------------------------------------- all
def _normalise(curves, names) -> dict:
    if isinstance(curves, Mapping):
        out = {}
        for name in names:
            c = curves.get(name)
            if c is None:
                c = dec.SizeCurves(np.zeros(0), np.zeros(0, int), np.zeros((0, 0)),
                                   np.zeros((0, 0)), None)
            elif not isinstance(c, dec.SizeCurves):
                raise TypeError(f"curves[{name!r}] must be a SizeCurves; got "
                                f"{type(c).__name__}")
            out[name] = c
        return out
    rows = list(curves)
    return {name: curves_from_rows(rows, name) for name in names}


def scaling_analysis(key, curves, *, binder: str = "binder_connected",
                     susceptibility: str = "susceptibility", tau: str = "tau",
                     xi: str = "xi_over_N", alpha: float = dec.ALPHA,
                     peak_alpha: float = dec.PEAK_ALPHA, n_boot: int = 200,
                     threshold: float = 0.5, collapse_boot: int = 50,
                     collapse_window: int | None = COLLAPSE_WINDOW) -> dict:
    """Every method's decision, ``T_c`` and exponents with errors (module docstring).

    Args:
      key: JAX PRNG key of the redraws.
      curves: ``{observable: SizeCurves}`` (:func:`curves_from_statistics`) or tidy rows.
      binder, susceptibility, tau, xi: names of ``U₄``, ``χ``, ``τ`` and ``ξ/N``.
      alpha: family-wise level of each one-sided test of a crossing.
      peak_alpha: family-wise level of each size's peak test.
      n_boot: redraws for the errors.
      threshold: the slope ``d ln τ/d ln N`` that defines the onset (``1/2``).
      collapse_boot: redraws of the collapse (at most ``n_boot``).
      collapse_window: grid temperatures on each side of the Binder crossing the collapse is
        fitted on (:func:`critical_window`); None: the whole grid.

    Returns:
      ``{"estimates": rows, "crossings": …, "chi_peaks": …, "tau_slopes": …, "sizes": …,
      "collapse": …}``. ``estimates`` has one row per ``(method, quantity)`` —
      ``binder_crossing``: ``T_c``, ``binder_at_T_c``, ``one_over_nu``; ``xi_crossing``:
      ``T_c``, ``xi_over_N_at_T_c``; ``chi_peak``: ``gamma_over_nu``, ``T_c``;
      ``binder_collapse``: ``T_c``, ``one_over_nu``, ``quality``; ``tau_slope``: ``T_onset``
      — with ``value``, ``error`` and a ``reason`` that is non-empty exactly when the value is
      ``nan``. A method names a transition exactly when its ``T_c`` is finite.
    """
    rng = numpy_rng(key)
    data = _normalise(curves, (binder, susceptibility, tau, xi))
    B, X, Tau, Xi = data[binder], data[susceptibility], data[tau], data[xi]
    est: list = []
    crossings: dict = {}

    fp, inv_nu, inv_nu_err, inv_nu_draws = _binder(rng, B, alpha=alpha, n_boot=n_boot,
                                                   name=binder)
    crossings["binder_crossing"] = fp.crossings
    est += _crossing_rows("binder_crossing", fp, "binder_at_T_c", ("one_over_nu",))
    if fp.found:
        why = "" if np.isfinite(inv_nu) else "dU₄/dT at T_c does not have one sign across sizes"
        est.append(_estimate("binder_crossing", "one_over_nu", inv_nu, inv_nu_err, why))

    if Xi.N.size >= 2:
        fx = dec.fixed_point(rng, Xi, alpha=alpha, n_draws=n_boot, name="the ξ/N curves")
    else:
        fx = dec.FixedPoint(False, NAN, NAN, NAN, NAN, NAN, NAN, (),
                            f"needs ξ/N curves at two sizes or more (got {Xi.N.size})")
    crossings["xi_crossing"] = fx.crossings
    est += _crossing_rows("xi_crossing", fx, "xi_over_N_at_T_c")

    chi_rows, chi_table = _chi_rows(rng, X, fp, inv_nu, alpha=peak_alpha, n_boot=n_boot,
                                    inv_nu_draws=inv_nu_draws)
    est += chi_rows

    tau_rows, slopes = _tau_rows(rng, Tau, threshold=threshold, n_boot=n_boot)
    est += tau_rows

    col = _collapse(rng, B, fp, inv_nu, n_boot=min(n_boot, collapse_boot),
                    n_window=collapse_window)
    note = f"{binder} = f((T - T_c) N^(1/ν)); quality S ≈ 1 for a collapse within errors"
    for q in ("T_c", "one_over_nu", "quality"):
        value = col[q]
        error = col["quality_err" if q == "quality" else f"{q}_err"]
        reason = col["reason"] if not np.isfinite(col["T_c"]) else ""
        est.append(_estimate("binder_collapse", q, value, error, reason, note=note))
    sizes = sorted({int(n) for c in data.values() for n in c.N})
    return dict(estimates=est, crossings=crossings, chi_peaks=chi_table, tau_slopes=slopes,
                sizes=sizes, collapse=col)


def critical_window(T, T_start: float, n_window: int,
                    span: float = COLLAPSE_SPAN) -> tuple[float, float]:
    """``(T_lo, T_hi)``, the critical region a collapse is fitted on: the ``n_window`` grid
    temperatures on each side of ``T_start`` (fewer at an edge of the grid), widened to every
    grid temperature within ``T_start (1 ± span)`` (so a fine grid still gives the fit a range
    of the scaling variable)."""
    T = np.sort(np.asarray(T, float))
    below, above = T[T <= T_start][-n_window:], T[T > T_start][:n_window]
    lo = min(float(below[0]) if below.size else float(T[0]), T_start * (1.0 - span))
    hi = max(float(above[-1]) if above.size else float(T[-1]), T_start * (1.0 + span))
    return lo, hi


def _collapse(rng, B: dec.SizeCurves, fp: dec.FixedPoint, inv_nu: float, *, n_boot: int,
              n_window: int | None = COLLAPSE_WINDOW):
    blank = dict(T_c=NAN, T_c_err=NAN, one_over_nu=NAN, one_over_nu_err=NAN, quality=NAN,
                 quality_err=NAN)
    if not fp.found:
        return dict(blank, reason="no start: a collapse starts only from a Binder transition, "
                    f"and the Binder method named none ({fp.reason})")
    lo, hi = (critical_window(B.T, fp.T, n_window) if n_window
              else (float(B.T[0]), float(B.T[-1])))
    keep = np.isfinite(B.value) & ((B.T >= lo) & (B.T <= hi))[:, None]
    curves = {int(N): (B.T[keep[:, j]], B.value[keep[:, j], j], B.error[keep[:, j], j])
              for j, N in enumerate(B.N)}
    D = dec.draws(rng, B, n_boot)
    redraws = [{int(N): x[keep[:, j], j] for j, N in enumerate(B.N)} for x in D]
    start = dict(T_c0=fp.T, inv_nu0=inv_nu if np.isfinite(inv_nu) and inv_nu > 0 else 1.0)
    # the curves are read through monotone cubics between grid points (straight lines bias a
    # steep large size on a coarse grid, and at high statistics no straight-line collapse
    # holds); the redraws are refitted with straight lines, far cheaper, for the spread
    lin = collapse_curves(curves, redraws=redraws, max_quality=np.inf, **start)
    if np.isfinite(lin["T_c"]):
        start = dict(T_c0=lin["T_c"], inv_nu0=lin["one_over_nu"])
    col = collapse_curves(curves, cubic=True, starts=() if np.isfinite(lin["T_c"])
                          else START_INV_NU, **start)
    col.update(T_c_start=float(fp.T), T_window=(lo, hi))
    if not np.isfinite(col["T_c"]):
        return col
    # the error: the redraws' spread, the shift from straight lines (the grid's resolution),
    # the shift when the smallest size is left out (corrections to scaling), and the distance
    # from the crossing it started from
    sub = collapse_curves({N: c for N, c in curves.items() if N != min(curves)}, cubic=True,
                          T_c0=col["T_c"], inv_nu0=col["one_over_nu"], starts=()) \
        if len(curves) >= 3 else None
    for q in ("T_c", "one_over_nu"):
        parts = [lin[f"{q}_err"], col[q] - lin[q]]
        if sub is not None and np.isfinite(sub[q]):
            parts.append(col[q] - sub[q])
        if q == "T_c":
            parts.append(col["T_c"] - fp.T)
        parts = np.asarray(parts, float)
        col[f"{q}_err"] = float(np.sqrt(np.sum(parts**2))) if np.all(np.isfinite(parts)) \
            else NAN
    col["quality_err"] = lin["quality_err"]
    return col


def transitions(result: dict) -> dict:
    """``{method: T_c or nan}`` for the methods that can name a transition."""
    out = {m: NAN for m in TRANSITION_METHODS}
    for r in result["estimates"]:
        if r["quantity"] == "T_c" and r["method"] in out:
            out[r["method"]] = r["value"]
    return out
