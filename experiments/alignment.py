"""The toy alignment protocol as a sweep job (``experiment=alignment_toy``).

Writes ``alignment.csv`` (tidy: one row per record × statistic, with step, stage, T and the
phase label of that window), ``stages.json`` (each stage's statistics and label, the seed
distribution, the rewarded token) and ``alignment.png`` (statistics against protocol time,
background shaded by phase label).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from omegaconf import OmegaConf

from phasejax import io
from phasejax.lattice.alignment import AlignmentProtocol, run_alignment

RESULT_FILES = ("alignment.csv", "stages.json", "alignment.png")


def protocol_from(cfg) -> AlignmentProtocol:
    kw = OmegaConf.to_container(cfg.alignment, resolve=True)
    kw["seed"] = cfg.run.seed
    return AlignmentProtocol(**kw)


def check(cfg) -> None:
    """Every configuration error before anything compiles: the protocol checks its fields."""
    protocol_from(cfg)


def run(cfg, out: Path) -> dict:
    p = protocol_from(cfg)
    res = run_alignment(p, progress=cfg.run.progress)
    rows = []
    for step, T, stage, st in zip(res["steps"], res["temperature"], res["stage"], res["series"]):
        for k, v in st.items():
            if k != "phase":
                rows.append(dict(step=int(step), stage=stage, T=float(T), observable=k,
                                 value=float(v), phase=st["phase"]))
    io.write_table(out / "alignment.csv", rows,
                   ["step", "stage", "T", "observable", "value", "phase"])
    summary = {"protocol": dataclasses.asdict(p), "stages": res["stages"],
               "seed_distribution": res["seed"].tolist(), "seed_prompt": res["seed_prompt"],
               "reward_token": res["reward_token"], "stage_boundaries": res["boundaries"]}
    io.write_json(out / "stages.json", summary)
    plot(res, out / "alignment.png")
    return summary


def plot(res, path):
    from matplotlib.patches import Rectangle

    from phasejax.plot import PHASE_COLOURS, subplots

    steps = res["steps"]
    phases = [s["phase"] for s in res["series"]]
    panels = (("prompt_dependence", "I(prompt; token) / H"), ("seed_overlap", "overlap with seed"),
              ("js_to_seed", "JS to seed"), ("support_retention", "support retention"),
              ("mean_entropy", "per-prompt entropy"), ("n_distinct", "distinct distributions"))
    fig, axes = subplots(2, 3, figsize=(13, 6.5), sharex=True)
    for ax, (key, label) in zip(axes.flat, panels):
        ax.plot(steps, [s[key] for s in res["series"]], color="k", lw=1.2)
        start = 0
        for i in range(1, len(phases) + 1):
            if i == len(phases) or phases[i] != phases[start]:
                ax.axvspan(steps[start], steps[i - 1], color=PHASE_COLOURS[phases[start]],
                           alpha=0.6, lw=0)
                start = i
        for b in res["boundaries"][:-1]:
            ax.axvline(b, color="grey", ls="--", lw=0.8)
        ax.set_ylabel(label)
    for ax in axes[-1]:
        ax.set_xlabel("protocol step")
    handles = [Rectangle((0, 0), 1, 1, color=c, alpha=0.6) for c in PHASE_COLOURS.values()]
    fig.legend(handles, list(PHASE_COLOURS), loc="upper right", ncol=4)
    fig.text(0.01, 0.975, "toy alignment: liquid → nucleation (seed field, SFT) → settling "
             "(reward, RL)", va="top", fontsize=12)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    with io.atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
