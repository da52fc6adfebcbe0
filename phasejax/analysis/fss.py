"""Finite-size scaling: critical point, exponents and the order of a transition.

Input: for each linear size ``L`` a :class:`~phasejax.analysis.reweight.Reweighter` built from runs
over a temperature window (observables ``m = <|m|>`` sample, ``m2``, ``m4``). Every curve is
continuous in ``T`` through reweighting, so peaks and crossings fall between simulated points.

* **Binder crossings**: ``U₄(T; L₁) = U₄(T; L₂)`` for neighbouring sizes; ``T_c`` is the
  crossing of the two largest sizes.
* **Peak scaling**: ``χ_max ∝ L^{γ/ν}``, ``max dU₄/dT ∝ L^{1/ν}``, ``<|m|>(T_c) ∝ L^{-β/ν}``
  and ``C_max`` (power laws fitted in log–log by :func:`~phasejax.analysis.fits.loglog_fit`;
  for the 2D Ising model ``C_max`` grows like ``ln L``).
* **Data collapse**: ``<|m|> L^{β/ν}`` against ``(T - T_c) L^{1/ν}`` for all sizes on one
  curve; the quality ``S`` (Houdayer & Hartmann 2004: mean squared distance of each point from
  the other sizes' interpolated curves, in units of the errors) is minimised with scipy.
* **Order**: at the largest size, the energy distribution at the temperature where its two
  peaks have equal height is double-peaked at a first-order transition; the latent heat is the
  distance between the peaks. The minimum of the energy cumulant ``V = 1 - <E⁴>/(3<E²>²)``
  stays below ``2/3`` there and tends to ``2/3`` at a continuous one.

Errors come from a bootstrap over time blocks (every quantity recomputed per resample).
"""

from __future__ import annotations

import warnings
from typing import Dict, List, NamedTuple, Sequence

import numpy as np
from scipy import optimize

from phasejax.analysis import distributions as D
from phasejax.analysis.collapse import quality, scaled_points
from phasejax.analysis.fits import loglog_fit
from phasejax.analysis.reweight import Reweighter

NAN = float("nan")


def derived(avg: Dict[str, np.ndarray], T: np.ndarray, N: int) -> Dict[str, np.ndarray]:
    """Per-site thermodynamic curves from reweighted raw moments of the total energy ``E`` and
    of ``m = |m|`` (formulas in :mod:`phasejax.analysis.distributions`): ``energy`` ``⟨E⟩/N``,
    ``specific_heat`` ``(⟨E²⟩ − ⟨E⟩²)/(N T²)``, ``abs_magnetisation`` ``⟨|m|⟩``,
    ``susceptibility`` ``N(⟨m²⟩ − ⟨|m|⟩²)/T``, ``binder`` ``1 − ⟨m⁴⟩/(3⟨m²⟩²)`` and
    ``energy_binder`` ``V = 1 − ⟨E⁴⟩/(3⟨E²⟩²)``."""
    E, E2, E4 = avg["E"], avg["E2"], avg["E4"]
    m, m2, m4 = avg["m"], avg["m2"], avg["m4"]
    return {
        "energy": E / N,
        "specific_heat": D.specific_heat(E, E2, N=N, T=T),
        "abs_magnetisation": m,
        "susceptibility": D.susceptibility(m2, m, N=N, T=T),
        "binder": D.binder(m2, m4),
        "energy_binder": D.binder(E2, E4),
    }


class SizeData:
    """Reweighting of one lattice size plus its number of sites."""

    def __init__(self, L: int, n_sites: int, T, energy, m, n_blocks: int = 16):
        self.L, self.N = int(L), int(n_sites)
        m = np.asarray(m, np.float64)
        self.rw = Reweighter(T, energy, {"m": m, "m2": m**2, "m4": m**4}, n_blocks=n_blocks)

    @property
    def T_range(self):
        """``(T_min, T_max)`` of the simulated window (reweighting is trusted inside it)."""
        return self.rw.T[0], self.rw.T[-1]

    def curves(self, T, state=None):
        """The :func:`derived` curves at temperatures ``T``, from the full data or from a
        resampled ``state`` of the reweighter (jackknife or bootstrap)."""
        T = np.atleast_1d(np.asarray(T, np.float64))
        return derived(self.rw.averages(T, state), T, self.N)

    def curves_with_errors(self, T):
        """``name -> (mean, jackknife error)`` on the grid ``T``."""
        full = self.curves(T)
        jk = [self.curves(T, s) for s in self.rw.jackknife_states()]
        B = len(jk)
        out = {}
        for k, v in full.items():
            vals = np.stack([j[k] for j in jk])
            out[k] = (v, np.sqrt((B - 1) / B * ((vals - vals.mean(0)) ** 2).sum(0)))
        return out


