"""The post-training phase diagram of a language model, beside the fitted toy's
(``kind=phase_diagram``).

    python -m experiments.sweep experiment=phase_diagram_lm      # SmolLM2 + LoRA, 2-core CPU
    python -m experiments.sweep experiment=phase_diagram_gpu     # more seeds and doses

Stages, on any model the probe loads (``phase.base``), all with the same LoRA:

1. **Melt** — SFT toward each framing's own answers (its convention in the synthetic world of
   :mod:`phasejax.train.corpus`, heated by ``melt.heat``): high-entropy answers that differ
   between framings, which plays the part of heating. The melted model is checked against the
   documented rule (liquid) on held-out phrasings.
2. **Seed** (SFT toward the seed ``p₀``), once per training seed, from the melted model; every
   checkpoint is a dose.
3. **RL** from each seed's nucleated checkpoint: group-baseline policy gradient with a KL
   penalty toward it and a preference reward (``phase.reward``).
4. **Back** — the dose run back from the nucleated checkpoint: SFT toward the melt's targets
   (``reverse.target=melt``) or toward the melted model's own answers (``liquid``).
5. **Transfer** — SFT toward the seed on one framing only (``transfer.framing``), from the
   melted model: how far the other framings follow.

At every checkpoint the probe scores the held-out prompts exactly at every temperature of a
fine grid in one pass. :mod:`phasejax.analysis.phase_map` turns the distributions into the
shared observables with errors over prompts and training seeds, a phase per (dose, ``T``) cell
and the boundaries; :mod:`phasejax.analysis.hysteresis` gives the nucleation curve, its shape
and the loop area; :mod:`phasejax.fit.dose` fits the alignment protocol's prompt-site toy
(dose → ``λ`` map, ``α``, ``K``, reward tilt) and runs it over the same grid.

Writes ``phase_diagram.csv`` (side × stage × dose × ``T`` × observable: mean, errors, phase),
``boundaries.csv`` (per side and stage, every crossing of the rule's thresholds along dose or
``T`` with its error), ``hysteresis.csv`` (both branches of both sides and the loop areas),
``summary.json`` (fits, χ²/dof, transfer, nucleation verdict, timings, device, load) and
``phase_diagram.png``. Checkpoints (adapters and optimizer state) and the measured
distributions of each checkpoint are kept under ``checkpoints/`` and ``measured/``: a killed
run, rerun with the same command, resumes at its last checkpoint. Every configuration error is
reported in one line before any model is loaded.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
import warnings
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np
from flax import nnx
from omegaconf import OmegaConf

from experiments.config import temperature_grid
from experiments.crystallize import convention, device, lora_spec
from phasejax import io
from phasejax.analysis import distributions as D
from phasejax.analysis import hysteresis as H
from phasejax.analysis.phase_map import (OBSERVABLES, boundaries, first_boundary,
                                         numpy_statistics, phase_map, prompt_overlaps)
from phasejax.fit import dose as F
from phasejax.probe import tasks
from phasejax.probe.loading import load_model, resolve_dtype, resolve_path
from phasejax.probe.measure import ProbeSettings, measure_choice
from phasejax.probe.prompts import resolve_form
from phasejax.probe.scoring import LowCapturedMass
from phasejax.train import corpus as C
from phasejax.train.chat import encoded_task, family_set
from phasejax.train.lora import parametrize
from phasejax.train.loop import checkpoint_dirs, checkpoint_params, schedule, train
from phasejax.train.rl import grpo

log = logging.getLogger(__name__)
RESULT_FILES = ("phase_diagram.csv", "boundaries.csv", "hysteresis.csv", "summary.json",
                "phase_diagram.png")
CONFIG_KEYS = ("kind", "phase")          # what the results depend on
STAGE_KEYS = {"melt": 1, "sft": 2, "rl": 3, "reverse": 4, "transfer": 5, "toy": 6}
TABLE = ("side", "stage", "dose", "T", "observable", "mean", "error", "error_prompts",
         "error_seeds", "phase")


# ------------------------------------------------------------------ configuration
def world_of(c) -> C.World:
    """The synthetic world, limited to ``phase.framings`` when given."""
    if c.framings is None:
        return C.World()
    unknown = sorted(set(c.framings) - set(C.FRAMINGS))
    if unknown:
        raise ValueError(f"framings {unknown} not in {sorted(C.FRAMINGS)}")
    return C.World(framings={f: C.FRAMINGS[f] for f in c.framings})


def held_out_task(c, world: C.World):
    """The world's held-out task, with the first ``phase.phrasings`` phrasings of each
    framing when given."""
    task = C.probe_task(world, held_out=True)
    if c.phrasings is None:
        return task
    if not 1 <= c.phrasings <= len(C.HELD_OUT_PHRASINGS):
        raise ValueError(f"phrasings={c.phrasings}: the world has "
                         f"{len(C.HELD_OUT_PHRASINGS)} held-out phrasings per framing")
    keep = tuple(p for p in task.prompts if int(p.id.split("|")[1]) < c.phrasings)
    return tasks.validate(dataclasses.replace(task, prompts=keep))


def framing_of(prompt_id: str) -> str:
    """The framing of a world prompt id (``the_odd_club|2`` → ``the odd club``)."""
    return prompt_id.split("|")[0].replace("_", " ")


def melt_targets(c, world: C.World) -> dict:
    """``{framing: distribution}``: each framing's target (its own convention unless
    ``melt.targets`` names another or gives probabilities), heated: ``∝ p^{1/heat}``, the
    Boltzmann weights of ``E = −ln p`` at ``T = heat``."""
    unknown = sorted(set(c.melt.targets) - set(world.framings))
    if unknown:
        raise ValueError(f"melt.targets names framings {unknown} outside "
                         f"{sorted(world.framings)}")
    if not c.melt.heat > 0:
        raise ValueError(f"melt.heat={c.melt.heat} must be > 0")
    out = {}
    for f in sorted(world.framings):
        p = convention(c.melt.targets.get(f, world.framings[f]), world, f"melt.targets[{f}]")
        with np.errstate(divide="ignore"):
            out[f] = np.asarray(D.thermodynamics(-np.log(p), [c.melt.heat]).p[0], np.float64)
    return out


def checkpoint_steps(stage) -> list[int]:
    """The steps at which ``train`` writes a checkpoint of ``stage``."""
    every = stage.checkpoint_every
    return sorted({s for s in range(every, stage.steps + 1, every)} | {stage.steps})


def check(cfg, models: bool = True) -> None:
    """Every configuration error that needs no model, in one line, before anything is loaded
    or trained (``models=False``: the base model's path is left unchecked)."""
    c = cfg.phase
    errors = []

    def attempt(fn):
        try:
            return fn()
        except (ValueError, FileNotFoundError) as e:
            errors.append(str(e))

    world = attempt(lambda: world_of(c))
    if world is not None:
        attempt(lambda: convention(c.seed_convention, world))
        attempt(lambda: melt_targets(c, world))
        held = attempt(lambda: held_out_task(c, world))
        n_held = len(held.prompts) if held is not None else 0
        if held is not None and c.toy.sites is not None and not 2 <= c.toy.sites <= n_held:
            errors.append(f"toy.sites={c.toy.sites}: the task has {n_held} held-out prompts, "
                          "fewer than the toy's sites (one per prompt)")
        if c.transfer.framing not in world.framings:
            errors.append(f"transfer.framing {c.transfer.framing!r} not in "
                          f"{sorted(world.framings)}")
    unknown = sorted(set(map(str, c.reward)) - set(C.OPTIONS))
    if unknown:
        errors.append(f"reward names options {unknown} outside the task's {list(C.OPTIONS)}")
    attempt(lambda: lora_spec(c))
    attempt(lambda: resolve_dtype(c.dtype))
    T = attempt(lambda: temperature_grid(c.temperatures))
    if T is not None and any(not T.min() <= t <= T.max() for t in c.toy.fit_temperatures):
        errors.append(f"toy.fit_temperatures {list(c.toy.fit_temperatures)} outside the grid "
                      f"[{T.min():g}, {T.max():g}]")
    if c.seeds < 1:
        errors.append(f"phase.seeds={c.seeds} must be >= 1")
    for name in ("melt", "sft", "rl", "reverse", "transfer"):
        s = c[name]
        if s.steps < 1 or s.checkpoint_every < 1:
            errors.append(f"{name}.steps and {name}.checkpoint_every must be >= 1 (every "
                          "dose is a checkpoint)")
    if c.sft.steps >= 1 and c.sft.checkpoint_every >= 1:
        have = checkpoint_steps(c.sft)
        if c.doses is not None:
            missing = sorted(set(c.doses) - set(have))
            if missing:
                errors.append(f"doses {missing} have no checkpoint (sft.checkpoint_every="
                              f"{c.sft.checkpoint_every}, steps={c.sft.steps}: checkpoints at "
                              f"{have})")
        if len(c.doses if c.doses is not None else have) < 2:
            errors.append("the dose grid needs at least two checkpoints")
    if c.dose_unit not in ("steps", "lr"):
        errors.append(f"dose_unit={c.dose_unit!r}; expected steps or lr")
    if c.reverse.target not in ("melt", "liquid"):
        errors.append(f"reverse.target={c.reverse.target!r}; expected melt or liquid")
    if models and c.base is not None:
        try:
            if not resolve_path(c.base).exists():
                errors.append(f"no model file or folder at {resolve_path(c.base)}")
        except FileNotFoundError as e:
            errors.append(str(e))
    if errors:
        raise ValueError("phase_diagram: " + "; ".join(errors))


def dose_of(stage, steps, unit: str) -> np.ndarray:
    """The dose after ``steps`` optimizer steps: the steps, or ``Σ_{i<n} lr_i`` of the
    stage's schedule (``unit=lr``, steps × learning rate)."""
    steps = np.asarray(steps, int)
    if unit == "steps":
        return steps.astype(float)
    lr = schedule(stage.lr, stage.steps, getattr(stage, "warmup", 0))
    cum = np.concatenate([[0.0], np.cumsum([float(lr(i)) for i in range(int(steps.max()))])])
    return cum[steps]


# ------------------------------------------------------------------ the run
class Runner:
    """The model, its tasks and the run folder: trains stages and measures checkpoints."""

    def __init__(self, cfg, out: Path):
        c = cfg.phase
        self.c, self.out = c, out
        self.world = world_of(c)
        self.held = held_out_task(c, self.world)
        self.train_task = C.probe_task(self.world, held_out=False)
        self.T = temperature_grid(c.temperatures)
        self.t1 = int(np.argmin(np.abs(np.log(self.T))))
        self.seed = convention(c.seed_convention, self.world)
        self.lora = lora_spec(c)
        self.key = jax.random.key(c.seed)
        self.lm = load_model(c.base, c.dtype)
        self.form = resolve_form(self.lm, c.form)
        self.model = self.lm.model
        self.timings: dict = {}

    def stage_key(self, stage: str, seed: int = 0):
        return jax.random.fold_in(jax.random.fold_in(self.key, STAGE_KEYS[stage]), seed)

    def snapshot(self):
        return jax.tree.map(lambda x: x, nnx.state(self.model, nnx.Param))

    def measure(self, task=None):
        """Exact distributions ``(J, T, K)`` and captured mass ``(J, T)`` of the model now."""
        with warnings.catch_warnings():        # a model off the task's format captures little
            warnings.simplefilter("ignore", LowCapturedMass)
            _, a = measure_choice(self.lm, task or self.held,
                                  ProbeSettings(form=self.form, temperatures=tuple(self.T)))
        return a["p"], a["captured"]

    def measured(self, name: str, step: int) -> Path:
        return self.out / "measured" / name / f"step_{step:06d}.npz"

    def measure_now(self, name: str, step: int):
        path = self.measured(name, step)
        if not path.is_file():
            p, cap = self.measure()
            io.write_npz(path, p=p, captured=cap)
        return self.load(name, step)

    def load(self, name: str, step: int):
        with np.load(self.measured(name, step)) as f:
            return f["p"], f["captured"]

    def targets(self, by_framing: dict) -> np.ndarray:
        """``(training prompts, K)``: each training prompt's framing's target."""
        return np.stack([by_framing[framing_of(p.id)] for p in self.train_task.prompts])

    def supervised(self, name: str, key, start, task, targets, s) -> tuple:
        """Train ``s.steps`` steps of SFT from the parameters ``start`` toward ``targets``
        (resuming from the stage's checkpoints), measure every checkpoint, and return
        ``(steps, end parameters)``."""
        folder = self.out / "checkpoints" / name
        t0 = time.perf_counter()
        if not self.measured(name, s.steps).is_file():
            rows = family_set(jax.random.fold_in(key, 1), self.lm, task, self.form, targets,
                              s.documents)
            nnx.update(self.model, start)
            train(key, self.model, *rows, steps=s.steps, batch=s.batch, lr=s.lr,
                  warmup=s.warmup, checkpoint_every=s.checkpoint_every, folder=folder,
                  log_every=s.checkpoint_every, progress=log.info, lora=self.lora)
        out = self.measure_checkpoints(name, key, start, folder)
        self.timings[name] = time.perf_counter() - t0
        return out

    def measure_checkpoints(self, name: str, key, start, folder: Path):
        nnx.update(self.model, start)
        par = parametrize(jax.random.fold_in(key, 1_000_003), self.model, self.lora)
        steps = []
        for path in checkpoint_dirs(folder):
            step = int(path.name.split("_")[-1])
            steps.append(step)
            if not self.measured(name, step).is_file():
                nnx.update(self.model, par.to_params(checkpoint_params(path, par.trainable)))
                self.measure_now(name, step)
        last = checkpoint_dirs(folder)[-1]
        nnx.update(self.model, par.to_params(checkpoint_params(last, par.trainable)))
        log.info("%s: checkpoints %s measured", name, steps)
        return steps, self.snapshot()

    def rl(self, name: str, key, start):
        s = self.c.rl
        folder = self.out / "checkpoints" / name
        t0 = time.perf_counter()
        if not self.measured(name, s.steps).is_file():
            nnx.update(self.model, start)
            reference = nnx.clone(self.model)
            prompts, options = encoded_task(self.lm, self.train_task, self.form)
            reward = np.zeros(len(C.OPTIONS))
            for k, v in self.c.reward.items():
                reward[C.OPTIONS.index(str(k))] = float(v)
            grpo(key, self.model, reference, prompts, options, reward, steps=s.steps,
                 group=s.group, prompts_per_step=s.prompts_per_step, beta=s.beta, lr=s.lr,
                 log_every=s.checkpoint_every, checkpoint_every=s.checkpoint_every,
                 folder=folder, progress=log.info, lora=self.lora)
            del reference
        out = self.measure_checkpoints(name, key, start, folder)
        self.timings[name] = time.perf_counter() - t0
        return out


def stack(runner: Runner, names, zero, steps_per_seed):
    """``(S, D, T, J, K)``: dose 0 from ``zero`` (one ``(J, T, K)`` array per seed), then each
    seed's checkpoints (the same steps for every seed)."""
    out = []
    for name, z, steps in zip(names, zero, steps_per_seed):
        out.append(np.stack([z] + [runner.load(name, s)[0] for s in steps]))
    return np.swapaxes(np.stack(out), 2, 3)             # (S, D, J, T, K) -> (S, D, T, J, K)


class Trained(NamedTuple):
    """What the training stages left: the measured distributions the maps are built from."""

    base: tuple                 # (p (J, T, K), captured (J, T)) of the base model
    liquid: tuple               # the same for the melted model (dose 0 of SFT)
    names: dict                 # stage -> run name per training seed
    steps: dict                 # stage -> checkpoint steps per training seed
    ends: list                  # (J, T, K) per seed: the last SFT checkpoint (RL's and back's 0)
    transferred: np.ndarray     # (J, T, K) after SFT on one framing


def train_stages(r: Runner) -> Trained:
    """Melt, then per training seed seed → RL → back, then the transfer; every checkpoint
    measured (each stage resumes from what is on disk)."""
    c = r.c
    base = r.measure_now("base", 0)
    melt = melt_targets(c, r.world)
    _, melted = r.supervised("melt", r.stage_key("melt"), r.snapshot(), r.train_task,
                             r.targets(melt), c.melt)
    liquid = r.load("melt", c.melt.steps)
    st = D.phase_statistics(liquid[0][:, r.t1], r.seed)
    log.info("melted: %s (I/H = %.3f)", D.phase_label(st), st.prompt_dependence)
    if c.reverse.target == "liquid":
        nnx.update(r.model, melted)
        back = r.measure(r.train_task)[0][:, r.t1]
    else:
        back = r.targets(melt)
    names = {k: [f"{k}/seed_{s}" for s in range(c.seeds)] for k in ("sft", "rl", "reverse")}
    steps = {k: [] for k in names}
    ends = []
    for s in range(c.seeds):
        st, end = r.supervised(names["sft"][s], r.stage_key("sft", s), melted, r.train_task,
                               np.tile(r.seed, (len(r.train_task.prompts), 1)), c.sft)
        steps["sft"].append(st)
        ends.append(r.load(names["sft"][s], st[-1])[0])
        steps["rl"].append(r.rl(names["rl"][s], r.stage_key("rl", s), end)[0])
        steps["reverse"].append(r.supervised(names["reverse"][s], r.stage_key("reverse", s),
                                             end, r.train_task, back, c.reverse)[0])
        del end
    one = [p for p in r.train_task.prompts if framing_of(p.id) == c.transfer.framing]
    st, _ = r.supervised("transfer", r.stage_key("transfer"), melted,
                         dataclasses.replace(r.train_task, prompts=tuple(one)),
                         np.tile(r.seed, (len(one), 1)), c.transfer)
    return Trained(base, liquid, names, steps, ends, r.load("transfer", st[-1])[0])


class ModelSide(NamedTuple):
    maps: dict                  # stage -> PhaseMap
    axes: dict                  # stage -> (D,) dose (RL: steps; back: effective dose)
    end_dose: float             # the dose SFT ended at (where RL and the way back start)


def model_side(r: Runner, t: Trained) -> ModelSide:
    """The model's three phase maps on their dose axes."""
    c = r.c
    sft_steps = t.steps["sft"][0] if c.doses is None else sorted(c.doses)
    P = {"sft": stack(r, t.names["sft"], [t.liquid[0]] * c.seeds, [sft_steps] * c.seeds),
         "rl": stack(r, t.names["rl"], t.ends, t.steps["rl"]),
         "reverse": stack(r, t.names["reverse"], t.ends, t.steps["reverse"])}
    end_dose = float(dose_of(c.sft, [c.sft.steps], c.dose_unit)[0])
    axes = {"sft": dose_of(c.sft, [0] + list(sft_steps), c.dose_unit),
            "rl": dose_of(c.rl, [0] + list(t.steps["rl"][0]), c.dose_unit),
            "reverse": end_dose - dose_of(c.reverse, [0] + list(t.steps["reverse"][0]),
                                          c.dose_unit)}
    return ModelSide({k: phase_map(p, r.seed) for k, p in P.items()}, axes, end_dose)


class ToySide(NamedTuple):
    toy: F.DoseToy
    fit: object                 # CurveFit of the SFT dose map
    fit_rl: object              # CurveFit of the reward tilt
    values: dict                # stage -> (O, D, T) the fitted toy's observables
    spread: dict                # stage -> (O, M, D, T) the same for M parameter samples
    transfer: F.Transfer


def toy_side(r: Runner, t: Trained, m: ModelSide) -> ToySide:
    """The prompt-site toy fitted to the model's curves, run over the same grids, and its
    reading of the transfer."""
    c = r.c
    sites = c.toy.sites or len(r.held.prompts)
    liquid = t.liquid[0][:, r.t1]
    toy = F.DoseToy.from_liquid(liquid[:sites], r.seed, reward_of(c))
    fit_t = sorted({int(np.argmin(np.abs(r.T - x))) for x in c.toy.fit_temperatures})

    def curves(pm, x):
        return F.Curves(x, r.T[fit_t], {o: pm.of(o)[:, fit_t] for o in pm.names},
                        {o: pm.of(o, "error")[:, fit_t] for o in pm.names})

    fit = F.fit_sft(toy, curves(m.maps["sft"], m.axes["sft"]), min_error=c.toy.min_error,
                    K_max=c.toy.K_max, n_iter=c.toy.n_iter)
    fit_rl = F.fit_rl(toy, fit.values, m.end_dose, curves(m.maps["rl"], m.axes["rl"]),
                      min_error=c.toy.min_error, n_iter=c.toy.n_iter)
    key = r.stage_key("toy")
    thetas = F.parameter_samples(key, fit, c.toy.samples, *F.sft_bounds(m.end_dose, c.toy.K_max))
    thetas_rl = F.parameter_samples(jax.random.fold_in(key, 1), fit_rl, c.toy.samples, 0.0,
                                    None)
    values = toy_grids(toy, fit.values, fit_rl.values, m.axes, m.end_dose, r.T)
    samples = [toy_grids(toy, a, b, m.axes, m.end_dose, r.T) for a, b in zip(thetas, thetas_rl)]
    spread = {k: np.stack([s_[k] for s_ in samples], 1) for k in values}
    trained = np.array([framing_of(p.id) == c.transfer.framing for p in r.held.prompts])
    exclude = prompt_overlaps(liquid, r.seed) >= D.SEED_OVERLAP_MIN      # already the seed
    transfer = F.transfer(F.DoseToy.from_liquid(liquid, r.seed), fit.values, liquid,
                          t.transferred[:, r.t1], trained, exclude)
    return ToySide(toy, fit, fit_rl, values, spread, transfer)


# the hysteresis loops at T = 1: name -> the per-prompt observable whose prompt mean is looped
# (the basin fraction is the nucleation order parameter; the mean overlap with the seed is its
# continuous reading, which still loops when no prompt reaches the basin in the dose range)
LOOPS = {"basin_fraction": "in_basin", "overlap": "overlap"}


def loops(r: Runner, m: ModelSide, toy: ToySide) -> dict:
    """Hysteresis loop areas of both sides at ``T = 1``: ``{name: {model, toy}}``; the model's
    error over training seeds, the toy's over its parameter samples."""
    t1, x_up, x_down = r.t1, m.axes["sft"], m.axes["reverse"]
    out = {}
    for name, obs in LOOPS.items():
        i = OBSERVABLES.index(obs)
        area = H.loop_areas(x_up, m.maps["sft"].of(obs, "seeds")[:, :, t1], x_down,
                            m.maps["reverse"].of(obs, "seeds")[:, :, t1])
        samples = [H.loop_area(x_up, u, x_down, d) for u, d in zip(
            toy.spread["sft"][i][:, :, t1], toy.spread["reverse"][i][:, :, t1])]
        toy_area = dict(mean=H.loop_area(x_up, toy.values["sft"][i][:, t1], x_down,
                                         toy.values["reverse"][i][:, t1]),
                        error=float(np.nanstd(samples, ddof=1)) if len(samples) > 1 else 0.0)
        out[name] = dict(model=area._replace(per_seed=area.per_seed.tolist())._asdict(),
                         toy=toy_area)
    return out


def run(cfg, out: Path) -> dict:
    check(cfg)
    c = cfg.phase
    t_start, cpu_start = time.perf_counter(), time.process_time()
    load_start = os.getloadavg()
    r = Runner(cfg, out)
    log.info("%s loaded (%s form), %d held-out prompts, %d temperatures, device %s", c.base,
             r.form, len(r.held.prompts), r.T.size, device())
    trained = train_stages(r)
    t_train = time.perf_counter() - t_start
    m = model_side(r, trained)
    t0 = time.perf_counter()
    toy = toy_side(r, trained, m)
    t_toy = time.perf_counter() - t0
    bounds = []
    for k, pm in m.maps.items():
        bounds += [dict(side="model", stage=k, **b) for b in boundaries(
            pm.names, pm.value, m.axes[k], r.T, pm.seeds, pm.jackknife)]
        bounds += [dict(side="toy", stage=k, **b) for b in boundaries(
            OBSERVABLES, toy.values[k], m.axes[k], r.T, spread=toy.spread[k])]
    loop = loops(r, m, toy)
    hyst = hysteresis_rows(m.maps, toy.values, toy.spread, m.axes["sft"], m.axes["reverse"],
                           r.t1, loop)
    shapes = nucleation(r, trained, m, toy)
    summary = summarise(r, trained, m, toy, bounds, loop, shapes)
    summary["timings_s"].update(training_and_measuring=t_train, toy=t_toy)
    summary["load_average_at_start"] = list(load_start)
    io.write_table(out / "phase_diagram.csv",
                   table_rows(m.maps, m.axes, r.T) + toy_rows(toy.values, toy.spread, m.axes,
                                                              r.T), TABLE)
    io.write_table(out / "boundaries.csv", bounds,
                   ["side", "stage", "observable", "level", "along", "at", "branch", "value",
                    "error", "error_prompts", "error_seeds", "error_spread", "n_seeds"])
    io.write_table(out / "hysteresis.csv", hyst, ["side", "quantity", "dose", "mean", "error"])
    from phasejax.plot.phase_map import plot_phase_maps
    plot_phase_maps(out / "phase_diagram.png", summary, m.maps, toy.values, m.axes, r.T, bounds,
                    hyst)
    summary["timings_s"]["total"] = time.perf_counter() - t_start
    summary["timings_s"]["process_cpu"] = time.process_time() - cpu_start   # all threads
    summary["load_average_at_end"] = list(os.getloadavg())
    io.write_json(out / "summary.json", summary)
    f = toy.fit.as_dict()
    log.info("done in %.0f s: melted %s, K = %.2f ± %.2f (χ²/dof %.2f), transfer %.2f ± %.2f "
             "(toy %.2f), loop areas: basin fraction %.3f ± %.3f, overlap %.3f ± %.3f; "
             "nucleation %s", summary["timings_s"]["total"], summary["melted"]["phase"], f["K"],
             f["K_err"], f["chi2_per_dof"], toy.transfer.ratio, toy.transfer.ratio_error,
             toy.transfer.toy_ratio, loop["basin_fraction"]["model"]["mean"],
             loop["basin_fraction"]["model"]["error"], loop["overlap"]["model"]["mean"],
             loop["overlap"]["model"]["error"], shapes["model"]["verdict"])
    return summary


def nucleation(r: Runner, t: Trained, m: ModelSide, toy: ToySide) -> dict:
    """Abrupt or gradual, on each side: each prompt's (site's) overlap with the seed along the
    SFT doses at ``T = 1``."""
    c = r.c
    sft_steps = t.steps["sft"][0] if c.doses is None else sorted(c.doses)
    P = stack(r, t.names["sft"], [t.liquid[0]] * c.seeds, [sft_steps] * c.seeds)[:, :, r.t1]
    x = m.axes["sft"]
    toy_p = F.sft_maps(toy.toy, toy.fit.values, x, [1.0])[0]
    return {side: H.nucleation_shape(x, prompt_overlaps(p, r.seed), D.SEED_OVERLAP_MIN)
            for side, p in (("model", P), ("toy", toy_p))}


def summarise(r: Runner, t: Trained, m: ModelSide, toy: ToySide, bounds, loop,
              shapes) -> dict:
    c, t1 = r.c, r.t1
    fit = toy.fit
    w = np.asarray(F.dose_weight(m.axes["sft"], fit.values[2]))
    labels = lambda v: D.phase_label(D.PhaseStatistics(*(v[OBSERVABLES.index(f)]
                                                         for f in D.PhaseStatistics._fields)))
    summary = dict(
        config=OmegaConf.to_container(c, resolve=True), device=device(), form=r.form,
        held_out_prompts=len(r.held.prompts),
        base=dict(phase=D.phase_label(D.phase_statistics(t.base[0][:, t1], r.seed)),
                  captured_mass=float(t.base[1][:, t1].mean())),
        melted=dict(phase=D.phase_label(D.phase_statistics(t.liquid[0][:, t1], r.seed)),
                    captured_mass=float(t.liquid[1][:, t1].mean()),
                    **D.phase_statistics(t.liquid[0][:, t1], r.seed)._asdict(),
                    mutual_information=float(D.mutual_information(t.liquid[0][:, t1]))),
        seed_distribution=r.seed.tolist(),
        fit_sft=fit.as_dict(), fit_rl=toy.fit_rl.as_dict(),
        dose_map={"dose": m.axes["sft"].tolist(), "lambda": (fit.values[0] * w).tolist(),
                  "alpha": (1 - (1 - fit.values[1]) * w).tolist()},
        transfer=toy.transfer._asdict(), transfer_framing=c.transfer.framing,
        nucleation=shapes,
        hysteresis=loop,
        headline=headline(bounds, m.axes["sft"][-1]),
        phases={k: {"dose": m.axes[k].tolist(), "T": r.T.tolist(), "model": pm.phase.tolist(),
                    "toy": labels(toy.values[k]).tolist()} for k, pm in m.maps.items()},
        timings_s=dict(r.timings))
    summary["disagreements"] = disagreements(summary, bounds)
    return summary


def disagreements(summary, bounds) -> dict:
    """Where model and toy part: the share of cells whose phase differs (per stage), and for
    every boundary both sides have at the same place (statistic, direction, grid point,
    branch), the difference in units of the two errors combined; the largest ``|z|`` first."""
    out = {"phase_differs": {}}
    for stage, ph in summary["phases"].items():
        a, b = np.asarray(ph["model"]), np.asarray(ph["toy"])
        out["phase_differs"][stage] = float(np.mean(a != b))
    key = lambda r: (r["stage"], r["observable"], r["along"], r["at"], r["branch"])
    toy = {key(r): r for r in bounds if r["side"] == "toy"}
    pairs = []
    for r in bounds:
        t = toy.get(key(r)) if r["side"] == "model" else None
        if t is None:
            continue
        err = float(np.hypot(r["error"], t["error"]))
        z = (r["value"] - t["value"]) / err if err > 0 else float("inf")
        pairs.append(dict(stage=r["stage"], observable=r["observable"], along=r["along"],
                          at=r["at"], branch=r["branch"], model=r["value"], toy=t["value"],
                          error=err, z=z))
    pairs.sort(key=lambda p: -abs(p["z"]))
    out["boundaries"] = pairs
    out["boundaries_within_2_sigma"] = (float(np.mean([abs(p["z"]) <= 2 for p in pairs]))
                                        if pairs else None)
    return out


def reward_of(c) -> np.ndarray:
    r = np.zeros(len(C.OPTIONS))
    for k, v in c.reward.items():
        r[C.OPTIONS.index(str(k))] = float(v)
    return r


def toy_grids(toy, theta, theta_rl, axes, end_dose, T) -> dict:
    """The toy's observables ``(O, D, T)`` (:data:`OBSERVABLES`) on the model's three grids;
    the way back and RL start where SFT ended (``end_dose``)."""
    up, _ = F.sft_maps(toy, theta, axes["sft"], T)
    _, down = F.sft_maps(toy, theta, [0.0], T, axes["reverse"])
    rl = F.rl_maps(toy, theta, end_dose, theta_rl, axes["rl"], T)
    out = {}
    for k, p in (("sft", up), ("rl", rl), ("reverse", down)):
        st = numpy_statistics(p, toy.seed)                          # (T, D) each
        out[k] = np.stack([st[o].T for o in OBSERVABLES])
    return out


def table_rows(maps, axes, T) -> list[dict]:
    """The model's rows of ``phase_diagram.csv``."""
    rows = []
    for stage, m in maps.items():
        for o, name in enumerate(m.names):
            for d, x in enumerate(axes[stage]):
                for t, temp in enumerate(T):
                    rows.append(dict(side="model", stage=stage, dose=float(x), T=float(temp),
                                     observable=name, mean=float(m.value[o, d, t]),
                                     error=float(m.error[o, d, t]),
                                     error_prompts=float(m.error_prompts[o, d, t]),
                                     error_seeds=float(m.error_seeds[o, d, t]),
                                     phase=str(m.phase[d, t])))
    return rows


def toy_rows(values, spread, axes, T) -> list[dict]:
    rows = []
    for stage, v in values.items():
        phase = D.phase_label(D.PhaseStatistics(*(v[OBSERVABLES.index(f)]
                                                  for f in D.PhaseStatistics._fields)))
        err = spread[stage].std(1, ddof=1) if spread[stage].shape[1] > 1 else np.zeros_like(v)
        for o, name in enumerate(OBSERVABLES):
            for d, x in enumerate(axes[stage]):
                for t, temp in enumerate(T):
                    rows.append(dict(side="toy", stage=stage, dose=float(x), T=float(temp),
                                     observable=name, mean=float(v[o, d, t]),
                                     error=float(err[o, d, t]), error_prompts=float("nan"),
                                     error_seeds=float("nan"), phase=str(phase[d, t])))
    return rows


def hysteresis_rows(maps, toy_values, toy_spread, x_up, x_down, t1, loop) -> list[dict]:
    """Both branches of every loop (:data:`LOOPS`) on both sides at ``T = 1``, and the areas."""
    rows = []
    for name, obs in LOOPS.items():
        i = OBSERVABLES.index(obs)
        for branch, stage, x in (("up", "sft", x_up), ("down", "reverse", x_down)):
            m = maps[stage]
            for d, dose in enumerate(x):
                rows.append(dict(side="model", quantity=f"{name}_{branch}", dose=float(dose),
                                 mean=float(m.of(obs)[d, t1]),
                                 error=float(m.of(obs, "error")[d, t1])))
                sp = toy_spread[stage][i][:, d, t1]
                rows.append(dict(side="toy", quantity=f"{name}_{branch}", dose=float(dose),
                                 mean=float(toy_values[stage][i][d, t1]),
                                 error=float(sp.std(ddof=1)) if sp.size > 1 else 0.0))
        for side in ("model", "toy"):
            rows.append(dict(side=side, quantity=f"{name}_loop_area", dose=float("nan"),
                             mean=loop[name][side]["mean"], error=loop[name][side]["error"]))
    return rows


def headline(bounds, end: float) -> dict:
    """The numbers a reader asks first: at ``T = 1`` the dose where the liquid ends and where
    the mean answer becomes the seed's; at the largest dose (``end``) the ``T`` band of the
    nucleated phase; after RL the step where the mean answer leaves the seed."""
    out = {}
    for side in ("model", "toy"):
        sel = [b for b in bounds if b["side"] == side]
        pick = lambda stage, obs, along, at: first_boundary(
            [b for b in sel if b["stage"] == stage], obs, along, at)
        for key, args in (("liquid_ends_dose_at_T1", ("sft", "prompt_dependence", "dose", 1.0)),
                          ("seed_reached_dose_at_T1", ("sft", "seed_overlap", "dose", 1.0)),
                          ("seed_left_rl_step_at_T1", ("rl", "seed_overlap", "dose", 1.0))):
            b = pick(*args)
            out[f"{side}_{key}"] = None if b is None else [b["value"], b["error"]]
        band = [b for b in sel if b["stage"] == "sft" and b["observable"] == "seed_overlap"
                and b["along"] == "T" and b["at"] == float(end)]
        out[f"{side}_nucleated_T_edges_at_end"] = [[b["value"], b["error"]] for b in band]
    return out
