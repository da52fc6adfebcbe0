"""One answer, two descriptions, for sequence tasks: the open toy chain fitted to a language
model's sequence statistics, and the finite-size analysis of both.

The model's rows ``⟨|m|⟩(T, N)``, ``U₄(T, N)`` are fitted by the open toy chain's exact curves
(coupling ``J`` and field scale ``a`` along the items' log-frequency profile, in the model's
temperature units); pseudo-likelihood couplings per temperature come from
:mod:`phasejax.fit.inverse`. The fitted toy is also *sampled* beyond enumeration
(:mod:`phasejax.lattice.samplers.chain`), and every side gets the same decisions
(:mod:`phasejax.analysis.scaling`): a Binder fixed point tested with significant differences of
both signs, χ peaks that stand significantly above both sides, each with its measured
false-positive rate (``docs/criticality_rates.md``). An open chain with nearest-neighbour
coupling has no transition, so on the toy sides every method should name none.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from phasejax.analysis.scaling import scaling_analysis
from phasejax.fit.curvefit import CurveFit, fit_chain_curves, toy_curves

SEQUENCE_OBSERVABLES = ("abs_magnetisation", "binder")
# the methods that can name a transition on sequence rows (the ξ/N crossing needs the
# correlation function, which the probe does not record for answers)
SEQUENCE_METHODS = ("binder_crossing", "chi_peak", "binder_collapse")


def item_profile(items_by_T: dict, q: int, temperatures) -> np.ndarray:
    """Centred log frequencies of the items generated at the temperature closest to 1."""
    T = min(temperatures, key=lambda t: abs(t - 1.0))
    items = np.concatenate([np.asarray(v).ravel() for (n, t), v in items_by_T.items()
                            if t == T and np.size(v)] or [np.zeros(0, int)])
    counts = np.bincount(items, minlength=q) + 0.5           # add-½ keeps unseen items finite
    f = np.log(counts / counts.sum())
    return f - f.mean()


def fit_sequences(rows: Sequence[dict], q: int, profile=None,
                  observables: Sequence[str] = SEQUENCE_OBSERVABLES, checkpoint=None) -> CurveFit:
    """Coupling ``J`` and field scale ``a`` of the open toy chain, in the model's own
    temperature units (``τ = 1``), fitted to the sequence rows ``⟨|m|⟩(T, N)``, ``U₄(T, N)``."""
    data = [r for r in rows if r["prompt"] == "all" and r["observable"] in observables
            and (checkpoint is None or int(r["checkpoint"]) == checkpoint)]
    return fit_chain_curves(data, q, list(observables), profile=profile,
                            theta0=(0.2, 0.5 if profile is not None else 0.0, 1.0),
                            fixed="tscale")


def toy_rows(theta, q: int, profile, sizes, temperatures,
             observables=("abs_magnetisation", "binder", "susceptibility", "item_entropy")):
    """The fitted toy's exact curves as tidy rows (``prompt="all"``, zero error)."""
    rows = []
    for N in sizes:
        for T in temperatures:
            vals = toy_curves(theta, [(o, N, T) for o in observables], q, profile)
            rows += [dict(prompt="all", L=int(N), T=float(T), observable=o, mean=float(v),
                          stderr=0.0) for o, v in zip(observables, vals)]
    return rows


def simulate_toy(key, theta, q: int, profile, sizes, temperatures, n_samples: int = 4000,
                 n_boot: int = 50) -> list[dict]:
    """The fitted toy sampled (exactly, :mod:`phasejax.lattice.samplers.chain`) at every size and
    temperature: tidy rows like the probe's (``prompt="all"``, moments with bootstrap errors by
    the probe's own :func:`~phasejax.analysis.sequences.moment_statistics`).

    Args:
      key: JAX PRNG key; size ``N`` at the ``i``-th of the sorted temperatures samples from
        ``fold_in(key, 1000 N + i)`` and bootstraps from ``fold_in`` of that.
      theta: the fitted ``(J, a, τ)`` (:func:`fit_sequences`).
      q: number of item states.
      profile: the field profile ``(q,)`` (:func:`item_profile`), or ``None`` for no field.
      sizes: chain lengths ``N``.
      temperatures: temperatures in the model's units (toy temperature ``τT``).
      n_samples: samples per size and temperature.
      n_boot: bootstrap replicates of the moments.
    """
    import jax

    from phasejax.analysis.sequences import moment_rows, potts_m
    from phasejax.lattice.samplers.chain import sample_chain

    J, a, tau = (float(x) for x in theta)
    f = np.zeros(q) if profile is None else np.asarray(profile, float)
    if f.ndim != 1:
        raise ValueError("simulate_toy takes one field profile (q,), not quenched profiles")
    rows = []
    for N in sorted(sizes):
        for i, t in enumerate(sorted(temperatures)):
            k = jax.random.fold_in(key, 1000 * N + i)
            s = sample_chain(jax.random.fold_in(k, 0), J, a * f, tau * t, N, n_samples)
            rows += moment_rows(jax.random.fold_in(k, 1), potts_m(s, q=q), N=N, T=t,
                                n_boot=n_boot)
    return rows


