"""One answer, two descriptions: a language model's temperature curves and the fitted toy's.

For a choice task the dictionary reads each prompt variant as one replica of a quenched field:
replica ``j`` is a single ``K``-state site in the field ``f_j = ln p_j(·)`` (the model's option
log-probabilities at ``T = 1``, centred), observed at toy temperature ``τ·T``. If sampling at
temperature ``T`` were exactly Boltzmann in those log-probabilities (true for one-token options),
the fit would return ``τ = 1``; multi-token options sampled token by token at temperature ``T``
deviate, and ``τ`` measures by how much. The fitted observables are the prompt-averaged order
parameter ``m(T)``, entropy ``S(T)`` and specific heat ``C(T)``.
"""

from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np
from scipy.special import logsumexp

from phasejax.curvefit import CurveFit, fit_chain_curves, toy_curves

CHOICE_OBSERVABLES = ("order_parameter", "entropy", "specific_heat")
SEQUENCE_OBSERVABLES = ("abs_magnetisation", "binder")


def prompt_profiles(log_prob: np.ndarray, temperatures: np.ndarray) -> np.ndarray:
    """``(prompts, K)`` centred log-probabilities at the temperature closest to 1."""
    i = int(np.argmin(np.abs(np.asarray(temperatures) - 1.0)))
    lp = log_prob[:, i] - logsumexp(log_prob[:, i], axis=-1, keepdims=True)
    lp = lp * temperatures[i]          # back to T = 1 units when 1 is not on the grid
    return lp - lp.mean(-1, keepdims=True)


def fit_choice(rows: Sequence[dict], log_prob: np.ndarray, temperatures,
               observables: Sequence[str] = CHOICE_OBSERVABLES, model: str | None = None,
               checkpoint=None):
    """Fit ``τ`` of the quenched single-site toy to the prompt-averaged curves of ``rows``.

    Returns ``(fit, data_rows, profiles)``. ``rows`` is the probe's tidy table (one model, or
    select it with ``model``/``checkpoint``); ``log_prob`` ``(prompts, T, K)`` its arrays.
    """
    T = np.asarray(temperatures, float)
    data = [r for r in rows if r["prompt"] == "mean" and r["observable"] in observables
            and (model is None or r["model"] == model)
            and (checkpoint is None or int(r["checkpoint"]) == checkpoint)]
    profiles = prompt_profiles(np.asarray(log_prob, float), T)
    data = [dict(r, L=1) for r in data]
    fit = fit_chain_curves(data, profiles.shape[1], list(observables), profile=profiles,
                           theta0=(0.0, 1.0, 1.0), bounds=((-1, 0, 0.05), (1, 2, 20.0)))
    return fit, data, profiles


def fit_rows(fit: CurveFit, **labels) -> list[dict]:
    """The fit as tidy rows ``{parameter, value, error, chi2, dof}`` plus ``labels``."""
    return [dict(labels, parameter=n, value=float(v), error=float(e), chi2=fit.chi2,
                 dof=fit.dof) for n, v, e in zip(fit.names, fit.values, fit.errors)]


def plot_side_by_side(data, fit: CurveFit, profiles, toy_rows, path, title: str = ""):
    """Top: the model's curves with the fitted toy. Bottom: the toy lattice sweep."""
    import matplotlib.pyplot as plt

    from phasejax.plot import LABELS, _save

    K = profiles.shape[1]
    fig, axes = plt.subplots(2, 3, figsize=(13, 7))
    for ax, obs in zip(axes[0], CHOICE_OBSERVABLES):
        sel = sorted((r for r in data if r["observable"] == obs), key=lambda r: float(r["T"]))
        T = np.array([float(r["T"]) for r in sel])
        ax.errorbar(T, [float(r["mean"]) for r in sel],
                    yerr=np.nan_to_num([float(r["stderr"]) for r in sel]), fmt="o", ms=4,
                    capsize=2, color="C0", label="language model")
        grid = np.linspace(T.min(), T.max(), 80)
        ax.plot(grid, toy_curves(fit.values, [(obs, 1, t) for t in grid], K, profiles),
                color="C3", lw=1.5, label=f"toy, τ = {fit.values[2]:.3f}")
        ax.set_xlabel("sampling temperature $T$")
        ax.set_ylabel(LABELS.get(obs, obs))
        ax.legend(fontsize=8)
    for ax, obs in zip(axes[1], ("abs_magnetisation", "specific_heat", "binder")):
        sel = sorted((r for r in toy_rows if r["observable"] == obs),
                     key=lambda r: float(r["T"]))
        ax.errorbar([float(r["T"]) for r in sel], [float(r["mean"]) for r in sel],
                    yerr=np.nan_to_num([float(r["stderr"]) for r in sel]), marker="s", ms=3,
                    capsize=2, color="k")
        ax.set_xlabel("toy temperature $T$")
        ax.set_ylabel(LABELS.get(obs, obs))
    axes[1][0].set_title("toy lattice sweep", fontsize=9, loc="left")
    fig.suptitle(title + f"   χ²/dof = {fit.chi2 / max(fit.dof, 1):.2f}", fontsize=10)
    return _save(fig, path)


