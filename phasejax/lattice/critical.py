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

Where the transition is first order (``q = 6`` below ``σ ≈ 0.8``: the energy distribution of the
largest ring is double-peaked, and the Binder cumulant dips below zero instead of crossing at a
fixed point) :func:`equal_weight_temperature` locates it instead, at the temperature where the
``q`` ordered phases and the disordered one have equal weight; the table's ``method`` column says
which locator an entry comes from.

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
# total energies of the equal-weight runs are rounded to this (units of the coupling K = 1)
ENERGY_RESOLUTION = 0.05
# T_c/T_MF as σ → 0⁺: mean field is exact for couplings spread over infinitely many sites
MEAN_FIELD_LIMIT = 1.0
TABLE_COLUMNS = ("q", "sigma", "T_c", "T_c_err", "K_c", "K_c_err", "sizes", "n_replicas",
                 "n_measure", "coarse", "reason", "method")


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


def _two_start_run(key, q, sigma, L, temperatures, *, n_replicas, n_therm, n_measure):
    """Total energies ``(n_T, n_replicas, n_measure)`` of Swendsen–Wang chains on the ring of
    ``L`` sites, half started ordered and half at random: at a first-order transition a chain
    tunnels between the phases rarely, so the phase it started in is not to decide the weights
    alone (a replica bootstrap then measures what the starts leave)."""
    import toy_models
    from phasejax.lattice import samplers
    from phasejax.lattice.driver import simulate

    model = toy_models.make("long_range_chain", L=int(L), q=q, J=1.0, sigma=sigma, images=True)
    half = max(1, n_replicas // 2)
    E = [np.asarray(simulate(jax.random.fold_in(key, k), model, samplers.make("swendsen_wang"),
                             np.asarray(temperatures, float), n_replicas=half, n_therm=n_therm,
                             n_measure=n_measure, site_histograms=False, start=start).energy,
                    np.float64)
         for k, start in enumerate(("ordered", "random"))]
    # rounded to ENERGY_RESOLUTION: far fewer distinct energies for the reweighting, at a weight
    # error below e^{±ENERGY_RESOLUTION Δβ / 2} per sample over a window Δβ
    return np.round(np.concatenate(E, axis=1) / ENERGY_RESOLUTION) * ENERGY_RESOLUTION


def equal_weight_temperature(key, *, q: int, sigma: float, guess_size: int = 129,
                             fine_sizes=(65, 129, 257), n_coarse: int = 10, n_fine: int = 9,
                             width: float = 0.03, n_replicas: int = 32, n_therm: int = 400,
                             n_measure: int = 1500, n_boot: int = 40, coarse=(0.4, 1.3),
                             dip_ratio: float = 0.9) -> Critical:
    """``T_c`` of a first-order transition of the ``K = 1`` chain at ``(q, σ)``: the
    equal-weight temperature of the largest ring (:func:`phasejax.analysis.fss.equal_weight`:
    the ``q`` ordered phases and the disordered one equally probable).

    A coarse scan of one ring (``guess_size``) over ``coarse`` (units of ``T_MF``) finds its
    largest energy variance, a second scan of the same ring over two coarse spacings around it
    its equal-weight point, which centres the fine window; each ring of ``fine_sizes`` is then
    run on ``n_fine`` temperatures over ``± width`` of it (half the replicas started ordered,
    half at random) and reweighted. A ``T_c`` is named only where the largest ring's energy
    distribution is double-peaked at its equal-weight point (valley below ``dip_ratio`` of the
    lower peak: coexisting phases) and the point is found in at least 95 % of the replica
    resamples. Error: the replica bootstrap's spread at the largest ring and the last shift
    between rings in quadrature (the finite-size drift not extrapolated away)."""
    from phasejax.analysis import fss
    from toy_models.long_range_chain import transition_possible

    why = transition_possible(1.0, sigma)
    if why:
        return Critical(q, sigma, NAN, NAN, tuple(fine_sizes), why, None)
    lo, hi = (float(x) for x in coarse)
    T_mf = mean_field_scale(q, sigma)
    kw = dict(n_replicas=n_replicas, n_therm=n_therm, n_measure=n_measure)
    scan = dict(kw, n_measure=max(200, n_measure // 4))      # the two scans that place it
    Tc_grid = T_mf * np.linspace(lo, hi, n_coarse)
    E = _two_start_run(jax.random.fold_in(key, 0), q, sigma, guess_size, Tc_grid, **scan)
    guess = float(Tc_grid[int(np.argmax(E.reshape(E.shape[0], -1).var(axis=1)))])
    # the coarse grid's spacing is wider than the fine window: the same ring over a window of
    # two coarse spacings, reweighted, puts the fine window at its equal-weight point
    step = (hi - lo) / max(n_coarse - 1, 1) * T_mf
    T_mid = guess + step * np.linspace(-1, 1, n_fine)
    E = _two_start_run(jax.random.fold_in(key, 50), q, sigma, guess_size, T_mid, **scan)
    mid = fss.equal_weight(fss.SizeData(guess_size, guess_size, T_mid, E, np.zeros_like(E)), q)
    guess = mid.T if np.isfinite(mid.T) else guess
    T = guess * np.linspace(1 - width, 1 + width, n_fine)
    per_size = {}
    for j, L in enumerate(sorted(int(x) for x in fine_sizes)):
        E = _two_start_run(jax.random.fold_in(key, 1 + j), q, sigma, L, T, **kw)
        size = fss.SizeData(L, L, T, E, np.zeros_like(E))
        ew = fss.equal_weight(size, q)
        draws = np.array([fss.equal_weight(size, q, split=ew.split, state=st).T
                          for st in size.rw.replica_bootstrap_states(
                              jax.random.fold_in(key, 100 + j), n_boot)]) if ew.reason == "" \
            else np.full(n_boot, NAN)
        per_size[L] = (ew, draws)
    L_max = max(per_size)
    ew, draws = per_size[L_max]
    sizes = tuple(sorted(per_size))
    found = {L: f"{e.T:.4f}" for L, (e, _) in per_size.items() if np.isfinite(e.T)}
    if ew.reason:
        return Critical(q, sigma, NAN, NAN, sizes, ew.reason, per_size)
    if not ew.valley_over_peak < dip_ratio:
        return Critical(q, sigma, NAN, NAN, sizes,
                        f"the energy distribution of L = {L_max} is not double-peaked at its "
                        f"equal-weight point T = {ew.T:.4f} (valley {ew.valley_over_peak:.2f} of "
                        f"the lower peak, above {dip_ratio:g}): no coexisting phases, so not a "
                        "first-order transition at this size", per_size)
    lost = int(np.isnan(draws).sum())
    if lost > 0.05 * draws.size:
        return Critical(q, sigma, NAN, NAN, sizes,
                        f"the equal-weight point of L = {L_max} is lost in {lost} of {draws.size} "
                        "replica resamples", per_size)
    prev = [per_size[L][0].T for L in sizes[:-1] if np.isfinite(per_size[L][0].T)]
    shift = abs(ew.T - prev[-1]) if prev else NAN
    err = float(np.hypot(np.nanstd(draws, ddof=1), shift)) if prev else NAN
    if not np.isfinite(err):
        return Critical(q, sigma, NAN, NAN, sizes,
                        f"only L = {L_max} has an equal-weight point ({found}): no shift between "
                        "rings to bound the finite-size drift", per_size)
    return Critical(q, sigma, ew.T, err, sizes, "", per_size)


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
    s = np.concatenate([[0.0], s])
    rho = np.concatenate([[MEAN_FIELD_LIMIT], rho])
    rho_err = np.concatenate([[0.0], rho_err])
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
