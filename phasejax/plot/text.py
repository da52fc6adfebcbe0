"""Figures of the text-criticality comparison: the model and its fitted toy side by side."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from phasejax.plot.core import save_figure, subplots

PANELS = (("tau", r"$\tau = N\,\mathrm{Var}$-trace"), ("binder_connected", r"Binder $U_4^c$"),
          ("susceptibility", r"$\chi$"))


def _series(rows, side, model, mapping, obs):
    sel = [r for r in rows if r["side"] == side and r["model"] == model
           and r["mapping"] == mapping and r["observable"] == obs]
    out = {}
    for r in sel:
        out.setdefault(int(r["L"]), []).append((float(r["T"]), float(r["mean"]),
                                                float(r["stderr"])))
    return {N: np.array(sorted(v)) for N, v in sorted(out.items())}


def _tc_text(fss, side, model, mapping) -> str:
    """Each method's ``T_c`` (and ``γ/ν``) of one side, two lines (a panel title)."""
    parts = []
    for e in fss:
        if (e["side"], e["model"], e["mapping"]) != (side, model, mapping):
            continue
        if e["quantity"] not in ("T_c", "gamma_over_nu") :
            continue
        v, err = float(e["value"]), float(e["error"])
        name = {"binder_crossing": "U₄", "chi_peak": "χ", "tau_onset": "τ",
                "binder_collapse": "collapse"}.get(e["method"], e["method"])
        q = "T_c" if e["quantity"] == "T_c" else "γ/ν"
        parts.append(f"{q}[{name}] = " + (f"{v:.3g} ± {err:.2g}" if np.isfinite(v) else "—"))
    half = (len(parts) + 1) // 2
    return f"{side}: " + ", ".join(parts[:half]) + "\n" + ", ".join(parts[half:])


def plot_criticality(stats: Sequence[dict], curves: Sequence[dict], fss: Sequence[dict],
                     path, model: str | None = None):
    """One row per mapping: ``τ(N, T)``, ``U₄(N, T)``, ``χ(N, T)`` (model solid, fitted toy
    dashed, one colour per size rank), ``C(Δt)`` on log–log axes near ``T = 1``, and the Binder
    collapse ``U₄`` against ``(T − T_c) N^{1/ν}`` (or why there is none), with each side's
    ``T_c`` estimates written in the panels."""
    models = sorted({r["model"] for r in stats}, key=str)
    model = models[-1] if model is None else model
    mappings = list(dict.fromkeys(r["mapping"] for r in stats if r["model"] == model))
    fig, axes = subplots(len(mappings), 5, figsize=(21, 3.6 * len(mappings)), squeeze=False)
    cmap = __import__("matplotlib").colormaps["viridis"]
    for row, mapping in zip(axes, mappings):
        for ax, (obs, label) in zip(row[:3], PANELS):
            for side, ls, mk in (("model", "-", "o"), ("toy", "--", "s")):
                data = _series(stats, side, model, mapping, obs)
                for k, (N, a) in enumerate(data.items()):
                    c = cmap(k / max(len(data) - 1, 1))
                    ax.errorbar(a[:, 0], a[:, 1], yerr=np.nan_to_num(a[:, 2]), ls=ls, marker=mk,
                                ms=3, capsize=2, color=c, label=f"{side} N={N}")
            if obs == "tau":
                ax.set_yscale("log")
            ax.set_xlabel("temperature $T$")
            ax.set_ylabel(f"{label}  ({mapping})")
            ax.legend(fontsize=6, ncol=2)
        row[1].set_title(_tc_text(fss, "model", model, mapping), fontsize=7)
        row[2].set_title(_tc_text(fss, "toy", model, mapping), fontsize=7)
        ax = row[3]
        for side, ls in (("model", "-"), ("toy", "--")):
            sel = [r for r in curves if r["side"] == side and r["model"] == model
                   and r["mapping"] == mapping and "lag" in r
                   and str(r["observable"]).startswith("C_")]
            if not sel:
                continue
            Ts = np.array(sorted({float(r["T"]) for r in sel}))
            t1 = Ts[np.argmin(np.abs(Ts - 1.0))]
            q = max(int(str(r["observable"]).split("_")[1]) for r in sel) + 1
            lag = np.array(sorted({int(r["lag"]) for r in sel}))
            C = np.zeros(lag.size)
            for r in sel:
                a, b = str(r["observable"]).split("_")[1:]
                if float(r["T"]) == t1 and a == b:
                    C[np.searchsorted(lag, int(r["lag"]))] += float(r["mean"])
            ok = C > 0
            ax.loglog(lag[ok], C[ok], ls=ls, label=f"{side}, T={t1:g} (q={q})")
        ax.set_xlabel(r"lag $\Delta t$")
        ax.set_ylabel(r"$\sum_a C_{aa}(\Delta t)$")
        ax.legend(fontsize=7)
        _collapse_panel(row[4], stats, fss, model, mapping, cmap)
    fig.suptitle(f"{model}: free generation as a lattice (solid) and its fitted long-range "
                 "toy (dashed)")
    return save_figure(fig, path)