# ----------------------------------------------------------------------------- sequences
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


def binder_crossings(curves: dict) -> list[dict]:
    """``{N: (T, U₄)}`` → where consecutive sizes' Binder curves cross (linear interpolation).

    A crossing is the finite-size estimate of a transition temperature; none is reported when
    the curves do not cross on the grid (as for a one-dimensional chain, which has no
    transition at ``T > 0``).
    """
    sizes = sorted(curves)
    out = []
    for a, b in zip(sizes, sizes[1:]):
        Ta, Ua = map(np.asarray, curves[a])
        Tb, Ub = map(np.asarray, curves[b])
        grid = np.intersect1d(Ta, Tb)
        d = np.interp(grid, Tb, Ub) - np.interp(grid, Ta, Ua)
        T_cross = None
        zero = np.flatnonzero(d == 0)
        sign = np.flatnonzero(np.sign(d[:-1]) * np.sign(d[1:]) < 0)
        if zero.size and (not sign.size or zero[0] <= sign[0]):
            T_cross = float(grid[zero[0]])
        elif sign.size:
            i = sign[0]
            T_cross = float(grid[i] - d[i] * (grid[i + 1] - grid[i]) / (d[i + 1] - d[i]))
        out.append(dict(N1=int(a), N2=int(b), T_cross=T_cross))
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


def binder_curves(rows: Sequence[dict]) -> dict:
    """``{N: (T, U₄)}`` from tidy rows."""
    out = {}
    for N in sorted({int(float(r["L"])) for r in rows if r["observable"] == "binder"}):
        sel = sorted((r for r in rows if r["observable"] == "binder"
                      and int(float(r["L"])) == N and np.isfinite(float(r["mean"]))),
                     key=lambda r: float(r["T"]))
        if len(sel) >= 2:
            out[N] = (np.array([float(r["T"]) for r in sel]),
                      np.array([float(r["mean"]) for r in sel]))
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


def compare_sequences(lm_rows: Sequence[dict], items: dict, q: int, checkpoint: int = 0,
                      R: int = 1, n_boot: int = 20) -> dict:
    """Both fits and the shared finite-size analysis for one checkpoint's sequence rows.

    ``items`` maps ``(N, T)`` to the parsed ``(samples, N)`` token arrays. Returns the curve
    fit, pseudo-likelihood fits per temperature (longest ``N``), the fitted toy's rows on the
    same grid, and for both sides Binder crossings and susceptibility-peak scaling.
    """
    from phasejax.inverse import fit_chain

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
    sides = {}
    for side, r in (("model", rows), ("toy", toy)):
        sides[side] = dict(binder_crossings=binder_crossings(binder_curves(r)),
                           susceptibility_peaks=peak_scaling(r))
    return dict(fit=fit.as_dict(), profile=profile.tolist(), plm=plm, toy_rows=toy,
                sides=sides, sizes=sizes, temperatures=temps, _fit=fit)


def plot_sequence_comparison(lm_rows, result: dict, path, title: str = ""):
    """Model points and fitted-toy curves side by side, per sequence length."""
    import matplotlib.pyplot as plt

    from phasejax.plot import LABELS, _save

    obs = ("abs_magnetisation", "binder", "susceptibility")
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, o in zip(axes, obs):
        for c, N in zip(itertools.cycle(colours), result["sizes"]):
            sel = sorted((r for r in lm_rows if r["prompt"] == "all" and r["observable"] == o
                          and int(float(r["L"])) == N), key=lambda r: float(r["T"]))
            if sel:
                ax.errorbar([float(r["T"]) for r in sel], [float(r["mean"]) for r in sel],
                            yerr=np.nan_to_num([float(r["stderr"]) for r in sel]), fmt="o",
                            ms=4, capsize=2, color=c, label=f"model N={N}")
            toy = sorted((r for r in result["toy_rows"] if r["observable"] == o
                          and r["L"] == N), key=lambda r: r["T"])
            ax.plot([r["T"] for r in toy], [r["mean"] for r in toy], color=c, lw=1.2)
        ax.set_xlabel("sampling temperature $T$")
        ax.set_ylabel(LABELS.get(o, o))
        ax.legend(fontsize=7)
    f = result["fit"]
    fig.suptitle(f"{title}  toy: J={f['J']:.3g}±{f['J_err']:.2g}, a={f['field']:.3g}±"
                 f"{f['field_err']:.2g} (lines), χ²/dof={f['chi2_per_dof']:.2f}", fontsize=9)
    return _save(fig, path)
