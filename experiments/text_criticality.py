"""Critical phenomena of free text generation, measured like a lattice (``kind=text_criticality``).

    python -m experiments.sweep experiment=text_criticality                 # SmolLM2, CPU size
    python -m experiments.sweep experiment=text_criticality lm=chain 'lm.checkpoints=[a,b,c]'

Per model (or per checkpoint of ``lm.checkpoints``):

1. **Free generation** (:mod:`phasejax.text.generate`): ``n_sequences`` sequences of
   ``n_tokens`` tokens per temperature from the model's beginning-of-sequence token (or a
   neutral prompt), plain temperature sampling, saved per ``(T, chunk)`` under
   ``generations/<model>/`` — a killed run resumes without redoing a finished chunk.
2. **Text → states** for every mapping in ``criticality.spins``
   (:mod:`phasejax.text.spins`), then the shared sequence statistics
   (:mod:`phasejax.analysis.sequences`) at every size ``N`` of ``criticality.spins.<mapping>`` (prefixes)
   and temperature: ``⟨|m|⟩, ⟨m²⟩, ⟨m⁴⟩, U₄, χ, τ, ξ, η, C(Δt)``, bootstrap errors over sequences.
3. **Finite-size scaling in N** (:mod:`phasejax.analysis.scaling`): ``T_c`` from Binder
   crossings, from χ-peak scaling and from the onset of ``τ ∝ N``; ``1/ν``, ``γ/ν`` with errors
   or the reason there is none. Autoregressive sampling is not Boltzmann in the sequence
   log-probability, so no reweighting: curves live on the sampled grid.
4. **A fitted toy with a real transition**: a long-range Potts chain, ``J_r = A r^-(1+σ)`` plus
   the fitted field, fitted by pseudo-likelihood (:mod:`phasejax.fit.long_range`) to the
   model's sequences at the grid temperature nearest ``criticality.toy.fit_T``; simulated with
   the lattice side's Swendsen–Wang sampler on rings of ``criticality.toy.sizes`` at the model's
   temperatures (couplings fitted at ``T₀`` are ``βJ``: the toy at ``T`` has ``J·T₀/T``), and
   put through the *same* statistics and scaling code.

Writes ``statistics.csv`` (one row per side × model × mapping × N × T × observable),
``correlation.csv`` (``C(Δt)`` and the spectrum at the largest size), ``fss.csv`` (every
``T_c``/exponent estimate with its error or reason), ``toy_fit.csv``, ``generation.csv``
(throughput) and ``criticality.png`` (plus ``chain.png`` — ``T_c`` against checkpoint — for a
chain).
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
from phasejax.analysis.scaling import scaling_analysis
from phasejax.analysis.sequences import sequence_statistics, statistics_rows
from phasejax.text import generate as G
from phasejax.text import spins

log = logging.getLogger(__name__)
RESULT_FILES = ("statistics.csv", "fss.csv", "toy_fit.csv", "generation.csv",
                "criticality.png")
CONFIG_KEYS = ("kind", "lm", "criticality", "run.seed")   # what the results depend on
TOKEN_UNITS = ("token_class", "token_bucket")
# Text has a fixed share of each state (a field) and so has its fitted toy: the Binder crossing
# is read from the connected cumulant U₄ᶜ of m − ⟨m⟩ (phasejax.analysis.sequences)
BINDER = "binder_connected"
STAT_COLUMNS = ("side", "model", "mapping", "L", "T", "observable", "mean", "stderr",
                "n_samples")
FSS_COLUMNS = ("side", "model", "mapping", "method", "quantity", "value", "error", "reason")
FIT_COLUMNS = ("model", "mapping", "fit_T", "q", "R", "A", "A_err", "sigma", "sigma_err",
               "h", "neg_log_pl", "n_sequences")


@dataclasses.dataclass(frozen=True)
class ToySettings:
    fit_T: float = 1.0          # the model temperature whose sequences the toy is fitted to
    R: int = 32                 # coupling range of the fit (tokens / characters)
    sizes: tuple = (32, 64, 128)
    field: str = "fitted"       # fitted | zero (the symmetric toy)
    n_replicas: int = 4
    n_therm: int = 200
    n_measure: int = 200


@dataclasses.dataclass(frozen=True)
class Settings:
    generation: G.FreeGeneration
    spins: dict                 # mapping name -> sizes N (in the mapping's sites)
    spin_params: dict           # mapping name -> builder keyword arguments
    toy: ToySettings
    bootstrap: int = 100


def settings_from(cfg) -> Settings:
    """The ``criticality`` node as library settings; every value checked before any work."""
    c = OmegaConf.to_container(cfg.criticality, resolve=True)
    gen = G.FreeGeneration(temperatures=tuple(float(t) for t in c["temperatures"]),
                           n_tokens=int(c["n_tokens"]), n_sequences=int(c["n_sequences"]),
                           chunk=int(c["chunk"]), start=c["start"], text=c["text"] or "",
                           seed=int(cfg.run.seed))
    T = np.asarray(gen.temperatures)
    if T.size < 2 or np.any(T <= 0) or not np.all(np.isfinite(T)):
        raise ValueError(f"criticality.temperatures must be at least two finite values > 0; "
                         f"got {list(gen.temperatures)}")
    if gen.start not in G.STARTS:
        raise ValueError(f"criticality.start={gen.start!r}; expected one of {G.STARTS}")
    entries = c["spins"] or []
    if not entries:
        raise ValueError("criticality.spins is empty: name the text mappings and their sizes, "
                         "e.g. 'criticality.spins=[{name:whitespace,sizes:[64,128,256]}]' (or "
                         "use experiment=text_criticality)")
    maps = {e["name"]: tuple(sorted(int(n) for n in e["sizes"])) for e in entries}
    params = {e["name"]: dict(e.get("params") or {}) for e in entries}
    unknown = [m for m in maps if m not in spins.MAPPINGS]
    if unknown or len(maps) != len(entries):
        raise ValueError(f"criticality.spins: unknown or repeated mapping(s) "
                         f"{unknown or [e['name'] for e in entries]}; registered: "
                         f"{sorted(spins.MAPPINGS)}")
    for name, sizes in maps.items():
        if len(sizes) < 2 or sizes[0] < 4:
            raise ValueError(f"criticality.spins: {name} sizes {list(sizes)}: need two sizes "
                             ">= 4 or more")
        if name in TOKEN_UNITS and sizes[-1] > gen.n_tokens:
            raise ValueError(f"criticality.spins: {name} sizes up to {sizes[-1]} exceed "
                             f"n_tokens={gen.n_tokens} (one site is a token)")
    t = c["toy"]
    toy = ToySettings(fit_T=float(t["fit_T"]), R=int(t["R"]),
                      sizes=tuple(sorted(int(n) for n in t["sizes"])), field=t["field"],
                      n_replicas=int(t["n_replicas"]), n_therm=int(t["n_therm"]),
                      n_measure=int(t["n_measure"]))
    if toy.field not in ("fitted", "zero"):
        raise ValueError(f"criticality.toy.field={toy.field!r}; expected 'fitted' or 'zero'")
    smallest_top = min(sizes[-1] for sizes in maps.values())
    if toy.R < 1 or toy.R >= smallest_top:
        raise ValueError(f"criticality.toy.R={toy.R} must lie in [1, {smallest_top - 1}] (the "
                         "largest size the sequences are cut to)")
    if len(toy.sizes) < 2 or 2 * toy.R >= toy.sizes[0]:
        raise ValueError(f"criticality.toy.sizes={list(toy.sizes)}: need two sizes or more, "
                         f"each > 2R = {2 * toy.R} (a ring site meets each neighbour once)")
    if min(toy.n_replicas, toy.n_measure) < 1 or toy.n_therm < 0:
        raise ValueError("criticality.toy: n_replicas, n_measure >= 1 and n_therm >= 0")
    return Settings(gen, maps, params, toy, int(c["bootstrap"]))


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


# ----------------------------------------------------------------------------- model side
def model_statistics(seed, tokens_by_T, spin_map, sizes, s: Settings, model: str):
    """Rows of every statistic at every (N, T) for one mapping, the largest-N curves, and the
    state arrays per temperature (cut to the largest size) for the toy fit."""
    rows, curves, states = [], [], []
    N_max = sizes[-1]
    for i, (T, tokens) in enumerate(zip(s.generation.temperatures, tokens_by_T)):
        lat = spins.to_lattice(spin_map, tokens, N=N_max)
        y = lat.states
        if y.shape[0] < 2:
            raise ValueError(f"{model}, mapping {spin_map.name}, T={T}: fewer than two "
                             f"sequences reach N={N_max} {spin_map.unit}s; lower the sizes "
                             "or raise n_tokens")
        states.append(y)
        labels = dict(side="model", model=model, mapping=spin_map.name)
        for N in sizes:
            st = sequence_statistics(jax.random.fold_in(seed, i * 1000 + N), y[:, :N],
                                     q=spin_map.q, T=float(T), n_boot=s.bootstrap)
            rows += statistics_rows(st, **labels)
            if N == N_max:
                curves += [r for r in statistics_rows(st, curves=True, **labels)
                           if "lag" in r or "k" in r]
        rows.append(dict(side="model", model=model, mapping=spin_map.name, L=N_max, T=float(T),
                         observable="kept_fraction", mean=float(lat.kept.mean()), stderr=0.0,
                         n_samples=int(lat.kept.size)))
    return rows, curves, states


# ----------------------------------------------------------------------------- toy side
def fit_toy(key, states_at_T, q: int, toy: ToySettings):
    from phasejax.fit.long_range import fit_chain

    return fit_chain(key, states_at_T, q=q, R=toy.R, form="power_law", n_bootstrap=8)


def toy_statistics(key, fit, T0: float, q: int, s: Settings, model: str, mapping: str):
    """Simulate the chain fitted at model temperature ``T0`` (its couplings are ``βJ`` there,
    so ``J = βJ·T0``) at the model's temperatures and sizes, and measure it with the same
    statistics: rows and largest-size curves."""
    import toy_models
    from phasejax.lattice import samplers
    from phasejax.lattice.driver import simulate

    T = np.asarray(s.generation.temperatures, float)
    h = np.zeros(q) if s.toy.field == "zero" else np.asarray(fit.h, float)
    rows, curves = [], []
    for L in s.toy.sizes:
        R = min((L - 1) // 2, max(s.toy.R, 1))
        J_r = fit.A * np.arange(1, R + 1) ** -(1.0 + fit.sigma) * T0
        model_ = toy_models.make("long_range_chain", L=L, q=q, J_r=J_r, h=h * T0)
        # Swendsen–Wang needs ferromagnetic (Potts-like) bonds; an antiferromagnetic fit
        # (e.g. whitespace rarely follows whitespace) runs the heat-bath kernel instead
        sampler = samplers.make("swendsen_wang" if fit.A >= 0 else "heatbath")
        tr = simulate(jax.random.fold_in(key, L), model_, sampler, T,
                      n_replicas=s.toy.n_replicas, n_therm=s.toy.n_therm,
                      n_measure=s.toy.n_measure, site_histograms=False, record_states=True)
        for i, t in enumerate(T):
            y = tr.states[i].reshape(-1, L).astype(np.int64)
            st = sequence_statistics(jax.random.fold_in(key, 7919 * L + i), y, q=q,
                                     T=float(t), periodic=True, n_boot=s.bootstrap,
                                     max_units=s.toy.n_replicas * 8)
            labels = dict(side="toy", model=model, mapping=mapping)
            rows += statistics_rows(st, **labels)
            if L == s.toy.sizes[-1]:
                curves += [r for r in statistics_rows(st, curves=True, **labels)
                           if "lag" in r or "k" in r]
    return rows, curves


# ----------------------------------------------------------------------------- the job
def fss_rows(rows, side: str, model: str, mapping: str, seed: int) -> list[dict]:
    mine = [r for r in rows if r["side"] == side and r["model"] == model
            and r["mapping"] == mapping and r["observable"] in (BINDER, "susceptibility",
                                                                  "tau")]
    res = scaling_analysis(mine, seed=seed, n_boot=200, binder=BINDER)
    return [dict(side=side, model=model, mapping=mapping, **{k: e.get(k) for k in
                                                            ("method", "quantity", "value",
                                                             "error", "reason")})
            for e in res["estimates"]]


def run(cfg, out: Path) -> dict:
    from phasejax.probe.loading import load_model

    s, chain = check(cfg)
    key = jax.random.key(int(cfg.run.seed))
    stats, curves, fss, fits, gen_rows = [], [], [], [], []
    for c, (name, path) in enumerate(chain):
        t0 = time.perf_counter()
        lm = load_model(path, cfg.lm.dtype)
        maps = [spins.spin_map(m, lm.tokenizer, **s.spin_params.get(m, {}))
                for m in s.spins]                                   # q < 2 fails here
        G.check(lm, s.generation)
        log.info("%s: loaded in %.1fs", name, time.perf_counter() - t0)
        g = G.run(lm, s.generation, out / "generations" / name,
                  progress=bool(cfg.run.progress))
        gen_rows.append(dict(model=name, generated=g["generated"], seconds=g["seconds"],
                             tokens_per_s=g["tokens_per_s"]))
        tokens = G.load(out / "generations" / name, s.generation)
        for m, sm in enumerate(maps):
            k = jax.random.fold_in(jax.random.fold_in(key, c), m)
            r, cv, states = model_statistics(k, tokens, sm, s.spins[sm.name], s, name)
            stats += r
            curves += cv
            fss += fss_rows(stats, "model", name, sm.name, int(cfg.run.seed))
            i0 = int(np.argmin(np.abs(np.asarray(s.generation.temperatures) - s.toy.fit_T)))
            fit = fit_toy(jax.random.fold_in(k, 1), states[i0], sm.q, s.toy)
            fits.append(dict(model=name, mapping=sm.name,
                             fit_T=float(s.generation.temperatures[i0]), q=sm.q, R=s.toy.R,
                             A=fit.A, A_err=fit.A_err, sigma=fit.sigma,
                             sigma_err=fit.sigma_err,
                             h=" ".join(f"{v:.4g}" for v in fit.h),
                             neg_log_pl=fit.neg_log_pl, n_sequences=fit.n_sequences))
            tr, tc = toy_statistics(jax.random.fold_in(k, 2), fit,
                                    float(s.generation.temperatures[i0]), sm.q, s, name,
                                    sm.name)
            stats += tr
            curves += tc
            fss += fss_rows(stats, "toy", name, sm.name, int(cfg.run.seed))
            log.info("%s / %s: measured and fitted (A=%.3g, σ=%.3g)", name, sm.name, fit.A,
                     fit.sigma)
    io.write_table(out / "statistics.csv", stats, STAT_COLUMNS)
    io.write_table(out / "correlation.csv", curves)
    io.write_table(out / "fss.csv", fss, FSS_COLUMNS)
    io.write_table(out / "toy_fit.csv", fits, FIT_COLUMNS)
    io.write_table(out / "generation.csv", gen_rows)
    from phasejax.plot.text import plot_chain, plot_criticality

    plot_criticality(stats, curves, fss, out / "criticality.png")
    if len(chain) > 1:
        plot_chain(fss, [n for n, _ in chain], out / "chain.png")
    return dict(fss=fss, fits=fits, generation=gen_rows)
