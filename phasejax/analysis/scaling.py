"""Finite-size scaling in the sequence length ``N`` from curves on a temperature grid.

:mod:`phasejax.analysis.fss` reweights Boltzmann samples to any temperature. Autoregressive sampling
of a language model at temperature ``T`` is *not* Boltzmann in the sequence log-probability,
so reweighting does not apply to the model side: its curves exist only at the sampled
temperatures and are interpolated linearly between them. Everything here works on such curves,
``{N: (T, value, stderr)}`` per observable (or tidy rows, see :func:`curves_from_rows`), from
the model or from a toy alike.

Methods (:func:`scaling_analysis` runs all four):

* **Binder crossing.** ``U₄(T; N₁)`` and ``U₄(T; N₂)`` cross near ``T_c``; the estimate is the
  crossing of the two largest sizes (:func:`binder_crossings` lists every consecutive pair).
  ``1/ν`` from ``dU₄/dT |_{T_c} ∝ N^{1/ν}``: the slope of each size's curve is a weighted
  straight line through its ``n_local`` grid points nearest ``T_c`` (biased low where the curve
  bends inside that window — keep the grid fine against ``N^{-1/ν}``), the exponent a log–log
  fit over sizes.
* **χ-peak scaling.** ``χ_max(N) ∝ N^{γ/ν}``; a peak is the vertex of the parabola through the
  largest grid value and its two neighbours (a peak on the edge of the grid is no peak). The
  peak positions ``T*(N) = T_c + a N^{-1/ν}`` extrapolate to ``T_c``, with ``1/ν`` taken from
  the Binder method.
* **Onset of τ ∝ N.** ``s(T) = d ln τ / d ln N``, the weighted least-squares slope of ``ln τ``
  against ``ln N`` at each temperature common to all sizes. Where the sequence orders,
  ``τ = N Var(m)`` grows like ``N`` (``s = 1``); where it does not, ``τ`` saturates at a finite
  sum of correlations (``s → 0``). ``T_c^τ`` is where ``s(T)`` first falls through ``1/2`` as
  ``T`` increases (linear interpolation between grid points). This is an *operational*
  definition: the threshold ``1/2`` is a convention and the crossing drifts with the sizes
  used; unlike a Binder crossing it is not a fixed point of the scaling.
* **Collapse.** ``U₄(T; N) = f((T − T_c) N^{1/ν})``: ``(T_c, 1/ν)`` that draw every size's
  Binder curve on one function, started from the crossing (else the τ onset), with the
  Houdayer–Hartmann quality ``S`` (:mod:`phasejax.analysis.collapse`); ``S ≫ 1`` is reported as
  no collapse.

Errors are a parametric bootstrap: every grid value is redrawn as ``value + stderr·z``
(``z ~ N(0, 1)`` independent across temperatures and sizes) and the whole analysis repeated;
an error is the standard deviation over the draws that produced a value. Independence holds
when each ``(N, T)`` was sampled separately; when shorter lengths are prefixes of the same
generated sequences the sizes are correlated and the errors are approximate. A method that
finds nothing returns ``nan`` with a reason string, never a made-up value.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from phasejax.analysis.collapse import collapse_curves
from phasejax.analysis.fits import interpolate_crossing, loglog_fit, weighted_line

NAN = float("nan")


# ----------------------------------------------------------------------------- crossings
def _best_crossing(Ta, Ua, Tb, Ub, ea=None, eb=None, window: int = 5):
    """``(T_×, significance)`` where ``U_b − U_a`` changes sign, or ``(None, 0)``.

    ``d = U_b − U_a`` on the common grid; every sign change (linear interpolation) and exact
    zero is a candidate. Noise makes saturated curves (both at ``2/3`` deep in an ordered phase)
    touch and cross at random, so the candidate kept is the one with the strongest matched
    filter ``|Σ_after d/σ − Σ_before d/σ|`` over ``window`` grid points on each side
    (``σ² = e_a² + e_b²``, or 1 without errors); ``significance`` is that score over
    ``√(points used)`` — about 1 for a crossing made by noise, large for a real one.
    """
    grid = np.intersect1d(Ta, Tb)
    d = np.interp(grid, Tb, Ub) - np.interp(grid, Ta, Ua)
    if ea is not None and eb is not None:
        sig = np.sqrt(np.interp(grid, Ta, np.nan_to_num(ea)) ** 2
                      + np.interp(grid, Tb, np.nan_to_num(eb)) ** 2)
        sig = np.where(sig > 0, sig, np.inf) if np.any(sig > 0) else np.ones_like(d)
    else:
        sig = np.ones_like(d)
    z = d / sig
    cands = []                                      # (T, before slice, after slice)
    for i in np.flatnonzero(d == 0):
        cands.append((float(grid[i]), slice(max(0, i - window), i), slice(i + 1, i + 1 + window)))
    for i in np.flatnonzero(np.sign(d[:-1]) * np.sign(d[1:]) < 0):
        t = float(interpolate_crossing(grid[i], d[i], grid[i + 1], d[i + 1]))
        cands.append((t, slice(max(0, i + 1 - window), i + 1), slice(i + 1, i + 1 + window)))
    if not cands:
        return None, 0.0
    scores = [(abs(z[a].sum() - z[b].sum()), np.sqrt(max(1, z[a].size + z[b].size)))
              for _, b, a in cands]
    k = int(np.argmax([sc for sc, _ in scores]))
    return cands[k][0], float(scores[k][0] / scores[k][1])


def _crossing(Ta, Ua, Tb, Ub, ea=None, eb=None):
    return _best_crossing(Ta, Ua, Tb, Ub, ea, eb)[0]


def binder_crossings(curves: dict, n_boot: int = 200, seed: int = 0) -> list[dict]:
    """``{N: (T, U₄[, error])}`` → where consecutive sizes' Binder curves cross (linear
    interpolation), with an error from redrawing every point within its error bar.

    A crossing is the finite-size estimate of a transition temperature; none is reported when
    the curves do not cross on the grid (as for a one-dimensional chain, which has no
    transition at ``T > 0``). ``found`` is the fraction of redraws that cross at all; with
    several sign changes the strongest is kept and ``significance`` says how far it stands
    out of the noise (see :func:`_best_crossing`).
    """
    rng = np.random.default_rng(seed)
    sizes = sorted(curves)
    out = []
    for a, b in zip(sizes, sizes[1:]):
        (Ta, Ua, ea), (Tb, Ub, eb) = ((np.asarray(c[0]), np.asarray(c[1]),
                                       np.nan_to_num(np.asarray(c[2])) if len(c) > 2 else
                                       np.zeros(len(c[1]))) for c in (curves[a], curves[b]))
        T_cross, significance = _best_crossing(Ta, Ua, Tb, Ub, ea, eb)
        err, found = None, None
        if np.any(ea > 0) or np.any(eb > 0):
            draws = [_crossing(Ta, Ua + ea * rng.standard_normal(Ua.size), Tb,
                               Ub + eb * rng.standard_normal(Ub.size), ea, eb)
                     for _ in range(n_boot)]
            hits = [t for t in draws if t is not None]
            found = len(hits) / n_boot
            if T_cross is not None and len(hits) >= 2:
                err = float(np.std(hits, ddof=1))
        out.append(dict(N1=int(a), N2=int(b), T_cross=T_cross, T_cross_err=err, found=found,
                        significance=significance))
    return out


def peak_scaling(rows: Sequence[dict], observable: str = "susceptibility") -> dict:
    """Peak of ``observable(T)`` per size and the slope of ``ln peak`` against ``ln N``
    (the exponent ratio, e.g. ``γ/ν`` for ``χ``), with its least-squares error."""
    sizes = sorted({int(float(r["L"])) for r in rows if r["observable"] == observable})
    peaks = []
    for N in sizes:
        sel = [r for r in rows if r["observable"] == observable and int(float(r["L"])) == N
               and np.isfinite(float(r["mean"]))]
        if sel:
            best = max(sel, key=lambda r: float(r["mean"]))
            peaks.append(dict(N=N, T_peak=float(best["T"]), peak=float(best["mean"])))
    out = dict(observable=observable, peaks=peaks, slope=None, slope_err=None)
    good = [p for p in peaks if p["peak"] > 0]
    if len(good) >= 2:
        x = np.log([p["N"] for p in good])
        y = np.log([p["peak"] for p in good])
        if len(good) >= 3:
            coef, cov = np.polyfit(x, y, 1, cov=True)
            out.update(slope=float(coef[0]), slope_err=float(np.sqrt(cov[0, 0])))
        else:
            out.update(slope=float((y[1] - y[0]) / (x[1] - x[0])))
    return out


# ----------------------------------------------------------------------------- curves
def curves_from_rows(rows: Sequence[dict], observable: str) -> dict:
    """``{N: (T, mean, stderr)}`` (sorted by ``T``) of one observable from tidy rows.

    The size is the row's ``N`` or else its ``L``; rows with a ``prompt`` other than ``"all"``
    (per-prompt rows of the probe) and non-finite means are skipped; a missing error is
    ``nan``. Sizes with fewer than two temperatures are dropped.
    """
    by_size: dict = {}
    for r in rows:
        if r.get("observable") != observable or r.get("prompt", "all") != "all":
            continue
        mean = float(r["mean"])
        if not np.isfinite(mean):
            continue
        N = int(float(r["N"] if "N" in r else r["L"]))
        err = r.get("stderr")
        err = NAN if err is None or err == "" else float(err)
        by_size.setdefault(N, []).append((float(r["T"]), mean, err))
    out = {}
    for N, pts in sorted(by_size.items()):
        pts.sort()
        if len(pts) >= 2:
            T, v, e = (np.array(c, float) for c in zip(*pts))
            out[N] = (T, v, e)
    return out


def _normalise(curves, names) -> dict:
    if isinstance(curves, Mapping):
        out = {}
        for name in names:
            per = curves.get(name) or {}
            out[name] = {int(N): tuple(np.asarray(c, float) for c in
                                       (c[0], c[1], c[2] if len(c) > 2 else
                                        np.full(len(c[1]), NAN)))
                         for N, c in per.items()}
        return out
    rows = list(curves)
    return {name: curves_from_rows(rows, name) for name in names}


def _has_errors(curves: dict) -> bool:
    """Every error finite and some positive (an exactly known point may have error 0)."""
    return (bool(curves) and all(np.all(np.isfinite(e)) for _, _, e in curves.values())
            and any(np.any(e > 0) for _, _, e in curves.values()))


def _draw(rng, curves: dict) -> dict:
    return {N: (T, v + np.nan_to_num(e) * rng.standard_normal(v.size), e)
            for N, (T, v, e) in curves.items()}


def _std(values) -> float:
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    return float(np.std(v, ddof=1)) if v.size >= 2 else NAN


def _estimate(method, quantity, value, error, reason="", **extra):
    return dict(method=method, quantity=quantity, value=float(value), error=float(error),
                reason=reason, **extra)


# ----------------------------------------------------------------------------- Binder
def _local_slope(T, U, e, t, n_local):
    """Slope (and error) of a weighted line through the ``n_local`` points nearest ``t``."""
    idx = np.sort(np.argsort(np.abs(T - t))[:max(2, n_local)])
    ee = e[idx]
    w = 1.0 / ee**2 if np.all(np.isfinite(ee) & (ee > 0)) else None
    a, _, cov, _ = weighted_line(T[idx], U[idx], w)
    # weights spanning many decades make the normal equations ill-conditioned: a variance that
    # comes out ≤ 0 is no error estimate
    var = float(cov[0, 0])
    return a, float(np.sqrt(var)) if w is not None and var > 0 else NAN


def _binder_point(B: dict, n_local: int, min_significance: float = 0.0):
    """``(T_c, U₄(T_c), 1/ν, slopes)`` from the two largest sizes' crossing."""
    sizes = sorted(B)
    (Ta, Ua, ea), (Tb, Ub, eb) = B[sizes[-2]], B[sizes[-1]]
    t, significance = _best_crossing(Ta, Ua, Tb, Ub, ea, eb)
    if t is None or significance < min_significance:
        return NAN, NAN, NAN, []
    u = float(np.interp(t, Tb, Ub))
    slopes = [_local_slope(T, U, e, t, n_local) for T, U, e in (B[N] for N in sizes)]
    s = np.array([a for a, _ in slopes])
    se = np.array([b for _, b in slopes])
    if not (np.all(s < 0) or np.all(s > 0)):
        return t, u, NAN, slopes
    fit = loglog_fit(x=sizes, y=np.abs(s), yerr=se if np.all(np.isfinite(se)) else None)
    return t, u, fit.exponent, slopes


