"""Critical points of the long-range Potts chain, by finite-size scaling, and their table.

The family ``J_r = K Σ_n |r + nL|^{-(1+σ)}`` (every distance, periodic images; zero field) on
rings of odd ``L`` (:mod:`toy_models.long_range_chain`) orders below ``T_c(σ, q)`` for
``0 < σ ≤ 1``. Since only ``K/T`` enters, the critical amplitude at ``T = 1`` is
``K_c = 1/T_c`` (``T_c`` of ``K = 1``).

:func:`critical_temperature` finds ``T_c`` with Swendsen–Wang on three ring sizes: a coarse scan
over ``[0.3, 1.0] T_MF`` by default (``T_MF`` the mean-field value of the infinite chain's total
coupling ``2ζ(1+σ)``), then a fine scan around the coarse crossing on larger rings, the decision of
:func:`phasejax.analysis.decisions.fixed_point` on the Binder cumulant of the order parameter
(signed ``m`` for ``q = 2``, the Potts ``m`` for ``q > 2``), with errors from a bootstrap over
independent replicas. ``benchmarks/long_range_critical.py`` writes the table
``phasejax/lattice/data/long_range_critical.csv`` that :func:`critical_amplitude` interpolates
in ``σ``.

For ``σ ≤ 0`` only Kac-normalised chains exist, and they are mean field
(:func:`toy_models.long_range_chain.mean_field_tc`); for ``σ > 1``, or antiferromagnetic
amplitudes, there is no transition (:func:`toy_models.long_range_chain.transition_possible`).
"""

from __future__ import annotations

import csv
import functools
from importlib import resources
from typing import NamedTuple

import jax
import numpy as np
from scipy.special import zeta

from phasejax.analysis import decisions as dec
from phasejax.analysis.sequences import moment_bootstrap

NAN = float("nan")
TABLE = "long_range_critical.csv"
# T_c/T_MF as σ → 0⁺: mean field is exact for couplings spread over infinitely many sites
MEAN_FIELD_LIMIT = 1.0
TABLE_COLUMNS = ("q", "sigma", "T_c", "T_c_err", "K_c", "K_c_err", "sizes", "n_replicas",
                 "n_measure", "coarse", "reason")


class Critical(NamedTuple):
    """The transition of the ``K = 1`` family at one ``(q, σ)``."""

    q: int
    sigma: float
    T_c: float          # nan when no transition was named
    T_c_err: float
    sizes: tuple        # ring sizes of the fine scan
    reason: str         # why none ("" when found)
    curves: object      # the fine scan's Binder SizeCurves


def mean_field_scale(q: int, sigma: float) -> float:
    """``T_MF`` of the infinite chain with ``K = 1``: total coupling ``2ζ(1+σ)``."""
    from toy_models.long_range_chain import mean_field_tc

    return mean_field_tc(2.0 * float(zeta(1.0 + sigma)), q)


def _binder_curves(key, q, sigma, sizes, temperatures, *, n_replicas, n_therm, n_measure,
                   n_boot):
    import toy_models
    from phasejax.lattice import samplers
    from phasejax.lattice.driver import simulate

    T = np.asarray(temperatures, float)
    v = np.full((T.size, len(sizes)), NAN)
    reps = np.full((T.size, n_boot, len(sizes)), NAN)
    for j, L in enumerate(sizes):
        model = toy_models.make("long_range_chain", L=int(L), q=q, J=1.0, sigma=sigma,
                                images=True)
        tr = simulate(jax.random.fold_in(key, int(L)), model, samplers.make("swendsen_wang"), T,
                      n_replicas=n_replicas, n_therm=n_therm, n_measure=n_measure,
                      site_histograms=False)
        c = tr.counts.astype(np.float64) / L                      # (n_T, n_R, n_S, q)
        m = (c[..., 1] - c[..., 0]) if q == 2 else (q * c.max(-1) - 1) / (q - 1)
        units = np.repeat(np.arange(n_replicas), n_measure)
        for i, t in enumerate(T):
            val, rep = moment_bootstrap(jax.random.fold_in(key, 7919 * i + int(L)),
                                        m[i].ravel(), N=int(L), T=float(t), n_boot=n_boot,
                                        units=units)
            v[i, j], reps[i, :, j] = val["binder"], rep["binder"]
    err = np.nanstd(reps, axis=1, ddof=1)
    return dec.SizeCurves(T, np.asarray(sizes, int), v, err, reps)


