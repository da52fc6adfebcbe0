"""Critical phenomena of free text generation, measured like a lattice (``kind=text_criticality``).

    python -m experiments.sweep experiment=text_criticality                 # SmolLM2, CPU size
    python -m experiments.sweep experiment=text_criticality lm=chain 'lm.checkpoints=[a,b,c]'
    python -m experiments.sweep experiment=text_criticality criticality=gpu 'criticality.part=[0,4]'

Per model (or per checkpoint of ``lm.checkpoints``):

1. **Free generation** (:mod:`phasejax.text.generate`): ``n_sequences`` sequences of
   ``n_tokens`` tokens per temperature from the model's beginning-of-sequence token (or a
   neutral prompt), plain temperature sampling under the declared end-of-text policy
   (``criticality.end_of_text``: special tokens masked, or kept as sites), saved per
   ``(T, chunk)`` under ``generations/<model>/``. A killed run resumes without redoing a finished
   chunk; ``criticality.part=[p,k]`` generates every ``k``-th chunk only (one part per machine:
   gather the chunk files in one folder and rerun without ``part`` for the analysis).
2. **Text → states** for every mapping in ``criticality.spins`` (:mod:`phasejax.text.spins`;
   special tokens are sites). Sequences are cut to the largest size ``N`` of the mapping; one
   shorter than that (characters of a mapping per character) would be dropped, so the job
   refuses, in one line naming it, any ``(T, N)`` that keeps less than ``criticality.min_kept``
   of the sequences, and reports the kept fraction everywhere else.
3. **Statistics** (:mod:`phasejax.analysis.sequences`) at every size (prefixes of the same
   sequences, one set of bootstrap resamples for all sizes) and temperature: ``⟨|m|⟩, ⟨m²⟩,
   ⟨m⁴⟩, U₄ᶜ, χ, τ, ξ, C(Δt)``, the decay of ``C`` as a power law against an exponential.
4. **Decisions** (:mod:`phasejax.analysis.scaling`): Binder and ``ξ/N`` fixed points, χ peaks,
   the collapse, each a test whose false-positive rate and power are measured
   (``docs/criticality_rates.md``); the slope of ``τ`` in ``N`` gives ``T_onset``, not a ``T_c``.
5. **The toy at every temperature** (:mod:`phasejax.fit.bridge`): the long-range chain
   ``A r^{-(1+σ)}`` with a field and the start's field on the first site, fitted to the
   sequences at every ``T``. (a) Its position on its own family's phase diagram,
   ``A(T)/K_c(σ(T))``, and the temperature where that crosses 1. (b) The fitted chains
   simulated with the text's boundaries (open chains with the start's field,
   :func:`toy_models.long_range_chain.open_chain`) at every size, measured with the same
   statistics and put through the same decisions; a fit that cannot order
   (:func:`toy_models.long_range_chain.transition_possible`) names no transition.

Writes ``statistics.csv`` (one row per side × model × mapping × N × T × observable, the kept
fraction included), ``correlation.csv`` (``C(Δt)`` and the spectrum at the largest size),
``fss.csv`` (every decision with its value, error or reason; beside the text's ``T_c`` decisions
and the bridge, the method's measured false-positive rate and power at the run's sequence count,
from the shipped table of :func:`phasejax.lattice.calibration.measured_rates`, and "not resolved"
on a "none" where that power is below 90 %; the decay verdict per temperature; the bridge; the
smallest kept fraction), ``toy_fit.csv`` (the fit at every temperature),
``generation.csv`` (throughput) and ``criticality.png`` (plus ``chain.png`` for a chain).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import jax
import numpy as np
from omegaconf import OmegaConf

from phasejax import io
from phasejax.checks import check_temperatures
from phasejax.analysis import scaling
from phasejax.analysis.sequences import prefix_statistics, sequence_statistics, statistics_rows
from phasejax.fit.bridge import ToySettings
from phasejax.lattice import calibration
from phasejax.text import generate as G
from phasejax.text import spins

log = logging.getLogger(__name__)
RESULT_FILES = ("statistics.csv", "fss.csv", "toy_fit.csv", "generation.csv",
                "criticality.png")
CONFIG_KEYS = ("kind", "lm", "criticality", "run.seed")   # what the results depend on
# Text has a fixed share of each state (a field) and so has its fitted toy: the Binder crossing
# is read from the connected cumulant U₄ᶜ of m − ⟨m⟩ (phasejax.analysis.sequences)
BINDER = "binder_connected"
TOKEN_UNITS = ("token_class", "token_bucket")          # mappings with one site per token
OBSERVABLES = (BINDER, "susceptibility", "tau", "xi_over_N")
STAT_COLUMNS = ("side", "model", "mapping", "L", "T", "observable", "mean", "stderr",
                "n_samples")
FSS_COLUMNS = ("side", "model", "mapping", "method", "quantity", "T", "value", "error",
               "reason", *calibration.RATE_COLUMNS)
FIT_COLUMNS = ("model", "mapping", "T", "q", "N", "A", "A_err", "sigma", "sigma_err",
               "A_fixed_T0", "K_c", "ratio", "ratio_err", "h", "start", "neg_log_pl",
               "n_sequences", "reason")


@dataclasses.dataclass(frozen=True)
class Settings:
    generation: G.FreeGeneration
    spins: dict                 # mapping name -> sizes N (in the mapping's sites)
    spin_params: dict           # mapping name -> builder keyword arguments
    toy: ToySettings
    bootstrap: int = 100
    min_kept: float = 0.95
    part: tuple = (0, 1)


def settings_from(cfg) -> Settings:
    """The ``criticality`` node as library settings; every value checked before any work."""
    c = OmegaConf.to_container(cfg.criticality, resolve=True)
    spin_entries = c.pop("spins") or []
    toy_cfg = c.pop("toy")
    bootstrap, min_kept, part = c.pop("bootstrap"), c.pop("min_kept"), c.pop("part")
    gen = G.FreeGeneration(**c, seed=int(cfg.run.seed))
    check_temperatures(gen.temperatures, name="criticality.temperatures", at_least=2)
    if gen.start not in G.STARTS:
        raise ValueError(f"criticality.start={gen.start!r}; expected one of {G.STARTS}")
    if gen.end_of_text not in G.END_OF_TEXT:
        raise ValueError(f"criticality.end_of_text={gen.end_of_text!r}; expected one of "
                         f"{G.END_OF_TEXT}")
    if not spin_entries:
        raise ValueError("criticality.spins is empty: name the text mappings and their sizes, "
                         "e.g. 'criticality.spins=[{name:whitespace,sizes:[64,128,256]}]' (or "
                         "use experiment=text_criticality)")
    maps = {e["name"]: tuple(sorted(int(n) for n in e["sizes"])) for e in spin_entries}
    params = {e["name"]: dict(e.get("params") or {}) for e in spin_entries}
    unknown = [m for m in maps if m not in spins.MAPPINGS]
    if unknown or len(maps) != len(spin_entries):
        raise ValueError(f"criticality.spins: unknown or repeated mapping(s) "
                         f"{unknown or [e['name'] for e in spin_entries]}; registered: "
                         f"{sorted(spins.MAPPINGS)}")
    for name, sizes in maps.items():
        if len(sizes) < 2 or sizes[0] < 4:
            raise ValueError(f"criticality.spins: {name} sizes {list(sizes)}: need two sizes "
                             ">= 4 or more")
        if name in TOKEN_UNITS and sizes[-1] > gen.n_tokens:
            raise ValueError(f"criticality.spins: {name} sizes up to {sizes[-1]} exceed "
                             f"n_tokens={gen.n_tokens} (one site is a token)")
    toy = ToySettings(**toy_cfg)
    if toy.field not in ("fitted", "zero"):
        raise ValueError(f"criticality.toy.field={toy.field!r}; expected 'fitted' or 'zero'")
    if min(toy.n_replicas, toy.n_measure) < 1 or toy.n_therm < 0:
        raise ValueError("criticality.toy: n_replicas, n_measure >= 1 and n_therm >= 0")
    if toy.fit_bootstrap < 2:
        raise ValueError(f"criticality.toy.fit_bootstrap={toy.fit_bootstrap} must be >= 2: the "
                         "bridge's test needs the bootstrap errors of every fit")
    if not 0 < float(min_kept) <= 1:
        raise ValueError(f"criticality.min_kept={min_kept} must lie in (0, 1]")
    part = tuple(int(x) for x in part)
    if len(part) != 2 or not (part[1] >= 1 and 0 <= part[0] < part[1]):
        raise ValueError(f"criticality.part={list(part)} must be [p, k] with 0 <= p < k")
    return Settings(gen, maps, params, toy, int(bootstrap), float(min_kept), part)


def check(cfg):
    """``(settings, chain)``: the criticality settings and every model path, checked."""
    from experiments.probe import chain_from
    from phasejax.probe.loading import resolve_dtype

    s = settings_from(cfg)
    try:
        resolve_dtype(cfg.lm.dtype)
    except ValueError as e:
        raise ValueError(f"lm.dtype={cfg.lm.dtype!r}: {e}") from None
    return s, chain_from(cfg)


# ----------------------------------------------------------------------------- selection
def kept_states(spin_map, tokens_by_T, sizes, s: Settings, model: str):
    """Per temperature the ``(n_kept, N_max)`` states and the kept fraction at every size;
    refuses, naming it, any ``(T, N)`` below ``min_kept``."""
    states, kept = [], []
    for T, tokens in zip(s.generation.temperatures, tokens_by_T):
        lat = spins.to_sites(spin_map, tokens, N=sizes[-1])
        frac = {N: float(np.mean(lat.lengths >= N)) for N in sizes}
        low = [(N, f) for N, f in frac.items() if f < s.min_kept]
        if low:
            N, f = low[0]
            raise ValueError(
                f"{model}, mapping {spin_map.name}, T={T:g}: only {f:.1%} of the sequences "
                f"reach N={N} {spin_map.unit}s (criticality.min_kept={s.min_kept:g}); lower "
                f"the sizes of {spin_map.name} or raise criticality.n_tokens")
        states.append(lat.states)
        kept.append(frac)
    return states, kept


# ----------------------------------------------------------------------------- model side
def model_statistics(key, states, kept, spin_map, sizes, s: Settings, model: str):
    """Rows of every statistic at every (N, T) for one mapping, the largest-N curves, and the
    statistics themselves (for the decisions)."""
    rows, curves, stats = [], [], []
    labels = dict(side="model", model=model, mapping=spin_map.name)
    for i, (T, y, frac) in enumerate(zip(s.generation.temperatures, states, kept)):
        st = prefix_statistics(jax.random.fold_in(key, i), y, sizes, q=spin_map.q, T=float(T),
                               n_boot=s.bootstrap)
        stats += st
        for x in st:
            rows += statistics_rows(x, **labels)
            rows.append(dict(labels, L=x.N, T=float(T), observable="kept_fraction",
                             mean=frac[x.N], stderr=0.0, n_samples=int(y.shape[0])))
        curves += [r for r in statistics_rows(st[-1], curves=True, **labels)
                   if "lag" in r or "k" in r]
    return rows, curves, stats


def decision_rows(key, stats, side: str, model: str, mapping: str, *, reason: str = ""):
    """Every method's decision (``fss.csv`` rows); ``reason``: why no transition can be named
    at all (a toy whose fits cannot order), which then replaces each ``T_c``."""
    curves = {o: scaling.curves_from_statistics(stats, o) for o in OBSERVABLES}
    res = scaling.scaling_analysis(key, curves, binder=BINDER)
    out = []
    n, temperatures = min(x.n_sequences for x in stats), {x.T for x in stats}
    for e in res["estimates"]:
        row = dict(side=side, model=model, mapping=mapping, T="",
                   **{k: e.get(k) for k in ("method", "quantity", "value", "error", "reason")})
        if reason and e["method"] in scaling.TRANSITION_METHODS and e["quantity"] == "T_c" \
                and not np.isfinite(e["value"]):
            row["reason"] = f"{reason}; {row['reason']}"
        out.append(calibration.annotate(row, n, temperatures)
                   if side == "model" and e["quantity"] == "T_c" else row)
    N_max = max(x.N for x in stats)
    for x in stats:
        if x.N == N_max:
            d = x.decay
            verdict = {"power_law": "power law preferred",
                       "exponential": "no power law preferred: exponential decay preferred",
                       "neither": "no power law preferred: neither decay is preferred"}[
                d.preferred]
            out.append(dict(side=side, model=model, mapping=mapping, method="decay",
                            quantity="eta", T=x.T, value=d.eta, error=d.eta_err,
                            reason=(f"{verdict} (ΔAIC = {d.delta_aic:.3g}, χ²/dof power "
                                    f"{d.chi2_dof_power:.3g}, exponential {d.chi2_dof_exp:.3g}; "
                                    f"Δt ∈ [{d.window[0]}, {d.window[1]}], N = {x.N})")))
    return out


# ----------------------------------------------------------------------------- toy side
def toy_fits(key, states, spin_map, model: str, s: Settings):
    """The chain fitted at every temperature, the bridge, and the ``toy_fit.csv`` rows."""
    from phasejax.fit import bridge as B

    q, T = spin_map.q, np.asarray(s.generation.temperatures, float)
    fits = B.fit_temperatures(key, states, q=q, n_bootstrap=s.toy.fit_bootstrap)
    N = states[0].shape[1]
    points = B.bridge(T, fits, q=q, N=N)
    fixed = B.fixed_temperature_assumption(T, fits, s.toy.fit_T)
    rows = [dict(model=model, mapping=spin_map.name, T=float(t), q=q, N=N, A=f.A,
                 A_err=f.A_err, sigma=f.sigma, sigma_err=f.sigma_err, A_fixed_T0=float(a0),
                 K_c=p.K_c, ratio=p.ratio, ratio_err=p.ratio_err,
                 h=" ".join(f"{v:.4g}" for v in f.h), start=" ".join(f"{v:.4g}" for v in f.start),
                 neg_log_pl=f.neg_log_pl, n_sequences=f.n_sequences, reason=p.reason)
            for t, f, p, a0 in zip(T, fits, points, fixed)]
    t_x, t_err, why = B.critical_temperature(points)
    bridge_row = calibration.annotate(dict(side="toy", model=model, mapping=spin_map.name,
                                           method="bridge", quantity="T_cross", T="",
                                           value=t_x, error=t_err, reason=why),
                                      min(f.n_sequences for f in fits), T)
    return fits, rows, bridge_row


def toy_statistics(key, fits, spin_map, sizes, s: Settings, model: str):
    """The fitted open chains (the text's boundaries) simulated at every ``(T, N)`` and
    measured with the same statistics: rows, largest-size curves, statistics, and why the toy
    cannot name a transition (``""`` if some fit can order)."""
    from phasejax.lattice import samplers
    from phasejax.lattice.driver import simulate
    from phasejax.lattice.model import power_law
    from toy_models.long_range_chain import (open_chain, open_sites, open_start,
                                             transition_possible)

    q, toy = spin_map.q, s.toy
    rows, curves, stats, skipped = [], [], [], []
    labels = dict(side="toy", model=model, mapping=spin_map.name)
    for i, (T, f) in enumerate(zip(s.generation.temperatures, fits)):
        if not f.A >= 0:
            skipped.append(f"T={T:g}: A = {f.A:.3g} < 0")
            continue
        h = np.zeros(q) if toy.field == "zero" else f.h
        start = np.zeros(q) if toy.field == "zero" else f.start
        for N in sizes:
            J_r = power_law(np.arange(1, N, dtype=np.float64), f.A, f.sigma)
            tr = simulate(jax.random.fold_in(key, 1000 * i + N), open_chain(N, q, J_r, h, start),
                          samplers.make("swendsen_wang"), [1.0], n_replicas=toy.n_replicas,
                          n_therm=toy.n_therm, n_measure=toy.n_measure,
                          site_histograms=False, record_states=True, start=open_start(N, q))
            y = open_sites(tr.states[0], N).reshape(-1, N).astype(np.int64)
            st = sequence_statistics(jax.random.fold_in(key, 7919 * N + i), y, q=q, T=float(T),
                                     n_boot=s.bootstrap, max_units=toy.n_replicas * 8)
            stats.append(st)
            rows += statistics_rows(st, **labels)
            if N == sizes[-1]:
                curves += [r for r in statistics_rows(st, curves=True, **labels)
                           if "lag" in r or "k" in r]
    if skipped:
        log.info("%s / %s: toy not simulated where the fit is antiferromagnetic (%s): "
                 "Swendsen–Wang needs ferromagnetic bonds", model, spin_map.name,
                 "; ".join(skipped))
    reasons = [transition_possible(f.A, f.sigma) for f in fits]
    why = "" if any(not r for r in reasons) else (
        "no fit at any temperature can order — " + reasons[0])
    return rows, curves, stats, why


# ----------------------------------------------------------------------------- the job
def analyse_mapping(key, tokens, spin_map, s: Settings, name: str):
    """Everything for one model and one mapping: ``(stats, curves, fss, fits)`` rows."""
    sizes = s.spins[spin_map.name]
    states, kept = kept_states(spin_map, tokens, sizes, s, name)
    stats, curves, st_model = model_statistics(jax.random.fold_in(key, 0), states, kept,
                                               spin_map, sizes, s, name)
    fss = decision_rows(jax.random.fold_in(key, 1), st_model, "model", name, spin_map.name)
    fss.append(dict(side="model", model=name, mapping=spin_map.name, method="selection",
                    quantity="kept_fraction", T="",
                    value=min(min(f.values()) for f in kept), error=0.0,
                    reason=f"end_of_text={s.generation.end_of_text}: the smallest fraction of "
                           f"sequences reaching a size, over every (T, N)"))
    fits, fit_rows, bridge_row = toy_fits(jax.random.fold_in(key, 2), states, spin_map, name, s)
    fss.append(bridge_row)
    if s.toy.simulate:
        tr, tc, st_toy, why = toy_statistics(jax.random.fold_in(key, 3), fits, spin_map, sizes,
                                             s, name)
        stats += tr
        curves += tc
        if st_toy:
            fss += decision_rows(jax.random.fold_in(key, 4), st_toy, "toy", name,
                                 spin_map.name, reason=why)
    log.info("%s / %s: measured, fitted at %d temperatures, bridge %s", name, spin_map.name,
             len(fits), f"T× = {bridge_row['value']:.3g}" if np.isfinite(bridge_row["value"])
             else "none")
    return stats, curves, fss, fit_rows


def run(cfg, out: Path, load=None) -> dict:
    """Generation, statistics, decisions and the fitted toy for every checkpoint of
    ``cfg.lm``; ``load(path, dtype)`` loads a model (default
    :func:`phasejax.probe.loading.load_model`)."""
    from phasejax.probe.loading import load_model

    load = load or load_model
    s, chain = check(cfg)
    key = jax.random.key(int(cfg.run.seed))
    stats, curves, fss, fits, gen_rows = [], [], [], [], []
    for c, (name, path) in enumerate(chain):
        t0 = time.perf_counter()
        lm = load(path, cfg.lm.dtype)
        maps = [spins.spin_map(m, lm.tokenizer, **s.spin_params.get(m, {}))
                for m in s.spins]                                   # q < 2 fails here
        G.check(lm, s.generation)
        log.info("%s: loaded in %.1fs", name, time.perf_counter() - t0)
        g = G.run(lm, s.generation, out / "generations" / name,
                  progress=bool(cfg.run.progress), part=s.part, report=log.info)
        gen_rows.append(dict(model=name, generated=g["generated"], seconds=g["seconds"],
                             tokens_per_s=g["tokens_per_s"]))
        if s.part[1] > 1:
            log.info("%s: generated part %d of %d into %s; gather every part's chunk files "
                     "there and rerun without criticality.part for the analysis", name,
                     s.part[0], s.part[1], out / "generations" / name)
            continue
        tokens = G.load(out / "generations" / name, s.generation)
        for m, sm in enumerate(maps):
            k = jax.random.fold_in(jax.random.fold_in(key, c), m)
            st, cv, fs, ft = analyse_mapping(k, tokens, sm, s, name)
            stats, curves, fss, fits = stats + st, curves + cv, fss + fs, fits + ft
    if s.part[1] > 1:
        io.write_table(out / "generation.csv", gen_rows)
        return dict(generation=gen_rows)
    io.write_table(out / "statistics.csv", stats, STAT_COLUMNS)
    io.write_table(out / "correlation.csv", curves)
    io.write_table(out / "fss.csv", fss, FSS_COLUMNS)
    io.write_table(out / "toy_fit.csv", fits, FIT_COLUMNS)
    io.write_table(out / "generation.csv", gen_rows)
    from phasejax.plot.text import plot_criticality, plot_transition_chain

    plot_criticality(stats, curves, fss, fits, out / "criticality.png")
    if len(chain) > 1:
        plot_transition_chain(fss, [n for n, _ in chain], out / "chain.png")
    return dict(fss=fss, fits=fits, generation=gen_rows)