def _grid(lo, hi, n=400):
    return np.linspace(lo, hi, n)


def peak(size: SizeData, name: str, state=None, sign: float = 1.0):
    """``(T*, value*)`` of the maximum of ``sign * curve`` inside the simulated window."""
    lo, hi = size.T_range
    T = _grid(lo, hi)
    y = sign * size.curves(T, state)[name]
    i = int(np.nanargmax(y))
    if state is None and i in (0, T.size - 1):
        warnings.warn(f"L={size.L}: the {name} peak lies at the edge of the simulated window "
                      f"[{lo:.4g}, {hi:.4g}]; widen the temperature range", stacklevel=2)
    a, b = T[max(i - 1, 0)], T[min(i + 1, T.size - 1)]
    if b > a:
        res = optimize.minimize_scalar(lambda t: -sign * size.curves([t], state)[name][0],
                                       bounds=(a, b), method="bounded",
                                       options={"xatol": 1e-7 * hi})
        return float(res.x), float(sign * -res.fun)
    return float(T[i]), float(y[i])


def max_binder_slope(size: SizeData, state=None):
    """``max_T |dU₄/dT|`` (central differences on a fine grid)."""
    lo, hi = size.T_range
    T = _grid(lo, hi, 800)
    u = size.curves(T, state)["binder"]
    return float(np.max(np.abs(np.gradient(u, T))))


def binder_crossing(a: SizeData, b: SizeData, state_a=None, state_b=None):
    """Temperature where the Binder cumulants of two sizes cross (``nan`` if they do not)."""
    lo = max(a.T_range[0], b.T_range[0])
    hi = min(a.T_range[1], b.T_range[1])
    T = _grid(lo, hi)
    d = a.curves(T, state_a)["binder"] - b.curves(T, state_b)["binder"]
    s = np.sign(d)
    idx = np.nonzero(s[:-1] * s[1:] < 0)[0]
    if idx.size == 0:
        return float("nan"), float("nan")
    # the crossing nearest the middle of the window is the critical one
    i = idx[np.argmin(np.abs(T[idx] - 0.5 * (lo + hi)))]
    f = lambda t: a.curves([t], state_a)["binder"][0] - b.curves([t], state_b)["binder"][0]
    t = optimize.brentq(f, T[i], T[i + 1], xtol=1e-9)
    return float(t), float(a.curves([t], state_a)["binder"][0])


def _quantities(sizes: Sequence[SizeData], states=None) -> Dict[str, float]:
    """Every FSS number from one set of states (``None``: the full data)."""
    states = states or [None] * len(sizes)
    Ls = np.array([s.L for s in sizes], float)
    out: Dict[str, float] = {}
    crossings = [binder_crossing(sizes[i], sizes[i + 1], states[i], states[i + 1])
                 for i in range(len(sizes) - 1)]
    for i, (t, u) in enumerate(crossings):
        out[f"crossing_T_{sizes[i].L}_{sizes[i + 1].L}"] = t
        out[f"crossing_U4_{sizes[i].L}_{sizes[i + 1].L}"] = u
    Tc, U4c = crossings[-1] if crossings else (float("nan"), float("nan"))
    out["T_c"], out["binder_at_T_c"] = Tc, U4c
    chi = [peak(s, "susceptibility", st) for s, st in zip(sizes, states)]
    C = [peak(s, "specific_heat", st) for s, st in zip(sizes, states)]
    slope = [max_binder_slope(s, st) for s, st in zip(sizes, states)]
    for s, (tc, vc), (th, vh), sl in zip(sizes, chi, C, slope):
        out[f"chi_max_{s.L}"], out[f"T_chi_max_{s.L}"] = vc, tc
        out[f"C_max_{s.L}"], out[f"T_C_max_{s.L}"] = vh, th
        out[f"dU4dT_max_{s.L}"] = sl
    if len(sizes) >= 2:
        out["gamma_over_nu"] = loglog_fit(x=Ls, y=[v for _, v in chi]).exponent
        out["one_over_nu"] = loglog_fit(x=Ls, y=slope).exponent
        out["alpha_over_nu"] = loglog_fit(x=Ls, y=[v for _, v in C]).exponent
        if np.isfinite(Tc):
            mags = []
            for s, st in zip(sizes, states):
                lo, hi = s.T_range
                mags.append(s.curves([min(max(Tc, lo), hi)], st)["abs_magnetisation"][0])
            out["beta_over_nu"] = -loglog_fit(x=Ls, y=mags).exponent
        else:
            out["beta_over_nu"] = float("nan")
    return out


