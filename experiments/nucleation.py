"""Nucleation of the 2D Ising model in a field, against classical nucleation theory
(``experiment=nucleation_ising2d``).

Two measurements, both from the metastable all-down state in a field ``h > 0``:

* **committor** — a disk of up spins of radius ``R`` is placed (optionally pinned for
  ``pin_steps`` steps, then released); the fraction of replicas in which it has grown after
  ``steps`` steps, against ``R``; the radius where it crosses ½ against CNT's ``R*``;
* **rate** — unseeded runs at several fields; the first step at which the magnetisation turns
  positive is the nucleation time (censored at the end of the run); the rate per site and
  sweep from the censored maximum-likelihood estimate; ``ln I = a - Ξ/h`` fitted and compared
  with CNT's ``Ξ``; the largest up-cluster is recorded along the way.

Writes ``committor.csv``, ``nucleation_times.csv``, ``rates.csv``, ``nucleation.json`` and
``nucleation.png``.
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

import toy_models
from phasejax import io
from phasejax.lattice import seeding
from phasejax.lattice import nucleation as nuc
from phasejax.lattice.anneal import anneal
from phasejax.checks import check_counts, check_temperatures
from phasejax.lattice.samplers import make as make_sampler

RESULT_FILES = ("committor.csv", "rates.csv", "nucleation_times.csv", "nucleation.json",
                "nucleation.png")


def check(cfg) -> None:
    """Every configuration error before anything compiles: the sampler, both measurements'
    counts, radii and fields, and the lattices they build."""
    c = cfg.nucleation
    make_sampler(cfg.sampler.name)
    cm, rt = c.committor, c.rate
    check_counts(**{"nucleation.committor.replicas": (cm.replicas, 1),
                    "nucleation.committor.steps": (cm.steps, 1),
                    "nucleation.committor.pin_steps": (cm.pin_steps, 0),
                    "nucleation.rate.replicas": (rt.replicas, 1),
                    "nucleation.rate.steps": (rt.steps, 1),
                    "nucleation.rate.record_every": (rt.record_every, 1)})
    check_temperatures([cm.T, rt.T])
    for name, values in (("nucleation.committor.radii", cm.radii),
                         ("nucleation.rate.fields", rt.fields)):
        if not values or min(values) <= 0:
            raise ValueError(f"{name}={list(values)}: give one value or more, each > 0")
    toy_models.make("ising", L=cm.L, h=cm.h)
    for h in rt.fields:
        toy_models.make("ising", L=rt.L, h=h)


def committor(key, c, sampler, progress=False):
    """Growth probability of a seeded disk for every radius, in one run (one compilation):
    the replicas of all radii are advanced together, each from its own seeded start."""
    model = toy_models.make("ising", L=c.L, h=c.h)
    masks = np.stack([seeding.ball_mask(model.shape, R) for R in c.radii])    # (n_R, *shape)
    starts = np.stack([seeding.place_seed(0, m, 1) for m in masks])
    init = np.repeat(starts, c.replicas, axis=0)
    frozen = np.repeat(masks, c.replicas, axis=0) if c.pin_steps else None
    tr = anneal(key, model, sampler, c.T, c.steps, n_replicas=init.shape[0],
                record_every=c.steps, init=init, frozen=frozen,
                release=c.pin_steps or None, progress=progress)
    up = tr.counts[:, -1, 1].reshape(len(c.radii), c.replicas)
    rows = []
    for R, mask, final in zip(c.radii, masks, up):
        p = float(np.mean(final > mask.sum()))
        rows.append(dict(radius=float(R), seed_sites=int(mask.sum()), survival=p,
                         stderr=float(np.sqrt(max(p * (1 - p), 1e-12) / c.replicas)),
                         n_replicas=c.replicas, T=c.T, h=c.h))
    return rows


def rates(key, c, sampler, progress=False):
    """Nucleation rate ``I = events/(N · exposure)`` at each field ``c.fields`` from ordered
    (spin-down) starts, first-passage times of ``m = 0``, and the largest up-cluster's growth:
    ``(rate rows, time rows, {h: (steps, largest cluster)})``."""
    rate_rows, time_rows, clusters = [], [], {}
    for i, h in enumerate(c.fields):
        model = toy_models.make("ising", L=c.L, h=h)
        measure = lambda m, s: {"largest_cluster": nuc.largest_cluster(m, s, 1)}
        tr = anneal(jax.random.fold_in(key, 100 + i), model, sampler, c.T, c.steps,
                    n_replicas=c.replicas, record_every=c.record_every, init="ordered",
                    measure=measure, progress=progress)
        mag = (tr.counts[..., 1] - tr.counts[..., 0]) / model.n_sites
        times, seen = nuc.first_passage(mag, tr.steps, 0.0)
        r = nuc.nucleation_rate(times, seen, model.n_sites)
        cnt = nuc.cnt_ising_2d(c.T, h)
        rate_rows.append(dict(h=h, T=c.T, L=c.L, rate=r.rate, stderr=r.stderr, events=r.events,
                              replicas=c.replicas, steps=c.steps,
                              cnt_barrier_over_T=cnt["barrier"] / c.T))
        for j, (t, s) in enumerate(zip(times, seen)):
            time_rows.append(dict(h=h, replica=j, time=float(t), nucleated=bool(s)))
        clusters[h] = (tr.steps, tr.extra["largest_cluster"])
    return rate_rows, time_rows, clusters


def run(cfg, out: Path) -> dict:
    c = cfg.nucleation
    sampler = make_sampler(cfg.sampler.name)
    key = jax.random.key(cfg.run.seed)
    crow = committor(key, c.committor, sampler, cfg.run.progress)
    rrow, trow, clusters = rates(key, c.rate, sampler, cfg.run.progress)
    radii = [r["radius"] for r in crow]
    surv = [r["survival"] for r in crow]
    R_half = nuc.crossing(radii, surv)
    cnt_c = nuc.cnt_ising_2d(c.committor.T, c.committor.h)
    fit = nuc.fit_rate_vs_field([r["h"] for r in rrow], [r["rate"] for r in rrow],
                                [r["stderr"] for r in rrow])
    xi_cnt = nuc.cnt_ising_2d(c.rate.T, c.rate.fields[0])["xi"]
    summary = {
        "committor": {"T": c.committor.T, "h": c.committor.h, "R_half": R_half,
                      "R_cnt": cnt_c["critical_radius"], "ratio": R_half / cnt_c["critical_radius"],
                      "monotone": bool(np.all(np.diff(surv) >= -2 * max(r["stderr"] for r in crow))),
                      "sigma": cnt_c["sigma"], "m0": cnt_c["m0"]},
        "rate_fit": {**fit, "xi_cnt": xi_cnt, "T": c.rate.T},
    }
    io.write_table(out / "committor.csv", crow)
    io.write_table(out / "rates.csv", rrow)
    io.write_table(out / "nucleation_times.csv", trow)
    io.write_json(out / "nucleation.json", summary)
    plot(crow, rrow, trow, clusters, summary, out / "nucleation.png")
    return summary


def plot(crow, rrow, trow, clusters, summary, path):
    from phasejax.plot import save_figure, subplots

    fig, ax = subplots(1, 4, figsize=(17, 3.8))
    R = [r["radius"] for r in crow]
    ax[0].errorbar(R, [r["survival"] for r in crow], yerr=[r["stderr"] for r in crow],
                   marker="o", capsize=2)
    ax[0].axvline(summary["committor"]["R_cnt"], color="r", ls="--", label="CNT $R^*$")
    ax[0].axhline(0.5, color="grey", lw=0.8)
    ax[0].set(xlabel="seed radius $R$", ylabel="growth probability", title="committor")
    ax[0].legend()
    h = np.array([r["h"] for r in rrow])
    I = np.array([r["rate"] for r in rrow])
    dI = np.array([r["stderr"] for r in rrow])
    ok = I > 0
    ax[1].errorbar(1 / h[ok], np.log(I[ok]), yerr=dI[ok] / I[ok], marker="o", ls="none")
    f = summary["rate_fit"]
    x = np.linspace((1 / h).min(), (1 / h).max(), 20)
    ax[1].plot(x, f["a"] - f["xi"] * x, label=f"Ξ = {f['xi']:.2f} (CNT {f['xi_cnt']:.2f}), "
               f"$R^2$ = {f['r2']:.3f}")
    ax[1].set(xlabel="$1/h$", ylabel="ln rate per site per sweep", title="rate vs field")
    ax[1].legend(fontsize=8)
    for hv in sorted({r["h"] for r in trow}):
        t = [r["time"] for r in trow if r["h"] == hv and r["nucleated"]]
        if t:
            ax[2].hist(t, bins=15, histtype="step", label=f"h={hv}")
    ax[2].set(xlabel="nucleation time (sweeps)", ylabel="replicas", title="nucleation times")
    ax[2].legend(fontsize=8)
    hv = max(clusters)
    steps, lc = clusters[hv]
    for r in range(min(6, lc.shape[0])):
        ax[3].plot(steps, lc[r], lw=1)
    ax[3].set(xlabel="sweep", ylabel="largest up-cluster", title=f"h={hv}")
    save_figure(fig, path)
