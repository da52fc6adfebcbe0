"""Figures of the toy-versus-language-model comparison: a model's curves beside its fitted toy's.

:func:`plot_side_by_side` draws a choice task (:mod:`phasejax.fit.choice`),
:func:`plot_sequence_comparison` a sequence task (:mod:`phasejax.fit.sequence`), :func:`plot_fit`
the goodness of a curve fit (:mod:`phasejax.fit.curvefit`).
"""

from __future__ import annotations

import itertools
from typing import Sequence

import numpy as np

from phasejax.fit.choice import CHOICE_OBSERVABLES
from phasejax.fit.curvefit import CurveFit, toy_curves


def plot_side_by_side(data, fit: CurveFit, profiles, path, title: str = "",
                      p=None, temperatures=None, text_stats=None):
    """Top: the model's curves with the fitted toy. Middle (with the model's per-prompt
    distributions ``p`` ``(prompts, T, K)``): the phase diagrams side by side — the order
    parameter over (temperature, prompt variant) for the model and for the fitted toy, whose
    replicas are the variants' quenched fields. Bottom: the captured mass of the options (how
    much of the model's probability the scored event holds), and with ``text_stats`` (rows of
    :mod:`experiments.text_criticality`) free generation's ``τ(N, T)`` and ``U₄ᶜ(N, T)`` beside
    its fitted long-range toy chain's."""
    from phasejax.plot.core import save_figure, subplots

    rows = 3 if p is not None else 2
    fig, axes = subplots(rows, 3, figsize=(13, 3.5 * rows))
    _curve_panels(axes[0], data, fit, profiles)
    if p is not None:
        _phase_panels(fig, axes[1], fit, profiles, p, temperatures)
    _captured_panel(axes[-1][0], data)
    for ax, obs, label in ((axes[-1][1], "tau", r"$\tau(N, T)$"),
                           (axes[-1][2], "binder_connected", r"$U_4^c(N, T)$")):
        _text_panel(ax, text_stats, obs, label)
    axes[-1][1].set_title("free generation (solid) vs fitted long-range chain (dashed)",
                          fontsize=9)
    fig.suptitle(title + f"   χ²/dof = {fit.chi2 / max(fit.dof, 1):.2f}", fontsize=10)
    return save_figure(fig, path)


def _curve_panels(axes, data, fit, profiles):
    """The model's choice observables against ``T`` with the fitted toy's exact curves."""
    from phasejax.plot.core import LABELS

    K = profiles.shape[1]
    for ax, obs in zip(axes, CHOICE_OBSERVABLES):
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


def _phase_panels(fig, axes, fit, profiles, p, temperatures):
    """``m`` over (temperature, prompt variant) for model and fitted toy, and their means."""
    from phasejax.analysis import distributions as D
    from phasejax.fit.curvefit import chain_observables

    K = profiles.shape[1]
    T = np.asarray(temperatures, float)
    m_model = np.asarray(D.order_parameter(np.asarray(p)))           # (prompts, T)
    order = np.argsort(-m_model[:, int(np.argmin(np.abs(T - 1.0)))])
    grid = np.linspace(T.min(), T.max(), 60)
    J, a, tau = fit.values
    m_toy = np.array([[chain_observables(J, a, tau * t, 1, K, f)["order_parameter"]
                       for t in grid] for f in profiles])
    for ax, m, x, label in ((axes[0], m_model, T, "language model"),
                            (axes[1], m_toy, grid, f"fitted toy, τ = {tau:.3f}")):
        im = ax.pcolormesh(cell_edges(x), np.arange(len(order) + 1), m[order], cmap="viridis",
                           vmin=0, vmax=1, shading="flat")
        fig.colorbar(im, ax=ax, label="order parameter $m$")
        ax.set_xlabel("sampling temperature $T$")
        ax.set_ylabel("prompt variant (by $m$ at $T=1$)")
        ax.set_title(f"{label}: ordered (bright) vs disordered", fontsize=9)
    ax = axes[2]
    ax.plot(T, m_model.mean(0), "o", color="C0", label="model, mean over variants")
    ax.plot(grid, m_toy.mean(0), color="C3", label="toy")
    ax.fill_between(T, m_model.min(0), m_model.max(0), color="C0", alpha=0.2,
                    label="model, range over variants")
    ax.set_xlabel("sampling temperature $T$")
    ax.set_ylabel("order parameter $m$")
    ax.legend(fontsize=7)