# ----------------------------------------------------------------------------- χ peaks
def _peak(T, y):
    """``(T*, y*)``: vertex of the parabola through the grid maximum and its neighbours;
    ``nan`` if the maximum lies on the edge of the grid."""
    if not np.any(np.isfinite(y)):
        return NAN, NAN
    i = int(np.nanargmax(y))
    if i == 0 or i == y.size - 1:
        return NAN, NAN
    c2, c1, c0 = np.polyfit(T[i - 1:i + 2], y[i - 1:i + 2], 2)
    if not c2 < 0:
        return float(T[i]), float(y[i])
    t = float(np.clip(-c1 / (2 * c2), T[i - 1], T[i + 1]))
    return t, float(c0 + c1 * t + c2 * t * t)


def _extrapolate(sizes, T_peak, T_err, inv_nu):
    """Intercept of ``T*(N) = T_c + a N^{-1/ν}``."""
    x = np.asarray(sizes, float) ** (-inv_nu)
    T_peak, T_err = np.asarray(T_peak, float), np.asarray(T_err, float)
    ok = np.isfinite(T_peak)
    if ok.sum() < 2 or not np.isfinite(inv_nu):
        return NAN
    w = 1.0 / T_err[ok] ** 2 if np.all(np.isfinite(T_err[ok]) & (T_err[ok] > 0)) else None
    return weighted_line(x[ok], T_peak[ok], w)[1]