def collapse_data(sizes: Sequence[SizeData], Tc0: float, nu0: float, window: float = 1.5,
                  n_points: int = 40):
    """Points for :func:`collapse`: per size ``(L, T, <|m|>, jackknife error)`` on a grid with
    ``|T - T_c| L^{1/ν} <= window`` (starting guesses ``T_c``, ``ν``)."""
    data = []
    for s in sizes:
        lo, hi = s.T_range
        half = window * s.L ** (-1.0 / nu0)
        T = np.linspace(max(lo, Tc0 - half), min(hi, Tc0 + half), n_points)
        ce = s.curves_with_errors(T)["abs_magnetisation"]
        data.append((s.L, T, ce[0], np.maximum(ce[1], 1e-12)))
    return data


def collapse(data, Tc0: float, nu0: float, bnu0: float):
    """Data collapse of ``<|m|>``; returns ``(T_c, ν, β/ν, S_min)``.

    ``data`` comes from :func:`collapse_data`. Points ``x = (T - T_c) L^{1/ν}``,
    ``y = <|m|> L^{β/ν}``; ``S`` is the Houdayer–Hartmann quality
    (:func:`phasejax.analysis.collapse.quality`): ``≈ 1`` for a collapse within errors.
    """

    curves = {L: (T, m, e) for L, T, m, e in data}

    def objective(p):
        Tc, nu, bnu = p
        if nu <= 0.05:
            return 1e9
        S = quality(scaled_points(curves, Tc, 1 / nu, -bnu))
        return S if np.isfinite(S) else 1e9

    res = optimize.minimize(objective, [Tc0, nu0, bnu0], method="Nelder-Mead",
                            options={"xatol": 1e-6, "fatol": 1e-6, "maxiter": 4000})
    Tc, nu, bnu = res.x
    return float(Tc), float(nu), float(bnu), float(res.fun)


def energy_peaks(size: SizeData, T: float, state=None, bins: int = 40,
                 min_separation: int = 4):
    """``(centres, h, peaks)``: the smoothed histogram ``h`` of the energy per site at ``T``
    (``bins`` bins over the range where ``P(e)`` is above ``10⁻⁶`` of its maximum, a Gaussian
    kernel of 1.5 bins) and the indices of its local maxima above 5 % of the highest (maxima
    closer than ``min_separation`` bins are one peak), highest first."""
    e, p = size.rw.energy_distribution(T, state)
    e = e / size.N
    keep = p > 1e-6 * p.max()
    edges = np.linspace(e[keep].min(), e[keep].max() + 1e-12, bins + 1)
    h = np.histogram(e, edges, weights=p)[0]
    kernel = np.exp(-0.5 * (np.arange(-4, 5) / 1.5) ** 2)
    h = np.convolve(h, kernel / kernel.sum(), mode="same")
    centres = 0.5 * (edges[1:] + edges[:-1])
    cand = [k for k in range(1, bins - 1) if h[k] >= h[k - 1] and h[k] > h[k + 1]
            and h[k] > 0.05 * h.max()]
    pk = []
    for k in sorted(cand, key=lambda k: -h[k]):
        if all(abs(k - j) >= min_separation for j in pk):
            pk.append(k)
    return centres, h, pk


