"""The post-training phase diagram beside the fitted toy's, in one figure.

Rows: SFT (dose × ``T``) and RL (steps × ``T``): the model's phases | the fitted toy's | both
sets of boundaries overlaid (model filled with error bars, toy open). Last row: the nucleation
curves, the hysteresis loops and the numbers of the fit and the transfer.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Rectangle

from phasejax.analysis import distributions as D
from phasejax.plot.core import PHASE_COLOURS, save_figure, subplots

MARKERS = {"prompt_dependence": "o", "seed_overlap": "s", "support_retention": "^"}
LEVEL_LABELS = {"prompt_dependence": "I/H = 0.10 (liquid)", "seed_overlap": "overlap = 0.95",
                "support_retention": "retention = 0.90"}
STAGE_LABELS = {"sft": "SFT dose", "rl": "RL steps"}


def _phase_panel(ax, x, T, phases, title):
    idx = np.vectorize(D.PHASES.index)(np.asarray(phases))
    cmap = ListedColormap([PHASE_COLOURS[p] for p in D.PHASES])
    ax.pcolormesh(x, T, idx.T, cmap=cmap, vmin=-0.5, vmax=len(D.PHASES) - 0.5,
                  shading="nearest")
    ax.set_yscale("log")
    ax.set_ylabel("sampling temperature $T$")
    ax.set_title(title, fontsize=10)


def _boundaries(ax, bounds, side, stage, filled):
    for obs, marker in MARKERS.items():
        for along in ("dose", "T"):
            sel = [b for b in bounds if b["side"] == side and b["stage"] == stage
                   and b["observable"] == obs and b["along"] == along]
            if not sel:
                continue
            v = np.array([b["value"] for b in sel])
            e = np.array([b["error"] for b in sel])
            at = np.array([b["at"] for b in sel])
            x, y = (v, at) if along == "dose" else (at, v)
            kw = dict(xerr=np.nan_to_num(e)) if along == "dose" else dict(yerr=np.nan_to_num(e))
            ax.errorbar(x, y, fmt=marker, ms=4, lw=0.8, capsize=1.5,
                        mfc="k" if filled else "none", color="k" if filled else "C3",
                        label=f"{side}: {LEVEL_LABELS[obs]}" if along == "dose" else None,
                        **kw)


def plot_phase_maps(path, summary, maps, toy_values, axes, T, bounds, hysteresis):
    """The figure (module docstring) from the job's tables and summary."""
    fig, ax = subplots(3, 3, figsize=(17, 14))
    for row, stage in enumerate(("sft", "rl")):
        ph = summary["phases"][stage]
        _phase_panel(ax[row, 0], axes[stage], T, ph["model"],
                     f"model: {stage.upper()} (mean of {maps[stage].seeds.shape[1]} seeds)")
        _phase_panel(ax[row, 1], axes[stage], T, ph["toy"], f"fitted toy: {stage.upper()}")
        for side, a, filled in (("model", ax[row, 0], True), ("toy", ax[row, 1], False)):
            _boundaries(a, bounds, side, stage, filled)
        for side, filled in (("model", True), ("toy", False)):
            _boundaries(ax[row, 2], bounds, side, stage, filled)
        ax[row, 2].set_yscale("log")
        ax[row, 2].set_title(f"{stage.upper()} boundaries: model (filled) vs toy (open)",
                             fontsize=10)
        ax[row, 2].legend(fontsize=6, loc="best")
        for a in ax[row]:
            a.set_xlabel(STAGE_LABELS[stage])
            a.set_xlim(axes[stage].min(), axes[stage].max())
    handles = [Rectangle((0, 0), 1, 1, color=PHASE_COLOURS[p]) for p in D.PHASES]
    ax[0, 0].legend(handles, D.PHASES, fontsize=7, loc="upper right", title="phase",
                    title_fontsize=7)

    # nucleation curves
    a = ax[2, 0]
    i1 = int(np.argmin(np.abs(np.log(T))))
    m = maps["sft"]
    x = axes["sft"]
    for s_, curve in enumerate(m.of("in_basin", "seeds")[:, :, i1]):
        a.plot(x, curve, color="0.6", lw=0.8, label="model, one seed" if s_ == 0 else None)
    a.errorbar(x, m.of("in_basin")[:, i1], yerr=m.of("in_basin", "error")[:, i1], color="k",
               marker="o", ms=3, capsize=2, label="model, mean")
    a.plot(x, toy_values["sft"][list(m.names).index("in_basin")][:, i1], color="C3", ls="--",
           marker="s", mfc="none", ms=4, label="fitted toy")
    shape = summary["nucleation"]["model"]
    a.set_title(f"nucleation at T = {T[i1]:.2g}: {shape['verdict']} (in between "
                f"{shape['intermediate']:.2f} ± {shape['intermediate_error']:.2f})", fontsize=10)
    a.set_xlabel(STAGE_LABELS["sft"])
    a.set_ylabel("fraction of prompts in the seed's basin")
    a.legend(fontsize=7)

    # hysteresis loops: the basin fraction (solid markers) and the mean overlap with the seed
    a = ax[2, 1]
    for side, color, ls in (("model", "k", "-"), ("toy", "C3", "--")):
        for name, alpha in (("basin_fraction", 1.0), ("overlap", 0.5)):
            for branch, marker in (("up", ">"), ("down", "<")):
                q = f"{name}_{branch}"
                sel = sorted((h for h in hysteresis if h["side"] == side and h["quantity"] == q),
                             key=lambda h: h["dose"])
                a.errorbar([h["dose"] for h in sel], [h["mean"] for h in sel],
                           yerr=[h["error"] for h in sel], color=color, ls=ls, marker=marker,
                           ms=4, capsize=2, alpha=alpha,
                           mfc=color if side == "model" else "none",
                           label=f"{side} {name.replace('_', ' ')} "
                                 f"{'in' if branch == 'up' else 'back'}")
    h = summary["hysteresis"]
    a.set_title("loop areas (model | toy): basin "
                f"{h['basin_fraction']['model']['mean']:.3f} ± "
                f"{h['basin_fraction']['model']['error']:.3f} | "
                f"{h['basin_fraction']['toy']['mean']:.3f} ± "
                f"{h['basin_fraction']['toy']['error']:.3f}; overlap "
                f"{h['overlap']['model']['mean']:.3f} ± {h['overlap']['model']['error']:.3f} | "
                f"{h['overlap']['toy']['mean']:.3f} ± {h['overlap']['toy']['error']:.3f}",
                fontsize=8)
    a.set_xlabel("dose (the way back: end dose − steps back)")
    a.set_ylabel("basin fraction; mean overlap with the seed")
    a.legend(fontsize=6)

    # the numbers
    a = ax[2, 2]
    a.axis("off")
    f, fr, tr = summary["fit_sft"], summary["fit_rl"], summary["transfer"]
    lines = [
        f"melted base: {summary['melted']['phase']} (I/H = "
        f"{summary['melted']['prompt_dependence']:.2f})",
        "toy fit, SFT:  χ²/dof = " + f"{f['chi2_per_dof']:.2f} (dof {f['dof']})",
        *(f"  {n} = {f[n]:.3g} ± {f[n + '_err']:.2g}" for n in ("lam_inf", "alpha_inf", "d0",
                                                                 "K")),
        "toy fit, RL:  χ²/dof = " + f"{fr['chi2_per_dof']:.2f} (dof {fr['dof']})",
        *(f"  {n} = {fr[n]:.3g} ± {fr[n + '_err']:.2g}" for n in ("rho_inf", "s0")),
        f"transfer from '{summary['transfer_framing']}' only:",
        f"  model: others move {tr['ratio']:.2f} ± {tr['ratio_error']:.2f} of the trained way",
        f"  toy at the fitted K: {tr['toy_ratio']:.2f};  K matching the model: "
        f"{tr['K_transfer']:.2f}",
    ]
    dis = summary.get("disagreements")
    if dis:
        lines.append("model vs toy: cells of another phase " + ", ".join(
            f"{k} {v:.0%}" for k, v in dis["phase_differs"].items()))
        within = dis["boundaries_within_2_sigma"]
        if within is not None:
            lines.append(f"  shared boundaries within 2σ: {within:.0%} of "
                         f"{len(dis['boundaries'])}")
    a.text(0.0, 1.0, "\n".join(lines), va="top", family="monospace", fontsize=9)
    return save_figure(fig, path)