def _captured_panel(ax, data):
    sel = sorted((r for r in data if r["observable"] == "captured_mass"),
                 key=lambda r: float(r["T"]))
    ax.errorbar([float(r["T"]) for r in sel], [float(r["mean"]) for r in sel],
                yerr=np.nan_to_num([float(r["stderr"]) for r in sel]), marker="o", ms=4,
                capsize=2, color="C0")
    ax.set_yscale("log")
    ax.set_xlabel("sampling temperature $T$")
    ax.set_ylabel("captured mass of the options")
    ax.set_title("how much of the model the options hold", fontsize=9)


def _text_panel(ax, text_stats, obs, label):
    """One observable of free generation per size, model solid and fitted toy dashed."""
    if not text_stats:
        ax.axis("off")
        return
    mapping = text_stats[0]["mapping"]
    for side, ls, mk in (("model", "-", "o"), ("toy", "--", "s")):
        rows = [r for r in text_stats if r["side"] == side and r["observable"] == obs
                and r["mapping"] == mapping]
        for k, N in enumerate(sorted({int(r["L"]) for r in rows})):
            sel = sorted((r for r in rows if int(r["L"]) == N), key=lambda r: float(r["T"]))
            ax.errorbar([float(r["T"]) for r in sel], [float(r["mean"]) for r in sel],
                        yerr=np.nan_to_num([float(r["stderr"]) for r in sel]), ls=ls,
                        marker=mk, ms=3, capsize=2, color=f"C{k}", label=f"{side} N={N}")
    if obs == "tau":
        ax.set_yscale("log")
    ax.set_xlabel("sampling temperature $T$")
    ax.set_ylabel(f"{label}, free text ({mapping})")
    ax.legend(fontsize=6, ncol=2)


def cell_edges(x):
    """``n + 1`` cell boundaries around ``n`` grid points (midpoints between neighbours, the
    ends mirrored; ``x ± 1/2`` for a single point), for ``pcolormesh``."""
    x = np.asarray(x, float)
    mid = (x[1:] + x[:-1]) / 2
    return np.concatenate([[x[0] - (mid[0] - x[0]) if x.size > 1 else x[0] - 0.5], mid,
                           [x[-1] + (x[-1] - mid[-1]) if x.size > 1 else x[-1] + 0.5]])


def plot_sequence_comparison(lm_rows, result: dict, path, title: str = ""):
    """Top: model points and fitted-toy curves per sequence length. Bottom: the phase
    diagrams side by side — ``⟨|m|⟩`` over (temperature, length) for the model and for the
    sampled toy, each with the positions ``T*(N)`` of its significant χ peaks — and ``T*(N)``
    of every side on one axis (only peaks that stand significantly above both sides)."""
    import matplotlib

    from phasejax.plot.core import LABELS, save_figure, subplots

    obs = ("abs_magnetisation", "binder", "susceptibility")
    fig, axes = subplots(2, 3, figsize=(14, 8))
    colours = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, o in zip(axes[0], obs):
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
    sides = result["sides"]
    for ax, rows, label, peaks in (
            (axes[1][0], [r for r in lm_rows if r["prompt"] == "all"], "language model",
             sides["model"]["chi_peaks"]),
            (axes[1][1], result["toy_sampled_rows"], "fitted toy (sampled)",
             sides["toy_sampled"]["chi_peaks"])):
        _phase_map(ax, rows, label, peaks)
    ax = axes[1][2]
    notes = []
    for side, marker, label in (("model", "o", "model (grid)"), ("toy", "s", "toy exact (grid)"),
                                ("toy_sampled", "^", "toy sampled (grid)")):
        pk = [p for p in sides[side]["chi_peaks"] if np.isfinite(p["T_peak"])]
        ax.errorbar([p["N"] for p in pk], [p["T_peak"] for p in pk],
                    yerr=np.nan_to_num([p["T_peak_err"] for p in pk]), marker=marker, ls=":",
                    capsize=2, label=label)
        tc = next((e for e in sides[side]["estimates"] if (e["method"], e["quantity"]) ==
                   ("binder_crossing", "T_c")), None)
        if tc is not None:
            notes.append(f"{side}: T_c " + (f"{tc['value']:.3g} ± {tc['error']:.2g}"
                                            if np.isfinite(tc["value"]) else "none"))
    ax.set_xscale("log", base=2)
    ax.set_xlabel("sequence length $N$")
    ax.set_ylabel("$T^*(N)$: significant peak of χ")
    ax.set_title("; ".join(notes), fontsize=7)
    if ax.has_data():
        ax.legend(fontsize=7)
    f = result["fit"]
    fig.suptitle(f"{title}  toy: J={f['J']:.3g}±{f['J_err']:.2g}, a={f['field']:.3g}±"
                 f"{f['field_err']:.2g} (lines), χ²/dof={f['chi2_per_dof']:.2f}", fontsize=9)
    return save_figure(fig, path)


