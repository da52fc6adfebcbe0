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

from phasejax.analysis.scaling import (binder_crossings, interpolate_crossing,  # noqa: F401
                                       peak_scaling)
from phasejax.fit.curvefit import CurveFit, fit_chain_curves, toy_curves

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


def choice_transitions(data: Sequence[dict], fit: CurveFit, profiles, n_grid: int = 400):
    """Where the single answer melts, for the model (on its grid) and the fitted toy (fine
    grid): the specific-heat peak ``(T*, C_max)`` and the temperature where the mean order
    parameter falls through ``m = 1/2``, as rows ``{side, quantity, value, error, T}``."""
    out = []
    by = {o: sorted((r for r in data if r["observable"] == o), key=lambda r: float(r["T"]))
          for o in ("specific_heat", "order_parameter")}
    T = np.array([float(r["T"]) for r in by["specific_heat"]])
    grid = np.linspace(T.min(), T.max(), n_grid)
    K = profiles.shape[1]
    toy = {o: toy_curves(fit.values, [(o, 1, t) for t in grid], K, profiles) for o in by}
    for side, x, C, m, Cerr in (
            ("model", T, np.array([float(r["mean"]) for r in by["specific_heat"]]),
             np.array([float(r["mean"]) for r in by["order_parameter"]]),
             np.array([float(r["stderr"]) for r in by["specific_heat"]])),
            ("toy", grid, toy["specific_heat"], toy["order_parameter"], np.zeros(n_grid))):
        i = int(np.argmax(C))
        out.append(dict(side=side, quantity="C_peak", value=float(C[i]),
                        error=float(Cerr[i]), T=float(x[i])))
        below = np.flatnonzero((m[:-1] - 0.5) * (m[1:] - 0.5) <= 0)
        T_half = None
        if below.size:
            j = below[0]
            T_half = float(interpolate_crossing(x[j], m[j], x[j + 1], m[j + 1], 0.5)
                           if m[j + 1] != m[j] else x[j])
        out.append(dict(side=side, quantity="T_m_half", value=T_half, error=None, T=T_half))
    return out


def toy_coordinates(profiles, tau: float) -> dict:
    """Where the fitted quenched toy sits in its own phase diagram (at ``T = 1``).

    ``field`` — the typical field strength a site feels, ``√(mean_j Var_k f_jk)/τ``: large
    means one answer dominates (ordered); ``disorder`` — how much the field changes from prompt
    to prompt, ``√(mean_k Var_j f_jk)/τ``: large means each prompt orders differently (the
    liquid's many promptable distributions); ``I`` — the toy's ``I(prompt; answer)``.
    """
    from scipy.special import softmax

    from phasejax.analysis import distributions as D

    f = np.asarray(profiles, float) / tau
    return dict(field=float(np.sqrt(f.var(1).mean())), disorder=float(np.sqrt(f.var(0).mean())),
                mutual_information=float(D.mutual_information(softmax(f, -1))))


def fit_rows(fit: CurveFit, **labels) -> list[dict]:
    """The fit as tidy rows ``{parameter, value, error, chi2, dof}`` plus ``labels``."""
    return [dict(labels, parameter=n, value=float(v), error=float(e), chi2=fit.chi2,
                 dof=fit.dof) for n, v, e in zip(fit.names, fit.values, fit.errors)]


