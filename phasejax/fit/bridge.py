"""The maximum-entropy bridge: where a model sits relative to its fitted toy's critical point.

At every sampling temperature ``T`` of the model, the long-range chain ``A r^{-(1+σ)}`` (plus a
field and the start's field on the first site) is fitted to the generated sequences by
pseudo-likelihood (:func:`phasejax.fit.long_range.fit_long_range`; ``A`` and ``σ`` are in units of
``T``). The fitted system is then placed on its own family's phase diagram: with the family's
critical amplitude ``K_c(σ)`` (zero field, every distance, :mod:`phasejax.lattice.critical`),

.. math:: r(T) = A(T) / K_c(σ(T))

is the fitted system's own transition temperature in units of ``T``: ``r > 1`` ordered,
``r < 1`` disordered. The model is critical in this sense where ``r(T)`` crosses 1 (Mora &
Bialek 2011; Tkačik et al. 2015 place data relative to the critical point of a model fitted to
them in the same way). For ``σ ≤ 0`` the fitted chain is meaningful only with Kac normalisation
at the fitted length: ``r = T_MF(A Λ_N)`` (mean field, :mod:`toy_models.long_range_chain`),
which grows with ``N``, and is stated as such. For ``A ≤ 0`` or ``σ > 1`` there is no ratio:
the fitted family has no transition. Nor is there one where the fitted ``σ`` lies within
:data:`SIGMA_RESOLVED_Z` errors of 0: ``K_c`` jumps there between the two definitions (the
table's ``K_c(σ) → 0`` as ``σ → 0⁺``), so the sign of an unresolved ``σ`` would decide the
placement; nor where the bootstrap refits of ``σ`` did not move from the optimum they start
at (spread below :data:`STUCK_SPREAD`: a pseudo-likelihood flat in ``σ``, whose "error" is
none). The fitted field is not part of ``K_c`` (for ``q = 2`` any
field removes the transition): ``r`` says where the *coupling* stands.

Errors: the bootstrap refits of ``(A, σ)`` jointly, with ``K_c``'s own error in quadrature (a
refit that cannot order counts as ``r = 0``; one whose ``σ`` has no stored ``K_c`` leaves the
temperature without a ratio);
the crossing's from a weighted line through the ratios that bracket it
(:func:`critical_temperature`).

The alternative assumption — a fit at one ``T₀`` carried to other temperatures as
``A(T₀)·T₀/T`` — is returned beside the per-``T`` fits (:func:`fit_temperatures`), so a figure
can show where it fails (per-step renormalisation and the mapping to states break it).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple, Sequence

import jax
import numpy as np

from phasejax.analysis.decisions import (PEAK_ALPHA, sign_change, sign_changes_twice,
                                         significant_signs, z_level)
from phasejax.analysis.fits import interpolate_crossing

NAN = float("nan")
# a fitted σ within this many errors of 0 gives no ratio: K_c changes definition there (the Kac
# mean field for σ ≤ 0, the power-law table above, where K_c(σ → 0⁺) → 0), so the side of 0
# decides the placement and the data do not
SIGMA_RESOLVED_Z = 2.0
# bootstrap refits of σ that spread less than this did not move from the optimum they start at
# (a pseudo-likelihood flat in σ, as where A → 0 makes σ unidentifiable): no error, so no ratio
STUCK_SPREAD = 1e-4


@dataclasses.dataclass(frozen=True)
class ToySettings:
    """The toy side of a text-criticality comparison (``criticality.toy``).

    Attributes:
      fit_T: the temperature whose fit is carried to the others as ``A·T₀/T`` (the
        single-temperature assumption shown beside the per-temperature fits).
      field: ``"fitted"`` or ``"zero"`` (the symmetric toy: no field, no start field).
      n_replicas, n_therm, n_measure: Swendsen–Wang chains per ``(T, N)`` and their sweeps.
      fit_bootstrap: bootstrap refits of every fit.
      simulate: simulate the fitted open chains (off: fits and the bridge only).
    """

    fit_T: float = 1.0
    field: str = "fitted"
    n_replicas: int = 8
    n_therm: int = 100
    n_measure: int = 100
    fit_bootstrap: int = 8
    simulate: bool = True


class BridgePoint(NamedTuple):
    """One temperature of the bridge."""

    T: float
    A: float
    A_err: float
    sigma: float
    sigma_err: float
    K_c: float              # the family's critical amplitude at σ(T) (nan outside 0 < σ ≤ 1)
    ratio: float            # r = A / K_c (mean field for σ ≤ 0): > 1 ordered
    ratio_err: float
    reason: str             # why the ratio is nan ("" otherwise)
    ratio_draws: np.ndarray  # (n_bootstrap,) r of every refit


def fit_temperatures(key, states_by_T: Sequence, *, q: int, n_bootstrap: int = 8,
                     max_range: int | None = None) -> list:
    """The power-law chain with the start's field fitted at every temperature: one
    :class:`~phasejax.fit.long_range.LongRangeFit` per ``states_by_T[i]`` (``(n, N)`` states),
    over every distance up to ``N − 1`` (or ``max_range``)."""
    from phasejax.fit.long_range import fit_long_range

    out = []
    for i, y in enumerate(states_by_T):
        N = np.shape(y)[1]
        R = N - 1 if max_range is None else min(int(max_range), N - 1)
        out.append(fit_long_range(jax.random.fold_in(key, i), y, q=q, R=R, form="power_law",
                                  start_field=True, n_bootstrap=n_bootstrap))
    return out


def _ratio(A, sigma, q, N):
    from phasejax.lattice.critical import critical_amplitude
    from toy_models.long_range_chain import kac_norm, mean_field_tc, transition_possible

    if sigma <= 0 and A > 0:
        return mean_field_tc(A * kac_norm(2 * (N // 2) + 1, sigma), q), NAN, NAN, ""
    why = transition_possible(A, sigma)
    if why:
        return NAN, NAN, NAN, why
    K_c, K_err, why = critical_amplitude(q, sigma)
    if why:
        return NAN, NAN, NAN, why
    return A / K_c, K_c, K_err, ""


def _draw_ratio(A, sigma, q, N) -> float:
    """A bootstrap refit's ratio: 0 where the refitted chain cannot order at any coupling
    (``A ≤ 0`` or ``σ > 1``: disordered at every temperature), so that such refits widen the
    spread rather than drop out of it (dropping them truncated the error); nan where ``K_c`` is
    not stored."""
    if np.isfinite(A) and np.isfinite(sigma) and (A <= 0 or sigma > 1):
        return 0.0
    return _ratio(A, sigma, q, N)[0]


def bridge(temperatures, fits, *, q: int, N: int) -> list:
    """:class:`BridgePoint` per temperature from :func:`fit_temperatures` (``N``: the fitted
    sequence length, which fixes the Kac normalisation for ``σ ≤ 0``)."""
    out = []
    for T, f in zip(temperatures, fits):
        r, K_c, K_err, why = _ratio(f.A, f.sigma, q, N)
        if np.isfinite(r) and f.sigma_err < STUCK_SPREAD:  # refits that never left the optimum
            r, K_c, K_err, why = NAN, NAN, NAN, (
                f"the bootstrap refits left σ = {f.sigma:.3g} where they started (spread "
                f"{f.sigma_err:.1g} < {STUCK_SPREAD:g}): the pseudo-likelihood is flat in σ "
                f"there (A = {f.A:.2g}), so the fit has no error and no placement")
        elif np.isfinite(r) and abs(f.sigma) < SIGMA_RESOLVED_Z * f.sigma_err:
            r, K_c, K_err, why = NAN, NAN, NAN, (
                f"σ = {f.sigma:.2g} ± {f.sigma_err:.2g} is not resolved from 0 (within "
                f"{SIGMA_RESOLVED_Z:g} errors), where the family's critical coupling changes "
                "definition (Kac mean field for σ ≤ 0, the power-law table above, "
                "K_c(σ → 0⁺) → 0): no placement")
        draws = np.array([_draw_ratio(a, s, q, N) for a, s in f.draws], float)
        lost = int((~np.isfinite(draws)).sum())
        if np.isfinite(r) and lost:
            r, K_c, K_err, why = NAN, NAN, NAN, (
                f"{lost} of {draws.size} bootstrap refits reach σ where no critical coupling "
                f"is stored (σ = {f.sigma:.2g} ± {f.sigma_err:.2g}): their ratios, and so the "
                "error, are unknown")
        spread = np.std(draws, ddof=1) if draws.size >= 2 and not lost else NAN
        err = float(np.hypot(spread, r * K_err / K_c)) if np.isfinite(K_c) else float(spread)
        out.append(BridgePoint(float(T), f.A, f.A_err, f.sigma, f.sigma_err, float(K_c),
                               float(r), err if np.isfinite(r) else NAN, why, draws))
    return out


def _cross_one(T, r, lo: int, hi: int) -> float:
    """The first sign change of ``r − 1`` between grid points ``lo`` and ``hi``, interpolated
    linearly in ``1/T`` (exact for a fixed Hamiltonian, whose couplings in units of ``T`` are
    ``∝ 1/T``)."""
    for i in range(lo, hi):
        if np.isfinite(r[i]) and np.isfinite(r[i + 1]) and (r[i] - 1) * (r[i + 1] - 1) <= 0 \
                and r[i] != r[i + 1]:
            return 1.0 / float(interpolate_crossing(1 / T[i], r[i], 1 / T[i + 1], r[i + 1], 1.0))
    return NAN


def critical_temperature(points: Sequence[BridgePoint], *, alpha: float = PEAK_ALPHA) -> tuple:
    """``(T×, error, reason)``: where the fitted system passes its family's critical point, or
    ``nan`` with why not.

    A test, like a Binder crossing (:mod:`phasejax.analysis.decisions`): ``z = (r − 1)/σ_r`` must
    be significantly positive (the fitted system ordered) at one temperature and significantly
    negative (disordered) at a higher one, each at the Bonferroni level ``Φ⁻¹(1 − α/n_T)`` over
    the temperatures with a ratio. ``T×`` is where a weighted line ``r = a + b/T`` through the
    bracket's points reaches 1 (:func:`_line_crossing`), its error from the line's covariance.
    Its false-positive rate and power are measured in ``docs/criticality_rates.md``."""
    points = sorted(points, key=lambda p: p.T)
    T = np.array([p.T for p in points])
    r = np.array([p.ratio for p in points])
    e = np.array([p.ratio_err for p in points])
    ok = np.isfinite(r) & np.isfinite(e)      # a ratio without an error is no evidence (sign_change)
    if ok.sum() < 2:
        why = "; ".join(sorted({p.reason for p in points if p.reason})) or (
            "fewer than two ratios with an error (the bridge needs bootstrap refits)")
        return NAN, NAN, f"no ratio A/K_c at two temperatures or more: {why}"
    zc = z_level(int(ok.sum()), alpha)
    z, pos, neg, found = sign_change(r - 1, e, zc)
    span = f"T ∈ [{T[ok][0]:.3g}, {T[ok][-1]:.3g}]"
    if found is None:
        if sign_changes_twice(pos, neg):
            why = (f"A/K_c − 1 changes sign more than once on {span} "
                   f"({significant_signs(z, pos, neg, T)}; z_c = {zc:.2f}): the fitted system "
                   "passes its family's critical coupling in both directions, where one "
                   "transition would pass it once, downwards")
        elif pos.size and neg.size:
            why = (f"the fitted coupling is significantly below the family's critical coupling "
                   f"at T={T[neg.min()]:.3g} and above it at T={T[pos.max()]:.3g} (ordered "
                   "above, disordered below: not a transition of the fitted family)")
        elif pos.size or neg.size:
            side = "above" if pos.size else "below"
            why = (f"the fitted coupling is significantly {side} the family's critical coupling "
                   f"and never significantly on the other side on {span} (A/K_c from "
                   f"{r[ok].min():.3g} to {r[ok].max():.3g}, z_c = {zc:.2f})")
        else:
            why = (f"A/K_c never differs significantly from 1 on {span} (|z| ≤ {zc:.2f}; A/K_c "
                   f"from {r[ok].min():.3g} to {r[ok].max():.3g})")
        return NAN, NAN, why
    return _line_crossing(T, r, e, *found)


def _line_crossing(T, r, e, lo: int, hi: int) -> tuple:
    """``(T×, error, reason)`` from the weighted straight line ``r = a + b/T`` through the
    bracket's points (exact for a fixed Hamiltonian, ``r ∝ 1/T``): ``1/T× = (1 − a)/b``, its
    error by the delta method from the fit's covariance, scaled by ``χ²/dof`` where that exceeds
    1 (a curved ``r``). Two points: the interpolation between them, with its error."""
    k = np.array([i for i in range(lo, hi + 1) if np.isfinite(r[i]) and e[i] > 0
                  and np.isfinite(e[i])])
    if k.size < 2:
        return _cross_one(T, r, lo, hi), NAN, ""
    X = np.stack([np.ones(k.size), 1.0 / T[k]], 1)
    w = 1.0 / e[k] ** 2
    cov = np.linalg.inv(X.T @ (w[:, None] * X))
    a, b = cov @ (X.T @ (w * r[k]))
    if not b > 0:
        return NAN, NAN, (f"A/K_c is significantly above 1 at T={T[lo]:.3g} and below at "
                          f"T={T[hi]:.3g}, but a line in 1/T through T ∈ [{T[lo]:.3g}, "
                          f"{T[hi]:.3g}] does not fall with T (slope {b:.3g})")
    if k.size > 2:
        chi2 = float(np.sum(w * (r[k] - a - b / T[k]) ** 2)) / (k.size - 2)
        cov = cov * max(chi2, 1.0)
    beta = (1.0 - a) / b
    if not beta > 0:
        return NAN, NAN, (f"the line in 1/T through T ∈ [{T[lo]:.3g}, {T[hi]:.3g}] reaches "
                          f"A/K_c = 1 at no positive temperature (1/T× = {beta:.3g})")
    g = np.array([-1.0 / b, -beta / b])
    return 1.0 / beta, float(np.sqrt(g @ cov @ g)) / beta**2, ""


def fixed_temperature_assumption(temperatures, fits, T0: float) -> np.ndarray:
    """``A(T₀)·T₀/T``: the amplitude a single fit at ``T₀`` predicts at every ``T``."""
    T = np.asarray(temperatures, float)
    i0 = int(np.argmin(np.abs(T - T0)))
    return fits[i0].A * T[i0] / T