def critical_temperature(key, *, q: int, sigma: float, coarse_sizes=(33, 65, 129),
                         fine_sizes=(65, 129, 257), n_coarse: int = 10, n_fine: int = 10,
                         n_replicas: int = 32, n_therm: int = 300, n_measure: int = 600,
                         n_boot: int = 100, coarse=(0.3, 1.0)) -> Critical:
    """``T_c`` of the ``K = 1`` long-range chain at ``(q, σ)`` (module docstring); the coarse
    scan covers ``coarse`` (low, high) in units of ``T_MF``."""
    lo, hi = (float(x) for x in coarse)
    if not 0 < lo < hi:
        raise ValueError(f"coarse must be (low, high) with 0 < low < high, not {coarse!r}")
    from phasejax.analysis.stats import numpy_rng
    from toy_models.long_range_chain import transition_possible

    why = transition_possible(1.0, sigma)
    if why:
        return Critical(q, sigma, NAN, NAN, tuple(fine_sizes), why, None)
    T_mf = mean_field_scale(q, sigma)
    kw = dict(n_replicas=n_replicas, n_therm=n_therm, n_measure=n_measure, n_boot=n_boot)
    coarse = _binder_curves(jax.random.fold_in(key, 0), q, sigma, coarse_sizes,
                            T_mf * np.linspace(lo, hi, n_coarse), **kw)
    first = dec.fixed_point(numpy_rng(jax.random.fold_in(key, 1)), coarse, name="the Binder")
    top = first.crossings[-1] if first.crossings else None
    guess = first.T if first.found else (top.T if top is not None and top.found else NAN)
    if not np.isfinite(guess):
        return Critical(q, sigma, NAN, NAN, tuple(fine_sizes),
                        f"coarse scan over [{lo:g}, {hi:g}]·T_MF found no crossing: "
                        f"{first.reason}",
                        coarse)
    fine = _binder_curves(jax.random.fold_in(key, 2), q, sigma, fine_sizes,
                          guess * np.linspace(0.88, 1.12, n_fine), **kw)
    fp = dec.fixed_point(numpy_rng(jax.random.fold_in(key, 3)), fine, name="the Binder")
    return Critical(q, sigma, fp.T, fp.T_err, tuple(fine_sizes), fp.reason, fine)


@functools.lru_cache(maxsize=1)
def table() -> tuple:
    """Rows of the stored table (``(q, σ, T_c, T_c_err)``, sorted)."""
    text = resources.files("phasejax.lattice").joinpath("data", TABLE).read_text()
    rows = []
    for r in csv.DictReader(line for line in text.splitlines() if not line.startswith("#")):
        rows.append((int(r["q"]), float(r["sigma"]), float(r["T_c"]), float(r["T_c_err"])))
    return tuple(sorted(rows))


