"""Figures of tidy observable tables (matplotlib, headless).

Figures are built as :class:`matplotlib.figure.Figure` objects drawn by the Agg canvas, never
through ``pyplot``: importing or using this module does not choose or switch the user's
backend (a notebook keeps its own), opens no window and keeps no global figure state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from phasejax.io import atomic_path

DEFAULT_PANELS = ("energy", "abs_magnetisation", "specific_heat", "susceptibility", "binder",
                  "site_entropy")
# the phase labels of phasejax.analysis.distributions.phase_label, one colour each
PHASE_COLOURS = {"liquid": "#9ecae1", "nucleated": "#fdae6b", "settled": "#a1d99b",
                 "collapsed": "#d9d9d9"}
LABELS = {"energy": "energy per site $e$", "abs_magnetisation": r"order parameter $\langle|m|\rangle$",
          "specific_heat": "specific heat $C$", "susceptibility": r"susceptibility $\chi$",
          "binder": "Binder cumulant $U_4$", "site_entropy": "per-site token entropy"}


def observables_figure(rows: Sequence[dict], title: str = "",
                       panels: Sequence[str] = DEFAULT_PANELS, group: str | None = None,
                       labels: dict | None = None, xlabel: str = "temperature $T$") -> Figure:
    """Grid of ``observable(T)`` panels with error bars; one line per value of ``group``.

    Each panel's axis says what it shows: ``labels`` (observable -> label) over :data:`LABELS`,
    the raw observable name only for one neither knows.
    """
    labels = {**LABELS, **(labels or {})}
    present = [p for p in panels if any(r["observable"] == p for r in rows)]
    ncol = 3
    nrow = max(1, int(np.ceil(len(present) / ncol)))
    fig, axes = subplots(nrow, ncol, figsize=(4.2 * ncol, 3.2 * nrow), squeeze=False)
    groups = sorted({r.get(group) for r in rows}, key=str) if group else [None]
    for ax, obs in zip(axes.flat, present):
        for g in groups:
            sel = [r for r in rows if r["observable"] == obs and (g is None or r.get(group) == g)]
            sel.sort(key=lambda r: r["T"])
            T = np.array([r["T"] for r in sel], float)
            y = np.array([r["mean"] for r in sel], float)
            err = np.array([r["stderr"] for r in sel], float)
            ax.errorbar(T, y, yerr=np.nan_to_num(err), marker="o", ms=3, capsize=2,
                        label=None if g is None else f"{group}={g}")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(labels.get(obs, obs))
        if group and len(groups) > 1:
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(present):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    return fig


def plot_observables(rows: Sequence[dict], path, title: str = "",
                     panels: Sequence[str] = DEFAULT_PANELS, group: str | None = None,
                     labels: dict | None = None, xlabel: str = "temperature $T$") -> Path:
    """:func:`observables_figure`, written to ``path``."""
    return save_figure(observables_figure(rows, title, panels, group, labels, xlabel), path)


def subplots(nrows: int = 1, ncols: int = 1, *, figsize=None, **kwargs):
    """``(figure, axes)`` like ``pyplot.subplots``, on an Agg canvas outside ``pyplot``."""
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def save_figure(fig, path) -> Path:
    """Lay out and write ``fig`` atomically (no half-written file); the format follows the
    suffix of ``path`` (``png`` without one). Returns ``path``."""
    fig.tight_layout()
    with atomic_path(path, suffix=Path(path).suffix) as tmp:
        fig.savefig(tmp, dpi=110, format=Path(path).suffix.lstrip(".") or "png")
    return Path(path)




def plot_fss(sizes, result: dict, folder, label: str = "") -> list[Path]:
    """Binder crossing, peaks against ``L`` (log axes), data collapse and energy histogram."""
    folder = Path(folder)
    vals = result["values"]
    paths = []
    Tc = vals.get("T_c", np.nan)

    fig, ax = subplots(figsize=(5.5, 4))
    for s in sizes:
        T = np.linspace(*s.T_range, 200)
        u, e = s.curves_with_errors(T)["binder"]
        ax.plot(T, u, label=f"L={s.L}")
        ax.fill_between(T, u - e, u + e, alpha=0.25)
    if np.isfinite(Tc):
        ax.axvline(Tc, color="k", ls="--", lw=1, label=f"$T_c$ = {Tc:.4f}")
    ax.set_xlabel("temperature $T$")
    ax.set_ylabel("Binder cumulant $U_4$")
    ax.set_title(f"Binder crossing {label}")
    ax.legend(fontsize=8)
    paths.append(save_figure(fig, folder / "binder_crossing.png"))

    Ls = np.array([s.L for s in sizes], float)
    fig, ax = subplots(figsize=(5.5, 4))
    for key, name, expo in (("chi_max", r"$\chi_{max}$", "gamma_over_nu"),
                            ("C_max", r"$C_{max}$", "alpha_over_nu"),
                            ("dU4dT_max", r"max $|dU_4/dT|$", "one_over_nu")):
        y = np.array([vals[f"{key}_{int(L)}"] for L in Ls])
        dy = np.array([result["errors"].get(f"{key}_{int(L)}", 0.0) for L in Ls])
        x = vals.get(expo, np.nan)
        ax.errorbar(Ls, y, yerr=dy, marker="o", ls="none", label=f"{name}: slope {x:.3f}")
        if np.isfinite(x):
            A = np.exp(np.mean(np.log(y) - x * np.log(Ls)))
            ax.plot(Ls, A * Ls**x, lw=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("linear size $L$")
    ax.set_title(f"peak scaling {label}")
    ax.legend(fontsize=8)
    paths.append(save_figure(fig, folder / "peaks_vs_L.png"))

    col = result.get("collapse")
    if col:
        fig, ax = subplots(figsize=(5.5, 4))
        for s in sizes:
            T = np.linspace(*s.T_range, 200)
            m = s.curves(T)["abs_magnetisation"]
            ax.plot((T - col["T_c"]) * s.L ** (1 / col["nu"]), m * s.L ** col["beta_over_nu"],
                    label=f"L={s.L}")
        ax.set_xlabel(r"$(T - T_c) L^{1/\nu}$")
        ax.set_ylabel(r"$\langle|m|\rangle L^{\beta/\nu}$")
        ax.set_title(f"collapse: $T_c$={col['T_c']:.4f}, ν={col['nu']:.3f}, "
                     f"β/ν={col['beta_over_nu']:.3f}", fontsize=9)
        ax.legend(fontsize=8)
        paths.append(save_figure(fig, folder / "collapse.png"))

    tr = result.get("transition", {})
    big = sizes[-1]
    t_hist = tr.get("T_equal_height", vals.get(f"T_C_max_{big.L}", np.mean(big.T_range)))
    e, p = big.rw.energy_distribution(t_hist)
    fig, ax = subplots(figsize=(5.5, 4))
    edges = np.linspace((e / big.N).min(), (e / big.N).max(), 60)
    ax.hist(e / big.N, edges, weights=p, histtype="step")
    ax.set_xlabel("energy per site $e$")
    ax.set_ylabel("$P(e)$")
    ax.set_title(f"L={big.L} at T={t_hist:.4f}: {tr.get('order', '?')}")
    paths.append(save_figure(fig, folder / "energy_histogram.png"))
    return paths


def plot_phase_diagram(g, T, M, bT, berr, param: str, path, label: str = "") -> Path:
    """Order parameter map over ``(param, T)`` with the boundary and the phases labelled."""
    fig, ax = subplots(figsize=(6, 4.5))
    im = ax.pcolormesh(g, T, M.T, shading="nearest", cmap="viridis")
    fig.colorbar(im, ax=ax, label=r"order parameter $\langle|m|\rangle$")
    ax.errorbar(g, bT, yerr=berr, color="w", marker="o", ms=4, capsize=2, label="boundary")
    ax.set_xlabel(param)
    ax.set_ylabel("temperature $T$")
    xm = float(np.mean(g))
    ax.text(xm, float(np.nanmin(T)) + 0.08 * np.ptp(T), "ordered (crystal)", color="w",
            ha="center")
    ax.text(xm, float(np.nanmax(T)) - 0.08 * np.ptp(T), "disordered (liquid)", color="w",
            ha="center")
    ax.set_title(f"phase diagram {label}")
    ax.legend(loc="upper left", fontsize=8)
    return save_figure(fig, path)
