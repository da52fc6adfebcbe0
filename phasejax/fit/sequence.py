"""One answer, two descriptions, for sequence tasks: the open toy chain fitted to a language
model's sequence statistics, and the finite-size analysis of both.

The model's rows ``⟨|m|⟩(T, N)``, ``U₄(T, N)`` are fitted by the open toy chain's exact curves
(coupling ``J`` and field scale ``a`` along the items' log-frequency profile, in the model's
temperature units); pseudo-likelihood couplings per temperature come from
:mod:`phasejax.fit.inverse`. The fitted toy is also *sampled* beyond enumeration
(:mod:`phasejax.lattice.samplers.chain`), and every side gets the same Binder crossings and
susceptibility-peak scaling (:mod:`phasejax.analysis.scaling`), the sampled toy also the
reweighting finite-size scaling of the lattice simulations (:mod:`phasejax.analysis.fss`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from phasejax.analysis.scaling import binder_crossings, peak_scaling
from phasejax.fit.curvefit import CurveFit, fit_chain_curves, toy_curves

SEQUENCE_OBSERVABLES = ("abs_magnetisation", "binder")


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


def binder_curves(rows: Sequence[dict]) -> dict:
    """``{N: (T, U₄, error)}`` from tidy rows."""
    out = {}
    for N in sorted({int(float(r["L"])) for r in rows if r["observable"] == "binder"}):
        sel = sorted((r for r in rows if r["observable"] == "binder"
                      and int(float(r["L"])) == N and np.isfinite(float(r["mean"]))),
                     key=lambda r: float(r["T"]))
        if len(sel) >= 2:
            out[N] = (np.array([float(r["T"]) for r in sel]),
                      np.array([float(r["mean"]) for r in sel]),
                      np.array([float(r.get("stderr") or 0.0) for r in sel]))
    return out


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
                 n_blocks: int = 4):
    """The fitted toy sampled (exactly, :mod:`phasejax.lattice.samplers.chain`) at every size and
    temperature: ``(rows, size_data)``.

    ``rows`` are tidy rows like the probe's (``prompt="all"``, moments with bootstrap errors by
    the probe's own :func:`~phasejax.analysis.sequences.moment_statistics`); ``size_data`` are
    :class:`phasejax.analysis.fss.SizeData` for the reweighting finite-size scaling, in the
    model's temperature units (toy temperature ``τT``, energies divided by ``τ``).

    Args:
      key: JAX PRNG key; size ``N`` at the ``i``-th of the sorted temperatures samples from
        ``fold_in(key, 1000 N + i)``.
      theta: the fitted ``(J, a, τ)`` (:func:`fit_sequences`).
      q: number of item states.
      profile: the field profile ``(q,)`` (:func:`item_profile`), or ``None`` for no field.
      sizes: chain lengths ``N``.
      temperatures: temperatures in the model's units.
      n_samples: samples per size and temperature (split into ``n_blocks`` blocks).
      n_blocks: blocks for the reweighting errors.

    Returns:
      ``(rows, size_data)``.
    """
    import jax

    from phasejax.analysis.fss import SizeData
    from phasejax.analysis.sequences import moment_statistics
    from phasejax.lattice.samplers.chain import chain_energy, potts_m, sample_chain

    J, a, tau = (float(x) for x in theta)
    f = np.zeros(q) if profile is None else np.asarray(profile, float)
    if f.ndim != 1:
        raise ValueError("simulate_toy takes one field profile (q,), not quenched profiles")
    T = np.asarray(sorted(temperatures), float)
    per = n_samples // n_blocks
    rows, data = [], []
    for N in sorted(sizes):
        E = np.empty((T.size, n_blocks, per))
        M = np.empty_like(E)
        for i, t in enumerate(T):
            s = sample_chain(jax.random.fold_in(key, 1000 * N + i), J, a * f, tau * t, N,
                             n_blocks * per)
            E[i] = (chain_energy(s, J, a * f) / tau).reshape(n_blocks, per)
            m = potts_m(s, q)
            M[i] = m.reshape(n_blocks, per)
            mom = moment_statistics(i, m, N=N, T=t, n_boot=50)
            rows += [dict(prompt="all", L=int(N), T=float(t), observable=k, mean=v,
                          stderr=e) for k, (v, e) in mom.items()]
        data.append(SizeData(N, N, T, E, M, n_blocks=n_blocks))
    return rows, data


def reweighting_fss(size_data, n_bootstrap: int = 20) -> dict:
    """:func:`phasejax.analysis.fss.analyse` on the sampled toy, reduced to what the tables
    show; a failure (e.g. histograms that do not overlap) is reported, not raised."""
    import warnings

    from phasejax.analysis import fss

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = fss.analyse(size_data, n_bootstrap=n_bootstrap, collapse_fit=False)
    except Exception as e:                         # noqa: BLE001 — reported in the table
        return dict(error=f"{type(e).__name__}: {e}")
    keep = ("T_c", "binder_at_T_c", "gamma_over_nu", "one_over_nu", "alpha_over_nu",
            "beta_over_nu")
    out = {k: dict(value=float(res["values"][k]), error=float(res["errors"][k]))
           for k in keep if k in res["values"]}
    out["chi_peaks"] = [dict(N=N, T_peak=float(res["values"][f"T_chi_max_{N}"]),
                             peak=float(res["values"][f"chi_max_{N}"])) for N in res["sizes"]]
    out["order"] = res["transition"]["order"]
    out["method"] = res["method"]
    return out


def compare_sequences(lm_rows: Sequence[dict], items: dict, q: int, checkpoint: int = 0,
                      R: int = 1, n_boot: int = 20, toy_sizes: Sequence[int] | None = None,
                      toy_samples: int = 4000) -> dict:
    """Both fits and the shared finite-size analysis for one checkpoint's sequence rows.

    ``items`` maps ``(N, T)`` to the parsed ``(samples, N)`` token arrays. Returns the curve
    fit, pseudo-likelihood fits per temperature (longest ``N``), the fitted toy's exact rows on
    the model's grid, the fitted toy *sampled* at ``toy_sizes`` (default: the model's lengths
    and 2×, 4×, 8× the longest) on a dense temperature grid, and for every side Binder
    crossings and susceptibility-peak scaling by the same row functions — plus, for the
    sampled toy, the reweighting finite-size scaling of the lattice simulations.
    """
    import jax

    from phasejax.fit.inverse import fit_chain

    rows = [r for r in lm_rows if r["prompt"] == "all"
            and int(r.get("checkpoint", 0)) == checkpoint]
    temps = sorted({float(r["T"]) for r in rows})
    sizes = sorted({int(float(r["L"])) for r in rows})
    profile = item_profile(items, q, temps)
    fit = fit_sequences(rows, q, profile)
    plm = []
    for (N, T), seqs in sorted(items.items()):
        if N == max(sizes) and len(seqs) >= 8 and N > R:
            f = fit_chain(seqs, q, R=R, periodic=False, n_boot=n_boot)
            plm.append(dict(N=N, T=T, n_sequences=len(seqs), J=f.J.tolist(),
                            J_err=f.J_err.tolist(), h=f.h.tolist(), h_err=f.h_err.tolist()))
    toy = toy_rows(fit.values, q, profile, sizes, temps)
    big = max(sizes)
    toy_sizes = sorted(set(toy_sizes or sizes + [2 * big, 4 * big, 8 * big]))
    dense = np.linspace(min(temps), max(temps), 4 * len(temps) + 1)
    mc_rows, mc_data = simulate_toy(jax.random.key(0), fit.values, q, profile, toy_sizes,
                                    dense, n_samples=toy_samples)
    sides = {}
    for side, r in (("model", rows), ("toy", toy), ("toy_sampled", mc_rows)):
        sides[side] = dict(binder_crossings=binder_crossings(binder_curves(r)),
                           susceptibility_peaks=peak_scaling(r))
    sides["toy_sampled"]["reweighting"] = reweighting_fss(mc_data)
    return dict(fit=fit.as_dict(), profile=profile.tolist(), plm=plm, toy_rows=toy,
                toy_sampled_rows=mc_rows, toy_sizes=toy_sizes, sides=sides, sizes=sizes,
                temperatures=temps, _fit=fit)
