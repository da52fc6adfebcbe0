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


NAMES = {"binder_crossing": "U₄", "xi_crossing": "ξ/N", "chi_peak": "χ", "tau_slope": "τ",
         "binder_collapse": "collapse", "bridge": "A/K_c"}
QUANTITIES = {"T_c": "T_c", "T_onset": "T_onset", "T_cross": "T×", "gamma_over_nu": "γ/ν",
              "kept_fraction": "kept"}


def _tc_text(fss, side, model, mapping) -> str:
    """Each method's ``T_c`` (and ``T_onset``, ``γ/ν``, the kept fraction) of one side, two
    lines (a panel title); "none" where a method named nothing, with the method's measured power
    where stored, and a named value with its false-positive rate's upper bound and how often
    its ±1σ interval held the reference's truth."""
    parts = []
    for e in fss:
        if (e["side"], e["model"], e["mapping"]) != (side, model, mapping):
            continue
        if e["quantity"] not in QUANTITIES or e["method"] == "decay":
            continue
        v, err = float(e["value"]), float(e["error"])
        name = NAMES.get(e["method"], e["method"])
        q = QUANTITIES[e["quantity"]]
        if e["quantity"] == "kept_fraction":
            parts.append(f"kept ≥ {v:.3f}")
            continue
        text = f"{v:.3g} ± {err:.2g}" if np.isfinite(v) else "none"
        power, fp = e.get("power"), e.get("fp_upper95")      # measured rates, where stored
        if isinstance(power, float) and np.isfinite(power) and not np.isfinite(v):
            text += f" (power {power:.0%})"
        elif isinstance(fp, float) and np.isfinite(fp) and np.isfinite(v):
            cover = e.get("cover_1sigma")
            cover = (f", ±1σ held the truth in {cover:.0%}" if isinstance(cover, float)
                     and np.isfinite(cover) else "")
            text += f" (false + ≤ {fp:.1%}{cover})"
        parts.append(f"{q}[{name}] = {text}")
    half = (len(parts) + 1) // 2
    return f"{side}: " + ", ".join(parts[:half]) + "\n" + ", ".join(parts[half:])


def plot_criticality(stats: Sequence[dict], curves: Sequence[dict], fss: Sequence[dict],
                     fits: Sequence[dict], path, model: str | None = None):
    """One row per mapping: ``τ(N, T)``, ``U₄ᶜ(N, T)``, ``χ(N, T)`` (model solid, fitted toy
    dashed, one colour per size rank), ``C(Δt)`` on log–log axes near ``T = 1`` with the decay
    verdict, and the bridge: the amplitude fitted at every ``T`` against the one-fit assumption
    ``A(T₀)T₀/T`` and the family's critical amplitude ``K_c(σ(T))``; each side's decisions
    (``T_c`` or none, ``T_onset``, the kept fraction) are written in the panel titles."""
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
        verdicts = [e for e in fss if (e["side"], e["model"], e["mapping"], e["method"]) ==
                    ("model", model, mapping, "decay")]
        if verdicts:
            e = min(verdicts, key=lambda e: abs(float(e["T"]) - 1.0))
            ax.set_title(f"T={float(e['T']):g}: η = {float(e['value']):.3g} ± "
                         f"{float(e['error']):.2g}\n{e['reason'].split(' (')[0]}", fontsize=7)
        _bridge_panel(row[4], fits, fss, model, mapping)
    fig.suptitle(f"{model}: free generation as a lattice (solid) and its fitted long-range "
                 "toy (dashed)")
    return save_figure(fig, path)


def _bridge_panel(ax, fits, fss, model, mapping):
    """``A(T)`` fitted at every ``T``, the one-fit assumption, and ``K_c(σ(T))``."""
    sel = sorted((r for r in fits if r["model"] == model and r["mapping"] == mapping),
                 key=lambda r: float(r["T"]))
    if not sel:
        ax.axis("off")
        return
    f = lambda k: np.array([float(r[k]) for r in sel])
    T = f("T")
    ax.errorbar(T, f("A"), yerr=np.nan_to_num(f("A_err")), marker="o", capsize=2,
                label="A(T), fitted at every T")
    ax.plot(T, f("A_fixed_T0"), "--", color="0.4", label="A(T₀)·T₀/T (one fit)")
    if np.isfinite(f("K_c")).any():
        ax.plot(T, f("K_c"), "k:", label="K_c(σ(T)) of the family")
    ax.set_xlabel("temperature $T$")
    ax.set_ylabel(f"amplitude A of $A r^{{-(1+σ)}}$  ({mapping})")
    got = [e for e in fss if (e["model"], e["mapping"], e["method"]) == (model, mapping,
                                                                          "bridge")]
    if got:
        v, e = float(got[0]["value"]), float(got[0]["error"])
        ax.set_title("A/K_c = 1 at " + (f"T× = {v:.3g} ± {e:.2g}" if np.isfinite(v) else
                                        "no T: " + got[0]["reason"][:60]), fontsize=7)
    ax.legend(fontsize=6)


def plot_transition_chain(fss: Sequence[dict], models: Sequence[str], path):
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
