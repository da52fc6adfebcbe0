"""The embedded default: ``python -m experiments.sweep`` with no arguments.

Three steps into one output folder, each in its own sub-folder so that each is also a valid
job of its kind: ``probe/`` (the language-model probe on ``lm`` and ``task``,
``kind=probe``), ``text/`` (a small text-criticality comparison of the same model: free
generation as a lattice against its fitted long-range toy chain, ``kind=text_criticality``
with ``criticality=main``), then ``fit.csv`` / ``fit.json`` (choice tasks: the quenched
single-site toy fitted to the model's m(T), S(T), C(T); sequence tasks: the open toy chain
fitted to ⟨|m|⟩(T, N) and U₄(T, N), pseudo-likelihood couplings per temperature, Binder
crossings and susceptibility-peak scaling for model and toy — see :mod:`phasejax.fit.choice`,
:mod:`phasejax.fit.sequence` and :mod:`phasejax.plot.toy_vs_lm`)
and ``comparison.png``: model and *fitted* toys side by side, with the captured mass of the
options. A finished step is not recomputed when the job is rerun.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

import numpy as np

from phasejax import io
from phasejax.analysis import distributions as D
from phasejax.fit.choice import (CHOICE_OBSERVABLES, choice_transitions, fit_choice, fit_rows,
                                 toy_coordinates)
from phasejax.fit.curvefit import PARAMETERS, toy_curves
from phasejax.fit.sequence import SEQUENCE_OBSERVABLES, compare_sequences
from phasejax.lattice import calibration
from phasejax.plot.toy_vs_lm import cell_edges, plot_sequence_comparison, plot_side_by_side

log = logging.getLogger(__name__)
RESULT_FILES = ("fit.csv", "fit.json", "fss.csv", "comparison.png")
CONFIG_KEYS = ("kind", "lm", "task", "probe", "criticality", "run.seed")
EXTRA_FILES = ("probe/observables.csv", "probe/probe.png", "text/criticality.png",
               "text/fss.csv")
FSS_COLUMNS = ("checkpoint", "model", "side", "method", "quantity", "N", "value", "error", "T",
               "reason", *calibration.RATE_COLUMNS)
FIT_COLUMNS = ("checkpoint", "model", "task", "parameter", "value", "error", "chi2", "dof")


def check(cfg) -> None:
    """Everything the job can check before its first long step (the model load): every probe
    and text-criticality setting, and that the fit gets more data points than parameters."""
    from experiments import probe, text_criticality

    if cfg.task is None or cfg.task.kind not in ("choice", "sequence"):
        raise ValueError("the job fits a choice task (task=number_1_10, coin_flip, …) or a "
                         "sequence task (digit_sequence, coin_sequence); got "
                         f"{None if cfg.task is None else cfg.task.kind!r}")
    text_criticality.settings_from(cfg)
    task, settings, _ = probe.check(cfg)
    T = settings.temperatures
    if task.kind == "choice":
        n, how = len(CHOICE_OBSERVABLES) * len(T), (f"{len(CHOICE_OBSERVABLES)} observables × "
                                                    f"{len(T)} temperatures")
    else:
        n = len(SEQUENCE_OBSERVABLES) * len(T) * len(settings.lengths)
        how = (f"{len(SEQUENCE_OBSERVABLES)} observables × {len(T)} temperatures × "
               f"{len(settings.lengths)} lengths")
    if n <= len(PARAMETERS):
        raise ValueError(f"probe.temperatures={list(T)} leaves the fit {n} data points ({how}) "
                         f"for {len(PARAMETERS)} parameters; give more temperatures"
                         + (" or lengths" if task.kind == "sequence" else ""))


def run(cfg, out: Path) -> dict:
    from experiments import probe, text_criticality

    check(cfg)
    timings = {}
    steps = (("probe", probe.RESULT_FILES, probe.run),
             ("text", text_criticality.RESULT_FILES, text_criticality.run))
    load = reuse_last_model()
    for name, files, job in steps:
        t0 = time.perf_counter()
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        if io.is_finished(folder, files):
            log.info("%s: results already in %s", name, folder)
        else:
            log.info("%s: running", name)
            job(cfg, folder, load=load)
        timings[name] = time.perf_counter() - t0
    t0 = time.perf_counter()
    text_stats = io.read_table(out / "text" / "statistics.csv")
    lm_rows = io.read_table(out / "probe" / "observables.csv")
    arrays = np.load(out / "probe" / "distributions.npz")
    if cfg.task.kind == "sequence":
        return _sequences(cfg, out, lm_rows, arrays, timings, t0)
    results, table, transitions = [], [], []
    for ck in sorted({int(r["checkpoint"]) for r in lm_rows}):
        fit, data, profiles = fit_choice(lm_rows, arrays[f"{ck}/log_prob"],
                                         arrays[f"{ck}/temperatures"], checkpoint=ck)
        model = data[0]["model"] if data else str(ck)
        table += fit_rows(fit, checkpoint=ck, model=model, task=cfg.task.name)
        melt = choice_transitions(data, fit, profiles)
        transitions += [dict(r, checkpoint=ck, model=model, N=1) for r in melt]
        P = arrays[f"{ck}/p"]
        T = np.asarray(arrays[f"{ck}/temperatures"], float)
        at1 = int(np.argmin(np.abs(T - 1.0)))
        results.append(dict(checkpoint=ck, model=model, **fit.as_dict(), transitions=melt,
                            toy=toy_coordinates(profiles, fit.values[2]),
                            model_mutual_information=float(D.mutual_information(P[:, at1])),
                            temperatures=T.tolist(),
                            model_m=np.asarray(D.order_parameter(P)).mean(0).tolist(),
                            toy_m=toy_curves(fit.values, [("order_parameter", 1, t) for t in T],
                                             P.shape[-1], profiles).tolist()))
        if ck == 0:
            first = (fit, data, profiles, model, P, T)
    timings["fit"] = time.perf_counter() - t0
    io.write_table(out / "fit.csv", table, FIT_COLUMNS)
    io.write_table(out / "fss.csv", transitions, FSS_COLUMNS)
    fit, data, profiles, model, p, temperatures = first
    captured = [r for r in lm_rows if r["observable"] == "captured_mass"
                and r["prompt"] == "mean" and int(r["checkpoint"]) == 0]
    plot_side_by_side(data + captured, fit, profiles, out / "comparison.png",
                      title=f"{model} on {cfg.task.name} vs fitted toys",
                      p=p, temperatures=temperatures, text_stats=text_stats)
    if len(results) > 1:
        plot_fit_chain(results, out / "chain.png", cfg.task.name)
    summary = dict(task=cfg.task.name, fits=results, timings_s=timings)
    io.write_json(out / "fit.json", summary)
    for r in results:
        log.info("%s: tau = %.4f +- %.4f, chi2/dof = %.2f", r["model"], r["tscale"],
                 r["tscale_err"], r["chi2_per_dof"])
    return summary


def reuse_last_model():
    """``load(path, dtype)`` like :func:`phasejax.probe.loading.load_model`, keeping the last
    model it loaded: the probe and the text step of one job read the model file once (the
    decoders are pure functions of their parameters and an explicit cache, so the steps cannot
    change the model for each other)."""
    from phasejax.probe.loading import load_model

    last = {}

    def load(path, dtype):
        key = (str(path), str(dtype))
        if key not in last:
            last.clear()
            last[key] = load_model(path, dtype)
        return last[key]

    return load


def _items(arrays, ck: int) -> dict:
    out = {}
    for key in arrays.files:
        m = re.fullmatch(rf"{ck}/items_N(\d+)_T(.+)", key)
        if m:
            out[(int(m.group(1)), float(m.group(2)))] = arrays[key]
    return out


def _sequences(cfg, out: Path, lm_rows, arrays, timings, t0) -> dict:
    """Sequence tasks: curve fit and pseudo-likelihood per checkpoint, shared FSS analysis."""
    q = len(cfg.task.options)
    results, table = [], []
    for ck in sorted({int(r["checkpoint"]) for r in lm_rows}):
        import jax

        key = jax.random.fold_in(jax.random.key(int(cfg.run.seed)), ck)
        items = _items(arrays, ck)
        res = compare_sequences(key, lm_rows, items, q, checkpoint=ck)
        model = next(r["model"] for r in lm_rows if int(r["checkpoint"]) == ck)
        fit = res.pop("_fit")
        table += fit_rows(fit, checkpoint=ck, model=model, task=cfg.task.name)
        results.append(dict(checkpoint=ck, model=model, **fit.as_dict(),
                            plm=res["plm"], sides=res["sides"],
                            parsed=parsed_fraction(lm_rows, ck),
                            n_sequences=min(len(v) for v in items.values()),
                            sizes=res["sizes"], temperatures=res["temperatures"]))
        if ck == 0:
            first = (res, model)
    timings["fit"] = time.perf_counter() - t0
    io.write_table(out / "fit.csv", table, FIT_COLUMNS)
    io.write_table(out / "fss.csv", fss_rows(results), FSS_COLUMNS)
    res, model = first
    plot_sequence_comparison([r for r in lm_rows if int(r["checkpoint"]) == 0], res,
                             out / "comparison.png", title=f"{model} on {cfg.task.name}")
    if len(results) > 1:
        plot_fit_chain(results, out / "chain.png", cfg.task.name, parameter="J")
    summary = dict(task=cfg.task.name, fits=results, timings_s=timings)
    io.write_json(out / "fit.json", summary)
    for r in results:
        log.info("%s: J = %.4f +- %.4f, a = %.4f +- %.4f, chi2/dof = %.2f", r["model"], r["J"],
                 r["J_err"], r["field"], r["field_err"], r["chi2_per_dof"])
    return summary


def parsed_fraction(lm_rows, checkpoint: int) -> dict:
    """The smallest fraction of a checkpoint's sampled answers that parsed as ``N`` items, over
    lengths and temperatures, and where: ``{"value", "N", "T"}``."""
    rates = [(float(r["mean"]), int(float(r["L"])), float(r["T"])) for r in lm_rows
             if r["observable"] == "parse_rate" and r["prompt"] == "all"
             and int(r["checkpoint"]) == checkpoint]
    value, N, T = min(rates)
    return dict(value=value, N=N, T=T)


def fss_rows(results) -> list[dict]:
    """Every side's decisions (Binder fixed point, χ peaks, collapse) as one tidy table: one row
    per method and quantity (``value`` or ``nan`` with the reason), plus one per χ peak. The
    model's ``T_c`` decisions carry their measured false-positive rate and power on the
    sequence-task path (:func:`phasejax.lattice.calibration.annotate`), and one ``selection``
    row per checkpoint gives the smallest fraction of answers that parsed: the statistics are
    those of the answers that did."""
    rows = []
    for r in results:
        temperatures = r["temperatures"]
        parsed = r["parsed"]
        rows.append(dict(checkpoint=r["checkpoint"], model=r["model"], side="model",
                         method="selection", quantity="parsed_fraction", N=parsed["N"],
                         value=parsed["value"], error="", T=parsed["T"],
                         reason=("every statistic is of the answers that parse as N items; the "
                                 f"smallest parsed fraction is {parsed['value']:.3g}, at N = "
                                 f"{parsed['N']}, T = {parsed['T']:g}")))
        for side, fss in r["sides"].items():
            base = dict(checkpoint=r["checkpoint"], model=r["model"], side=side)
            for e in fss["estimates"]:
                row = dict(base, method=e["method"], quantity=e["quantity"], N="",
                           value=e["value"], error=e["error"],
                           T=e["value"] if e["quantity"] == "T_c" else "", reason=e["reason"])
                if side == "model" and e["quantity"] == "T_c":
                    row = calibration.annotate(row, r["n_sequences"], temperatures,
                                               path="sequence", sizes=r["sizes"])
                rows.append(row)
            for p in fss["chi_peaks"]:
                rows.append(dict(base, method="chi_peak", quantity="peak", N=p["N"],
                                 value=p["peak"], error=p["peak_err"], T=p["T_peak"],
                                 reason=p["reason"]))
    return rows


def plot_fit_chain(results, path, task: str, parameter: str = "tscale"):
    """A fitted parameter and the goodness of fit along a checkpoint chain; for choice tasks
    also the chain's path through the toy's (disorder, field) plane, the order parameter over
    (temperature, checkpoint) for model and toy side by side, and I(prompt; answer) of both."""
    from phasejax.plot import save_figure, subplots

    x = np.arange(len(results))
    names = [r["model"] for r in results]
    choice = "toy" in results[0]
    fig, axes = subplots(2 if choice else 1, 3, figsize=(14, 7.5 if choice else 3.6),
                             squeeze=False)
    a, b, c = axes[0]
    a.errorbar(x, [r[parameter] for r in results], yerr=[r[f"{parameter}_err"] for r in results],
               marker="o", capsize=3)
    a.set_ylabel({"tscale": "toy temperature scale τ", "J": "toy coupling J"}.get(parameter,
                                                                                 parameter))
    b.plot(x, [r["chi2_per_dof"] for r in results], marker="s")
    b.set_yscale("log")
    b.set_ylabel("χ²/dof")
    for ax in (a, b):
        ax.set_xticks(x, names, rotation=30, fontsize=8)
    if not choice:
        c.axis("off")
    else:
        d = np.array([r["toy"]["disorder"] for r in results])
        h = np.array([r["toy"]["field"] for r in results])
        c.plot(d, h, "-", color="0.6", zorder=1)
        sc = c.scatter(d, h, c=[r["toy"]["mutual_information"] for r in results], cmap="magma",
                       s=60, zorder=2)
        for xi, yi, n in zip(d, h, names):
            c.annotate(n, (xi, yi), fontsize=7, xytext=(4, 4), textcoords="offset points")
        fig.colorbar(sc, ax=c, label="toy I(prompt; answer)")
        c.set_xlabel("field disorder across prompts (liquid →)")
        c.set_ylabel("field strength (ordered ↑)")
        c.set_title("the chain in the toy's phase plane", fontsize=9)
        T = np.asarray(results[0]["temperatures"])
        for ax, key, label in ((axes[1][0], "model_m", "language model"),
                               (axes[1][1], "toy_m", "fitted toy")):
            im = ax.pcolormesh(cell_edges(T), np.arange(len(results) + 1),
                               np.array([r[key] for r in results]), cmap="viridis", vmin=0,
                               vmax=1, shading="flat")
            fig.colorbar(im, ax=ax, label="order parameter $m$")
            ax.set_yticks(x + 0.5, names, fontsize=8)
            ax.set_xlabel("sampling temperature $T$")
            ax.set_title(f"{label}: $m$ over (T, checkpoint)", fontsize=9)
        ax = axes[1][2]
        ax.plot(x, [r["model_mutual_information"] for r in results], "o-", label="model")
        ax.plot(x, [r["toy"]["mutual_information"] for r in results], "s--", label="toy")
        ax.set_xticks(x, names, rotation=30, fontsize=8)
        ax.set_ylabel("I(prompt; answer) at T = 1 (nats)")
        ax.legend(fontsize=8)
    fig.suptitle(f"{task}: fitted toy along the checkpoint chain", fontsize=10)
    return save_figure(fig, path)