def _collapse_panel(ax, stats, fss, model, mapping, cmap):
    """``U₄ᶜ`` against ``(T − T_c) N^{1/ν}`` at each side's fitted collapse, or the reason."""
    notes = []
    for side, ls, mk in (("model", "-", "o"), ("toy", "--", "s")):
        got = {e["quantity"]: e for e in fss if (e["side"], e["model"], e["mapping"],
                                                   e["method"]) == (side, model, mapping,
                                                                    "binder_collapse")}
        tc, nu = (float(got[k]["value"]) if k in got else np.nan for k in ("T_c", "one_over_nu"))
        if not (np.isfinite(tc) and np.isfinite(nu)):
            why = got["T_c"]["reason"][:70] if "T_c" in got else "not computed"
            notes.append(f"{side}: no collapse ({why})")
            continue
        S = float(got["quality"]["value"]) if "quality" in got else np.nan
        notes.append(f"{side}: T_c = {tc:.3g}, 1/ν = {nu:.3g}, S = {S:.2g}")
        data = _series(stats, side, model, mapping, "binder_connected")
        for k, (N, a) in enumerate(data.items()):
            ax.errorbar((a[:, 0] - tc) * N**nu, a[:, 1], yerr=np.nan_to_num(a[:, 2]), ls=ls,
                        marker=mk, ms=3, capsize=2, color=cmap(k / max(len(data) - 1, 1)),
                        label=f"{side} N={N}")
    ax.set_xlabel(r"$(T - T_c)\,N^{1/\nu}$")
    ax.set_ylabel(f"Binder $U_4^c$ collapse  ({mapping})")
    ax.text(0.02, 0.98, "\n".join(notes), transform=ax.transAxes, fontsize=6, va="top",
            wrap=True)
    if ax.has_data():
        ax.legend(fontsize=6, ncol=2, loc="lower left")


def plot_chain(fss: Sequence[dict], models: Sequence[str], path):
    """``T_c`` (each method, each mapping, model and toy) against checkpoint, with errors; a
    method that finds no transition at a checkpoint is marked "none" there."""
    keys = sorted({(e["side"], e["mapping"], e["method"]) for e in fss
                   if e["quantity"] == "T_c"})
    fig, axes = subplots(1, 2, figsize=(11, 3.8), squeeze=False)
    x = np.arange(len(models))
    for side, ax in zip(("model", "toy"), axes[0]):
        for k, (s, mapping, method) in enumerate(k for k in keys if k[0] == side):
            v, e = [], []
            for m in models:
                hit = [r for r in fss if (r["side"], r["mapping"], r["method"], r["model"],
                                          r["quantity"]) == (side, mapping, method, m, "T_c")]
                v.append(float(hit[0]["value"]) if hit else np.nan)
                e.append(float(hit[0]["error"]) if hit else np.nan)
            line = ax.errorbar(x, v, yerr=np.nan_to_num(e), marker="o", capsize=3,
                               label=f"{mapping} · {method}")
            for xi, vi in zip(x, v):       # no estimate at this checkpoint: say so
                if not np.isfinite(vi):
                    ax.annotate("none", (xi, 0.03 + 0.06 * k),
                                xycoords=("data", "axes fraction"),
                                color=line[0].get_color(), fontsize=7, ha="center")
        ax.set_xticks(x, models, rotation=20, fontsize=7)
        ax.set_ylabel("$T_c$")
        ax.set_title(side)
        ax.legend(fontsize=7)
    return save_figure(fig, path)