class EqualWeight(NamedTuple):
    """The equal-weight point of one size (:func:`equal_weight`)."""

    T: float                  # nan when none
    split: float              # energy per site that separates the two phases
    valley_over_peak: float   # the valley at T over the lower of the two peaks (nan: one peak)
    peak_energies: tuple      # (ordered, disordered) energy per site at T
    reason: str               # why none ("" when found)


def _ordered_log_ratio(size: SizeData, T: float, split: float, n_ordered: int, state=None):
    e, p = size.rw.energy_distribution(T, state)
    low = p[e / size.N < split].sum()
    return float(np.log(max(low, 1e-300)) - np.log(max(1.0 - low, 1e-300)) - np.log(n_ordered))


def equal_weight(size: SizeData, n_ordered: int, *, split: float | None = None, state=None,
                 n_grid: int = 61) -> EqualWeight:
    """The temperature where the ordered phases and the disordered one have equal weight.

    At a first-order transition with ``n_ordered`` ordered phases (``q`` for the Potts model)
    and one disordered phase, the probability of the low-energy side of the energy distribution
    over that of the high-energy side is ``n_ordered`` at ``T_c`` up to corrections that are
    exponentially small in the size for short-range couplings (Borgs & Kotecký 1990; Janke
    1993): every phase has equal weight. The two sides are separated at ``split`` (energy per
    site), by default the valley between the two peaks of ``P(e)`` where they are most nearly
    balanced on the simulated window; the log-ratio, monotone in ``T`` at a fixed split, is
    solved for its root by reweighting. ``state`` (a resample of the reweighter) with the full
    data's ``split`` gives a bootstrap draw. None when ``P(e)`` never has two peaks on the
    window or the root lies outside it."""
    from scipy.optimize import brentq

    lo, hi = size.T_range
    grid = _grid(lo, hi, n_grid)
    if split is None:
        best = None
        for t in grid:
            c, h, pk = energy_peaks(size, t, state)
            if len(pk) < 2:
                continue
            a, b = sorted(pk[:2])
            v = a + int(np.argmin(h[a:b + 1]))
            g = abs(_ordered_log_ratio(size, t, c[v], n_ordered, state))
            if best is None or g < best[0]:
                best = (g, float(c[v]))
        if best is None:
            return EqualWeight(NAN, NAN, NAN, (NAN, NAN),
                               f"the energy distribution of L = {size.L} has one peak at every "
                               f"T in [{lo:.4g}, {hi:.4g}]: no coexisting phases to weigh")
        split = best[1]
    g = np.array([_ordered_log_ratio(size, t, split, n_ordered, state) for t in grid])
    if not (g[0] > 0 > g[-1]):
        side = "above" if g[-1] > 0 else "below"
        return EqualWeight(NAN, split, NAN, (NAN, NAN),
                           f"the ordered weight of L = {size.L} stays {side} {n_ordered} times "
                           f"the disordered on [{lo:.4g}, {hi:.4g}] (split at e = {split:.4g})")
    i = int(np.argmax(g <= 0))
    T = float(brentq(lambda t: _ordered_log_ratio(size, t, split, n_ordered, state),
                     grid[i - 1], grid[i], xtol=1e-10))
    c, h, pk = energy_peaks(size, T, state)
    if len(pk) < 2:
        return EqualWeight(T, split, NAN, (NAN, NAN), "")
    a, b = sorted(pk[:2])
    return EqualWeight(T, split, float(h[a:b + 1].min() / min(h[a], h[b])),
                       (float(c[a]), float(c[b])), "")