def decisions(key, rows: Sequence[dict]) -> dict:
    """The shared decisions (:func:`phasejax.analysis.scaling.scaling_analysis`) on one side's
    rows of ``U₄`` and ``χ``: ``{"estimates": …, "chi_peaks": …}``."""
    res = scaling_analysis(key, rows, binder="binder", susceptibility="susceptibility")
    keep = [e for e in res["estimates"] if e["method"] in SEQUENCE_METHODS]
    return dict(estimates=keep, chi_peaks=res["chi_peaks"])


def compare_sequences(key, lm_rows: Sequence[dict], items: dict, q: int, checkpoint: int = 0,
                      R: int = 1, n_boot: int = 20, toy_sizes: Sequence[int] | None = None,
                      toy_samples: int = 4000) -> dict:
    """Both fits and the shared decisions for one checkpoint's sequence rows.

    ``items`` maps ``(N, T)`` to the parsed ``(samples, N)`` token arrays. Returns the curve
    fit, pseudo-likelihood fits per temperature (longest ``N``), the fitted toy's exact rows on
    the model's grid, the fitted toy *sampled* at ``toy_sizes`` (default: the model's lengths
    and 2×, 4×, 8× the longest) on a dense temperature grid, and for every side the decisions
    of :func:`decisions` (Binder fixed point, χ peaks, collapse). ``key``: a JAX PRNG key for
    the sampled toy and every bootstrap.
    """
    import jax

    from phasejax.fit.inverse import fit_couplings

    rows = [r for r in lm_rows if r["prompt"] == "all"
            and int(r.get("checkpoint", 0)) == checkpoint]
    temps = sorted({float(r["T"]) for r in rows})
    sizes = sorted({int(float(r["L"])) for r in rows})
    profile = item_profile(items, q, temps)
    fit = fit_sequences(rows, q, profile)
    plm = []
    for (N, T), seqs in sorted(items.items()):
        if N == max(sizes) and len(seqs) >= 8 and N > R:
            f = fit_couplings(jax.random.fold_in(key, 10_000 + len(plm)), seqs, q, R=R,
                              periodic=False, n_boot=n_boot)
            plm.append(dict(N=N, T=T, n_sequences=len(seqs), J=f.J.tolist(),
                            J_err=f.J_err.tolist(), h=f.h.tolist(), h_err=f.h_err.tolist()))
    toy = toy_rows(fit.values, q, profile, sizes, temps)
    big = max(sizes)
    toy_sizes = sorted(set(toy_sizes or sizes + [2 * big, 4 * big, 8 * big]))
    dense = np.linspace(min(temps), max(temps), 4 * len(temps) + 1)
    mc_rows = simulate_toy(jax.random.fold_in(key, 1), fit.values, q, profile, toy_sizes, dense,
                           n_samples=toy_samples)
    sides = {side: decisions(jax.random.fold_in(key, 2 + k), r)
             for k, (side, r) in enumerate((("model", rows), ("toy", toy),
                                            ("toy_sampled", mc_rows)))}
    return dict(fit=fit.as_dict(), profile=profile.tolist(), plm=plm, toy_rows=toy,
                toy_sampled_rows=mc_rows, toy_sizes=toy_sizes, sides=sides, sizes=sizes,
                temperatures=temps, _fit=fit)