def _phase_map(ax, rows, label, peaks):
    """``⟨|m|⟩`` over (T, N) as a map, one band per length, with the χ-peak line on top."""
    sel = [r for r in rows if r["observable"] == "abs_magnetisation"
           and np.isfinite(float(r["mean"]))]
    sizes = sorted({int(float(r["L"])) for r in sel})
    temps = sorted({float(r["T"]) for r in sel})
    if not sizes or len(temps) < 2:
        ax.set_title(f"{label}: no data", fontsize=9)
        return
    grid = np.full((len(sizes), len(temps)), np.nan)
    for r in sel:
        grid[sizes.index(int(float(r["L"]))), temps.index(float(r["T"]))] = float(r["mean"])
    im = ax.pcolormesh(cell_edges(temps), np.arange(len(sizes) + 1), grid, cmap="viridis", vmin=0,
                       vmax=1, shading="flat")
    ax.figure.colorbar(im, ax=ax, label="⟨|m|⟩")
    ax.set_yticks(np.arange(len(sizes)) + 0.5, [str(n) for n in sizes])
    pos = {n: i + 0.5 for i, n in enumerate(sizes)}
    pk = [p for p in peaks if p["N"] in pos and np.isfinite(p["T_peak"])]
    if not pk:
        ax.set_title(f"{label}: no significant χ peak", fontsize=9)
        return
    ax.plot([p["T_peak"] for p in pk], [pos[p["N"]] for p in pk], "w--o", ms=4,
            label="$T^*(N)$, χ peak")
    ax.set_xlabel("sampling temperature $T$")
    ax.set_ylabel("sequence length $N$")
    ax.set_title(f"{label}: ordered (bright) vs disordered", fontsize=9)
    ax.legend(fontsize=7, loc="upper right")


def plot_fit(rows: Sequence[dict], fit: CurveFit, q: int, observables: Sequence[str], path,
             profile=None, title: str = ""):
    """Goodness-of-fit figure: data ± error per ``N`` with the fitted toy's exact curves."""
    import matplotlib

    from phasejax.plot.core import save_figure, subplots

    fig, axes = subplots(1, len(observables), figsize=(4.3 * len(observables), 3.4),
                         squeeze=False)
    sizes = sorted({int(float(r["L"])) for r in rows if r["observable"] in observables})
    colours = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, obs in zip(axes[0], observables):
        for c, N in zip(itertools.cycle(colours), sizes):
            sel = sorted((r for r in rows if r["observable"] == obs
                          and int(float(r["L"])) == N), key=lambda r: float(r["T"]))
            if not sel:
                continue
            T = np.array([float(r["T"]) for r in sel])
            ax.errorbar(T, [float(r["mean"]) for r in sel],
                        yerr=np.nan_to_num([float(r["stderr"]) for r in sel]), fmt="o",
                        ms=3, capsize=2, color=c, label=f"N={N}")
            grid = np.linspace(T.min(), T.max(), 60)
            ax.plot(grid, toy_curves(fit.values, [(obs, N, t) for t in grid], q, profile),
                    color=c, lw=1)
        ax.set_xlabel("temperature $T$")
        ax.set_ylabel(obs)
        ax.legend(fontsize=7)
    d = fit.as_dict()
    fig.suptitle((title + "  " if title else "") + f"J={d['J']:.3g}±{d['J_err']:.2g}, "
                 f"a={d['field']:.3g}±{d['field_err']:.2g}, τ={d['tscale']:.3g}±"
                 f"{d['tscale_err']:.2g}, χ²/dof={d['chi2_per_dof']:.2f}", fontsize=9)
    return save_figure(fig, path)
