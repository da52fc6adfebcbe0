"""Figures of tidy observable tables (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from phasejax.io import atomic_path  # noqa: E402

DEFAULT_PANELS = ("energy", "abs_magnetisation", "specific_heat", "susceptibility", "binder",
                  "site_entropy")
LABELS = {"energy": "energy per site $e$", "abs_magnetisation": r"order parameter $\langle|m|\rangle$",
          "specific_heat": "specific heat $C$", "susceptibility": r"susceptibility $\chi$",
          "binder": "Binder cumulant $U_4$", "site_entropy": "per-site token entropy"}


def plot_observables(rows: Sequence[dict], path, title: str = "",
                     panels: Sequence[str] = DEFAULT_PANELS, group: str | None = None) -> Path:
    """Grid of ``observable(T)`` panels with error bars; one line per value of ``group``."""
    present = [p for p in panels if any(r["observable"] == p for r in rows)]
    ncol = 3
    nrow = max(1, int(np.ceil(len(present) / ncol)))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.2 * nrow), squeeze=False)
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
        ax.set_xlabel("temperature $T$")
        ax.set_ylabel(LABELS.get(obs, obs))
        if group and len(groups) > 1:
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(present):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path, suffix=Path(path).suffix) as tmp:
        fig.savefig(tmp, dpi=110, format=Path(path).suffix.lstrip(".") or "png")
    plt.close(fig)
    return Path(path)