def transition_order(size: SizeData, dip_ratio: float = 0.9) -> Dict[str, object]:
    """Classify a transition from the energy distribution of one (the largest) size.

    Finds the temperature at which ``P(e)`` has two peaks of equal height; if there is one
    and the valley between them is lower than ``dip_ratio`` times the peaks, the transition is
    called first order and the latent heat per site is the distance of the peaks. Otherwise
    it is called continuous. Also reports the minimum of the energy cumulant ``V``.
    """
    lo, hi = size.T_range
    T = _grid(lo, hi, 200)
    V = size.curves(T)["energy_binder"]
    i = int(np.argmin(V))
    evidence: Dict[str, object] = {"L": size.L, "energy_binder_min": float(V[i]),
                                   "T_energy_binder_min": float(T[i])}

    def imbalance(t):
        c, h, pk = energy_peaks(size, t)
        if len(pk) < 2:
            return None
        a, b = sorted(pk, key=lambda k: -h[k])[:2]
        lo_k, hi_k = sorted((a, b))
        return float(np.log(h[lo_k] / h[hi_k]))  # > 0: the low-energy (ordered) peak is higher

    scan = [(t, imbalance(t)) for t in _grid(lo, hi, 60)]
    bimodal = [(t, d) for t, d in scan if d is not None]
    evidence["double_peaked"] = bool(bimodal)
    if bimodal:
        ts = np.array([t for t, _ in bimodal])
        ds = np.array([d for _, d in bimodal])
        j = int(np.argmin(np.abs(ds)))
        t_eq = float(ts[j])
        c, h, pk = energy_peaks(size, t_eq)
        a, b = sorted(sorted(pk, key=lambda k: -h[k])[:2])
        valley = float(h[a:b + 1].min())
        ratio = valley / float(min(h[a], h[b]))
        evidence.update(T_equal_height=t_eq, valley_over_peak=ratio,
                        latent_heat=float(c[b] - c[a]), peak_energies=[float(c[a]), float(c[b])])
        first = ratio < dip_ratio
    else:
        first = False
    evidence["order"] = "first order" if first else "continuous"
    return evidence


def collapse_skipped(sizes: Sequence[SizeData], T_c: float) -> str | None:
    """Why :func:`analyse` fits no data collapse to ``sizes``, or ``None`` when it fits one."""
    if len(sizes) < 3:
        return (f"a collapse needs three sizes or more; got {len(sizes)} "
                f"(L = {', '.join(str(s.L) for s in sizes)})")
    if not np.isfinite(T_c):
        return "the Binder curves give no T_c to start it from"
    return None


def analyse(key, sizes: Sequence[SizeData], n_bootstrap: int = 40,
            collapse_fit: bool = True) -> Dict[str, object]:
    """All FSS results with bootstrap errors (the JAX PRNG ``key`` fixes the resamples); sizes
    sorted by ``L``. Without a data collapse (too few sizes, no ``T_c``),
    ``"collapse_skipped"`` says why (:func:`collapse_skipped`)."""
    import jax

    sizes = sorted(sizes, key=lambda s: s.L)
    best = _quantities(sizes)
    boots: List[Dict[str, float]] = []
    gens = [s.rw.bootstrap_states(jax.random.fold_in(key, i), n_bootstrap)
            for i, s in enumerate(sizes)]
    for states in zip(*gens):
        boots.append(_quantities(sizes, list(states)))
    err = {k: float(np.nanstd([b[k] for b in boots], ddof=1)) for k in best}
    result: Dict[str, object] = {
        "sizes": [s.L for s in sizes], "method": "multiple-histogram reweighting; "
        f"Binder crossing of the two largest sizes; peak fits in log-log; bootstrap over "
        f"{n_bootstrap} block resamples",
        "values": best, "errors": err,
    }
    skipped = collapse_skipped(sizes, best["T_c"]) if collapse_fit else None
    if skipped:
        result["collapse_skipped"] = skipped
    elif collapse_fit:
        nu0 = 1.0 / best["one_over_nu"] if best["one_over_nu"] > 0 else 1.0
        data = collapse_data(sizes, best["T_c"], nu0)
        Tc, nu, bnu, S = collapse(data, best["T_c"], nu0, best["beta_over_nu"])
        # bootstrap: the same grid and errors, resampled means
        fits = []
        gens = [s.rw.bootstrap_states(jax.random.fold_in(key, 1000 + i), n_bootstrap)
                for i, s in enumerate(sizes)]
        for states in zip(*gens):
            resampled = [(L, T, s.curves(T, st)["abs_magnetisation"], dy)
                         for (L, T, _, dy), s, st in zip(data, sizes, states)]
            fits.append(collapse(resampled, Tc, nu, bnu)[:3])
        err = np.std(np.array(fits), axis=0, ddof=1)
        result["collapse"] = {"T_c": Tc, "nu": nu, "beta_over_nu": bnu, "quality": S,
                              "errors": {"T_c": float(err[0]), "nu": float(err[1]),
                                         "beta_over_nu": float(err[2])}}
    result["transition"] = transition_order(sizes[-1])
    return result