# ----------------------------------------------------------------------------- τ onset
def _tau_slopes(tau: dict, grid, weights):
    sizes = sorted(tau)
    lnN = np.log(sizes)
    s = np.full(grid.size, NAN)
    for j, t in enumerate(grid):
        v = np.array([np.interp(t, tau[N][0], tau[N][1]) for N in sizes])
        ok = v > 0
        w = None if weights is None else weights[j][ok]
        if w is not None and np.count_nonzero(w) < 2:
            w = None
        if ok.sum() >= 2:
            s[j] = weighted_line(lnN[ok], np.log(v[ok]), w)[0]
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
                     f"[{grid[0]:.4g}, {grid[-1]:.4g}]: no ordered (τ ∝ N) regime on it")
    return NAN, f"d ln τ/d ln N rises through {threshold:g} but never falls through it"


# ----------------------------------------------------------------------------- all
def scaling_analysis(curves, *, seed: int = 0, n_boot: int = 200, binder: str = "binder",
                     susceptibility: str = "susceptibility", tau: str = "tau",
                     threshold: float = 0.5, n_local: int = 5,
                     min_significance: float = 3.0, collapse_boot: int = 50) -> dict:
    """``T_c`` by every method, exponents, and the evidence, with bootstrap errors.

    Args:
      curves: tidy rows (``N`` or ``L``, ``T``, ``observable``, ``mean``, ``stderr``; e.g.
        from :func:`phasejax.analysis.sequences.statistics_rows` or the probe) or a mapping
        ``{observable: {N: (T, mean, stderr)}}``.
      seed: seed of the parametric bootstrap.
      n_boot: bootstrap draws.
      binder, susceptibility, tau: observable names of ``U₄``, ``χ`` and ``τ``.
      threshold: the slope ``d ln τ/d ln N`` that defines the ``τ`` onset (``1/2``).
      n_local: grid points per size in the local slope ``dU₄/dT`` at ``T_c``.
      min_significance: a Binder crossing (of curves with errors) counts only if its matched
        filter stands this many standard deviations out of the noise (see
        :func:`binder_crossings`); weaker crossings are reported as none.
      collapse_boot: bootstrap draws of the Binder collapse (at most ``n_boot``).

    Returns:
      ``{"estimates": rows, "binder_crossings": …, "chi_peaks": …, "tau_slopes": …,
      "sizes": …, "collapse": …}``. ``estimates`` has one row per ``(method, quantity)`` —
      ``binder_crossing``: ``T_c``, ``binder_at_T_c``, ``one_over_nu``; ``chi_peak``:
      ``gamma_over_nu``, ``T_c``; ``tau_onset``: ``T_c``; ``binder_collapse``: ``T_c``,
      ``one_over_nu``, ``quality`` (:func:`phasejax.analysis.collapse.collapse_curves`,
      started from the crossing, else the τ onset) — with ``value``, ``error`` and a
      ``reason`` that is non-empty exactly when the value is ``nan`` (no crossing, peak on the
      grid edge, too few sizes, …) or the error is unavailable.
    """
    data = _normalise(curves, (binder, susceptibility, tau))
    B, X, Tau = data[binder], data[susceptibility], data[tau]
    rng = np.random.default_rng(seed)
    est: list = []
    sizes = sorted(set(B) | set(X) | set(Tau))

    # --- Binder crossing
    crossings = binder_crossings({N: c for N, c in B.items()}, n_boot=n_boot, seed=seed) \
        if len(B) >= 2 else []
    inv_nu = NAN
    if len(B) < 2:
        why = f"needs {binder!r} curves at two sizes or more (got {len(B)})"
        for q in ("T_c", "binder_at_T_c", "one_over_nu"):
            est.append(_estimate("binder_crossing", q, NAN, NAN, why))
    else:
        a, b = sorted(B)[-2:]
        (Ta, Ua, ea), (Tb, Ub, eb) = B[a], B[b]
        t_best, significance = _best_crossing(Ta, Ua, Tb, Ub, ea, eb)
        need = min_significance if _has_errors(B) else 0.0
        t0, u0, inv_nu, _ = _binder_point(B, n_local, need)
        draws = np.array([_binder_point(_draw(rng, B), n_local)[:3] for _ in range(n_boot)])
        found = float(np.mean(np.isfinite(draws[:, 0])))
        errs = [_std(draws[:, k]) if _has_errors(B) else NAN for k in range(3)]
        noerr = "" if _has_errors(B) else "no error bars given: error unavailable"
        if not np.isfinite(t0):
            lo, hi = max(B[a][0][0], B[b][0][0]), min(B[a][0][-1], B[b][0][-1])
            why = (f"the Binder curves of N={a} and N={b} do not cross on "
                   f"T ∈ [{lo:.4g}, {hi:.4g}]") if t_best is None else (
                   f"the Binder curves of N={a} and N={b} touch only within their errors "
                   f"(strongest crossing T={t_best:.4g}, significance {significance:.2g} < "
                   f"{min_significance:g})")
            for q in ("T_c", "binder_at_T_c", "one_over_nu"):
                est.append(_estimate("binder_crossing", q, NAN, NAN, why, found=found))
        else:
            est.append(_estimate("binder_crossing", "T_c", t0, errs[0], noerr, found=found,
                                 sizes=f"{a},{b}"))
            est.append(_estimate("binder_crossing", "binder_at_T_c", u0, errs[1], noerr,
                                 found=found, sizes=f"{a},{b}"))
            why = noerr if np.isfinite(inv_nu) else \
                "dU₄/dT at T_c does not have one sign across sizes"
            est.append(_estimate("binder_crossing", "one_over_nu", inv_nu, errs[2], why,
                                 found=found))

    # --- χ peaks
    chi_peaks: list = []
    if len(X) < 2:
        why = f"needs {susceptibility!r} curves at two sizes or more (got {len(X)})"
        est.append(_estimate("chi_peak", "gamma_over_nu", NAN, NAN, why))
        est.append(_estimate("chi_peak", "T_c", NAN, NAN, why))
    else:
        xs = sorted(X)
        p0 = np.array([_peak(X[N][0], X[N][1]) for N in xs])
        pd = np.array([[_peak(T, v) for T, v, _ in _draw(rng, X).values()]
                       for _ in range(n_boot)])                       # (n_boot, sizes, 2)
        T_err = np.array([_std(pd[:, i, 0]) for i in range(len(xs))])
        v_err = np.array([_std(pd[:, i, 1]) for i in range(len(xs))])
        for i, N in enumerate(xs):
            chi_peaks.append(dict(N=N, T_peak=float(p0[i, 0]), T_peak_err=float(T_err[i]),
                                  peak=float(p0[i, 1]), peak_err=float(v_err[i]),
                                  reason="" if np.isfinite(p0[i, 0]) else
                                  "the maximum lies on the edge of the temperature grid"))
        yerr = v_err if _has_errors(X) else None   # sizes without a peak drop out of the fit
        fit = lambda v: loglog_fit(x=xs, y=v, yerr=yerr).exponent
        g0 = fit(p0[:, 1])
        g_err = _std([fit(d[:, 1]) for d in pd]) if _has_errors(X) else NAN
        n_ok = int(np.isfinite(p0[:, 1]).sum())
        why = "" if np.isfinite(g0) else \
            f"needs interior peaks at two sizes or more (got {n_ok})"
        est.append(_estimate("chi_peak", "gamma_over_nu", g0, g_err, why))
        if not np.isfinite(inv_nu):
            est.append(_estimate("chi_peak", "T_c", NAN, NAN,
                                 "extrapolating T*(N) needs 1/ν from a Binder crossing"))
        else:
            tc = _extrapolate(xs, p0[:, 0], T_err, inv_nu)
            tc_err = (_std([_extrapolate(xs, d[:, 0], T_err, inv_nu) for d in pd])
                      if _has_errors(X) else NAN)
            why = "" if np.isfinite(tc) else f"needs interior peaks at two sizes (got {n_ok})"
            est.append(_estimate("chi_peak", "T_c", tc, tc_err, why,
                                 note="T*(N) = T_c + a N^(-1/ν), 1/ν from the Binder method"))

    # --- τ onset
    slopes_rows: list = []
    if len(Tau) < 2:
        est.append(_estimate("tau_onset", "T_c", NAN, NAN,
                             f"needs {tau!r} curves at two sizes or more (got {len(Tau)})"))
    else:
        ts = sorted(Tau)
        grid = Tau[ts[0]][0]
        for N in ts[1:]:
            grid = np.intersect1d(grid, Tau[N][0])
        if grid.size < 2:
            est.append(_estimate("tau_onset", "T_c", NAN, NAN,
                                 "fewer than two temperatures common to all sizes"))
        else:
            weights = None
            if _has_errors(Tau):
                v = np.array([[np.interp(t, Tau[N][0], Tau[N][1]) for N in ts] for t in grid])
                e = np.array([[np.interp(t, Tau[N][0], Tau[N][2]) for N in ts] for t in grid])
                with np.errstate(divide="ignore", invalid="ignore"):
                    weights = np.where((v > 0) & (e > 0), (v / e) ** 2, 0.0)
            s0 = _tau_slopes(Tau, grid, weights)
            sd = np.array([_tau_slopes(_draw(rng, Tau), grid, weights) for _ in range(n_boot)])
            s_err = np.array([_std(sd[:, j]) for j in range(grid.size)])
            slopes_rows = [dict(T=float(t), slope=float(a), slope_err=float(b))
                           for t, a, b in zip(grid, s0, s_err)]
            tc, why = _onset(grid, s0, threshold)
            tc_err = _std([_onset(grid, d, threshold)[0] for d in sd]) if weights is not None \
                else NAN
            if np.isfinite(tc) and weights is None:
                why = "no error bars given: error unavailable"
            est.append(_estimate("tau_onset", "T_c", tc, tc_err, why,
                                 note=f"first T where d ln τ/d ln N falls through {threshold:g}"))
    # --- collapse of the Binder curves, started from the crossing (or the τ onset)
    starts = {r["method"]: r["value"] for r in est if r["quantity"] == "T_c"}
    t_start = starts.get("binder_crossing", NAN)
    if not np.isfinite(t_start):
        t_start = starts.get("tau_onset", NAN)
    nu_start = inv_nu if np.isfinite(inv_nu) and inv_nu > 0 else 1.0
    col = collapse_curves(B, T_c0=t_start, inv_nu0=nu_start, n_boot=min(n_boot, collapse_boot),
                          seed=seed)
    col.update(T_c_start=float(t_start), one_over_nu_start=float(nu_start))
    why = col["reason"] or ("" if _has_errors(B) else "no error bars given")
    note = f"{binder} = f((T - T_c) N^(1/ν)); quality S ≈ 1 for a collapse within errors"
    for q, key in (("T_c", "T_c"), ("one_over_nu", "one_over_nu"), ("quality", "quality")):
        value = col["quality"] if q == "quality" else col[key]
        error = col["quality_err"] if q == "quality" else col[f"{key}_err"]
        reason = "" if q == "quality" and np.isfinite(value) and np.isfinite(error) else why
        est.append(_estimate("binder_collapse", q, value, error, reason, note=note))
    return dict(estimates=est, binder_crossings=crossings, chi_peaks=chi_peaks,
                tau_slopes=slopes_rows, sizes=sizes, collapse=col)