def plot_side_by_side(data, fit: CurveFit, profiles, path, title: str = "",
                      p=None, temperatures=None, text_stats=None):
    """Top: the model's curves with the fitted toy. Middle (with the model's per-prompt
    distributions ``p`` ``(prompts, T, K)``): the phase diagrams side by side — the order
    parameter over (temperature, prompt variant) for the model and for the fitted toy, whose
    replicas are the variants' quenched fields. Bottom: the captured mass of the options (how
    much of the model's probability the scored event holds), and with ``text_stats`` (rows of
    :mod:`experiments.text_criticality`) free generation's ``τ(N, T)`` and ``U₄ᶜ(N, T)`` beside
    its fitted long-range toy chain's."""
    from phasejax.analysis import distributions as D
    from phasejax.fit.curvefit import chain_observables
    from phasejax.plot import LABELS, save_figure, subplots

    K = profiles.shape[1]
    rows = 3 if p is not None else 2
    fig, axes = subplots(rows, 3, figsize=(13, 3.5 * rows))
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
    if p is not None:
        T = np.asarray(temperatures, float)
        m_model = np.asarray(D.order_parameter(np.asarray(p)))           # (prompts, T)
        order = np.argsort(-m_model[:, int(np.argmin(np.abs(T - 1.0)))])
        grid = np.linspace(T.min(), T.max(), 60)
        J, a, tau = fit.values
        m_toy = np.array([[chain_observables(J, a, tau * t, 1, K, f)["order_parameter"]
                           for t in grid] for f in profiles])
        for ax, m, x, label in ((axes[1][0], m_model, T, "language model"),
                                (axes[1][1], m_toy, grid, f"fitted toy, τ = {tau:.3f}")):
            im = ax.pcolormesh(cell_edges(x), np.arange(len(order) + 1), m[order], cmap="viridis",
                               vmin=0, vmax=1, shading="flat")
            fig.colorbar(im, ax=ax, label="order parameter $m$")
            ax.set_xlabel("sampling temperature $T$")
            ax.set_ylabel("prompt variant (by $m$ at $T=1$)")
            ax.set_title(f"{label}: ordered (bright) vs disordered", fontsize=9)
        ax = axes[1][2]
        ax.plot(T, m_model.mean(0), "o", color="C0", label="model, mean over variants")
        ax.plot(grid, m_toy.mean(0), color="C3", label="toy")
        ax.fill_between(T, m_model.min(0), m_model.max(0), color="C0", alpha=0.2,
                        label="model, range over variants")
        ax.set_xlabel("sampling temperature $T$")
        ax.set_ylabel("order parameter $m$")
        ax.legend(fontsize=7)
    ax = axes[-1][0]
    sel = sorted((r for r in data if r["observable"] == "captured_mass"),
                 key=lambda r: float(r["T"]))
    ax.errorbar([float(r["T"]) for r in sel], [float(r["mean"]) for r in sel],
                yerr=np.nan_to_num([float(r["stderr"]) for r in sel]), marker="o", ms=4,
                capsize=2, color="C0")
    ax.set_yscale("log")
    ax.set_xlabel("sampling temperature $T$")
    ax.set_ylabel("captured mass of the options")
    ax.set_title("how much of the model the options hold", fontsize=9)
    for ax, obs, label in ((axes[-1][1], "tau", r"$\tau(N, T)$"),
                           (axes[-1][2], "binder_connected", r"$U_4^c(N, T)$")):
        if not text_stats:
            ax.axis("off")
            continue
        mapping = text_stats[0]["mapping"]
        for side, ls, mk in (("model", "-", "o"), ("toy", "--", "s")):
            rows = [r for r in text_stats if r["side"] == side and r["observable"] == obs
                    and r["mapping"] == mapping]
            for k, N in enumerate(sorted({int(r["L"]) for r in rows})):
                sel = sorted((r for r in rows if int(r["L"]) == N), key=lambda r: float(r["T"]))
                ax.errorbar([float(r["T"]) for r in sel], [float(r["mean"]) for r in sel],
                            yerr=np.nan_to_num([float(r["stderr"]) for r in sel]), ls=ls,
                            marker=mk, ms=3, capsize=2, color=f"C{k}",
                            label=f"{side} N={N}")
        if obs == "tau":
            ax.set_yscale("log")
        ax.set_xlabel("sampling temperature $T$")
        ax.set_ylabel(f"{label}, free text ({mapping})")
        ax.legend(fontsize=6, ncol=2)
    axes[-1][1].set_title("free generation (solid) vs fitted long-range chain (dashed)",
                          fontsize=9)
    fig.suptitle(title + f"   χ²/dof = {fit.chi2 / max(fit.dof, 1):.2f}", fontsize=10)
    return save_figure(fig, path)


def cell_edges(x):
    """``n + 1`` cell boundaries around ``n`` grid points (midpoints between neighbours, the
    ends mirrored; ``x ± 1/2`` for a single point), for ``pcolormesh``."""
    x = np.asarray(x, float)
    mid = (x[1:] + x[:-1]) / 2
    return np.concatenate([[x[0] - (mid[0] - x[0]) if x.size > 1 else x[0] - 0.5], mid,
                           [x[-1] + (x[-1] - mid[-1]) if x.size > 1 else x[-1] + 0.5]])


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