def critical_amplitude(q: int, sigma: float, rows=None) -> tuple:
    """``(K_c, K_c_err, reason)`` of the ``(q, σ)`` family with images, from the stored table
    (or ``rows`` of ``(q, σ, T_c, T_c_err)``; ``nan`` and the reason outside it).

    Between entries the ratio ``T_c/T_MF`` to the mean-field value of the same ``σ``
    (:func:`mean_field_scale`) is interpolated linearly in ``σ``: it is nearly linear (``q = 2``:
    0.99 at ``σ = 0.1`` to 0.50 at 1), where ``T_c`` itself is strongly convex, so a straight
    line in ``T_c`` over a gap of 0.4 would miss by 13 %. The error is the entries' errors,
    interpolated, with the straight line's own error in quadrature: ``|ρ''| (σ − σ₀)(σ₁ − σ)/2``
    with ``ρ''`` the largest second difference of the ratio over the stored triples that hold
    the bracket's ends. A bracket that spans an entry where no ``T_c`` was named (``nan``: the
    method found no fixed point there) gives none, with that entry's ``σ``: a line drawn over a
    point where the measurement failed would hide it.

    Below the first entry the ratio runs to its exact limit ``T_c/T_MF → 1`` as ``σ → 0⁺``
    (:data:`MEAN_FIELD_LIMIT`): of the total coupling ``2ζ(1+σ) ≈ 2/σ`` half comes from
    distances beyond ``2^{1/σ}``, so each site feels the mean of ever more others and mean field
    becomes exact (the Kac limit). The stored ``q = 2`` entries agree: 0.988 ± 0.011 at
    ``σ = 0.1``, and the line through ``σ = 0.1, 0.2`` meets 1.02 ± 0.02 at 0. So
    ``K_c(σ → 0⁺) → 0``, as ``1/ζ(1+σ) ≈ σ`` for ``q = 2``. A gap (an entry without a
    ``T_c``) between 0 and the first named entry bars this bracket like any other."""
    from toy_models.long_range_chain import transition_possible

    why = transition_possible(1.0, sigma)
    if why:
        return NAN, NAN, why
    every = [(s, t, e) for qq, s, t, e in (table() if rows is None else rows) if qq == q]
    named = [(s, t, e) for s, t, e in every if np.isfinite(t)]
    if len(named) < 2:
        have = ", ".join(f"σ = {s:g}" for s, _, _ in named) or "none"
        return NAN, NAN, (f"the stored table has fewer than two critical couplings for q={q} "
                          f"({have}; benchmarks/long_range_critical.py adds them)")
    s, t, e = (np.array(c) for c in zip(*named))
    if not sigma <= s[-1]:
        return NAN, NAN, (f"σ = {sigma:.3g} lies outside the stored table for q={q} "
                          f"((0, {s[-1]:.2g}]: the mean-field limit at σ → 0⁺, then the "
                          "entries)")
    mf = np.array([mean_field_scale(q, x) for x in s])
    rho, rho_err = t / mf, e / mf
    # the exact limit σ → 0⁺ as an entry with no error (every entry's σ is positive)
    s, rho, rho_err = (np.concatenate([[v], a]) for v, a in
                       ((0.0, s), (MEAN_FIELD_LIMIT, rho), (0.0, rho_err)))
    j = min(int(np.searchsorted(s, sigma, side="right")) - 1, s.size - 2)
    gaps = [x for x, tt, _ in every if not np.isfinite(tt) and s[j] < x < s[j + 1]]
    if gaps and not np.isclose(sigma, s[j]) and not np.isclose(sigma, s[j + 1]):
        low = "the mean-field limit σ → 0⁺" if s[j] == 0 else f"σ = {s[j]:g}"
        return NAN, NAN, (f"σ = {sigma:.3g} lies between stored critical couplings for q={q} "
                          f"at {low} and σ = {s[j + 1]:g}, across σ = "
                          f"{', '.join(f'{x:g}' for x in gaps)} where none was named")
    r, r_err = float(np.interp(sigma, s, rho)), float(np.interp(sigma, s, rho_err))
    curvature = [abs(2 * ((rho[k + 1] - rho[k]) / (s[k + 1] - s[k])
                          - (rho[k] - rho[k - 1]) / (s[k] - s[k - 1])) / (s[k + 1] - s[k - 1]))
                 for k in (j, j + 1) if 1 <= k <= s.size - 2]
    line = max(curvature, default=0.0) * (sigma - s[j]) * (s[j + 1] - sigma) / 2
    mf_here = mean_field_scale(q, sigma)
    T_c = float(r * mf_here)
    T_err = float(np.hypot(r_err, line) * mf_here)
    return 1.0 / T_c, T_err / T_c**2, ""