def simulate_toy(theta, q: int, profile, sizes, temperatures, key=None,
                 n_samples: int = 4000, n_blocks: int = 4):
    """The fitted toy sampled (exactly, :mod:`phasejax.lattice.samplers.chain`) at every size and
    temperature: ``(rows, size_data)``.

    ``rows`` are tidy rows like the probe's (``prompt="all"``, moments with bootstrap errors by
    the probe's own :func:`~phasejax.probe.measure.sequence_moments`); ``size_data`` are
    :class:`phasejax.analysis.fss.SizeData` for the reweighting finite-size scaling, in the model's
    temperature units (toy temperature ``τT``, energies divided by ``τ``).
    """
    import jax

    from phasejax.lattice.samplers.chain import chain_energy, potts_m, sample_chain
    from phasejax.analysis.fss import SizeData
    from phasejax.probe.measure import sequence_moments

    J, a, tau = (float(x) for x in theta)
    f = np.zeros(q) if profile is None else np.asarray(profile, float)
    if f.ndim != 1:
        raise ValueError("simulate_toy takes one field profile (q,), not quenched profiles")
    key = jax.random.key(0) if key is None else key
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
            mom = sequence_moments(m, N, t, n_boot=50, seed=i)
            rows += [dict(prompt="all", L=int(N), T=float(t), observable=k, mean=v,
                          stderr=e) for k, (v, e) in mom.items()]
        data.append(SizeData(N, N, T, E, M, n_blocks=n_blocks))
    return rows, data


def reweighting_fss(size_data, n_bootstrap: int = 20) -> dict:
    """:func:`phasejax.analysis.fss.analyse` on the sampled toy, reduced to what the tables show; a
    failure (e.g. histograms that do not overlap) is reported, not raised."""
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
    mc_rows, mc_data = simulate_toy(fit.values, q, profile, toy_sizes, dense,
                                    n_samples=toy_samples)
    sides = {}
    for side, r in (("model", rows), ("toy", toy), ("toy_sampled", mc_rows)):
        sides[side] = dict(binder_crossings=binder_crossings(binder_curves(r)),
                           susceptibility_peaks=peak_scaling(r))
    sides["toy_sampled"]["reweighting"] = reweighting_fss(mc_data)
    return dict(fit=fit.as_dict(), profile=profile.tolist(), plm=plm, toy_rows=toy,
                toy_sampled_rows=mc_rows, toy_sizes=toy_sizes, sides=sides, sizes=sizes,
                temperatures=temps, _fit=fit)


def plot_sequence_comparison(lm_rows, result: dict, path, title: str = ""):
    """Top: model points and fitted-toy curves per sequence length. Bottom: the phase
    diagrams side by side — ``⟨|m|⟩`` over (temperature, length) for the model and for the
    sampled toy, each with its susceptibility-peak line ``T*(N)`` — and ``T*(N)`` of every
    side on one axis (the finite-size phase boundary)."""
    import matplotlib

    from phasejax.plot import LABELS, save_figure, subplots

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
             sides["model"]["susceptibility_peaks"]["peaks"]),
            (axes[1][1], result["toy_sampled_rows"], "fitted toy (sampled)",
             sides["toy_sampled"].get("reweighting", {}).get("chi_peaks")
             or sides["toy_sampled"]["susceptibility_peaks"]["peaks"])):
        _phase_map(ax, rows, label, peaks)
    ax = axes[1][2]
    for side, marker, label in (("model", "o", "model (grid)"), ("toy", "s", "toy exact (grid)"),
                                ("toy_sampled", "^", "toy sampled (grid)")):
        pk = sides[side]["susceptibility_peaks"]["peaks"]
        ax.plot([p["N"] for p in pk], [p["T_peak"] for p in pk], marker=marker, ls=":",
                label=label)
    rw = sides["toy_sampled"].get("reweighting", {})
    if rw.get("chi_peaks"):
        ax.plot([p["N"] for p in rw["chi_peaks"]], [p["T_peak"] for p in rw["chi_peaks"]],
                "k-", label="toy sampled (reweighted)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("sequence length $N$")
    ax.set_ylabel("$T^*(N)$: peak of χ")
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
    ax.plot([p["T_peak"] for p in pk], [pos[p["N"]] for p in pk], "w--o", ms=4,
            label="$T^*(N)$, χ peak")
    ax.set_xlabel("sampling temperature $T$")
    ax.set_ylabel("sequence length $N$")
    ax.set_title(f"{label}: ordered (bright) vs disordered", fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
