"""The language-model probe as a sweep job (``experiment=probe``; groups ``lm=``, ``task=``, ``probe=``).

Writes ``observables.csv`` — the toy's tidy schema with ``L`` = sequence length (1 for a single
answer) and ``T`` = sampling temperature, one row per model × prompt × T × observable (``prompt``
is a variant id, ``mean`` for the average over variants, ``all`` for statistics across them) —
plus ``distributions.npz`` (choice tasks: ``p``, ``log_prob``, ``captured`` per checkpoint;
sequence tasks: the parsed items) and ``probe.png``. With ``lm.checkpoints`` set, every
checkpoint is measured in order into the same table (column ``checkpoint``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from omegaconf import OmegaConf

from phasejax.checks import check_temperatures
from phasejax import io, plot
from phasejax.plot import save_figure
from phasejax.probe import tasks
from phasejax.probe.loading import resolve_dtype, resolve_path
from phasejax.probe.measure import COLUMNS, ProbeSettings, measure
from phasejax.probe.prompts import selected_prompts

log = logging.getLogger(__name__)
RESULT_FILES = ("observables.csv", "distributions.npz", "probe.png")
CHOICE_PANELS = ("entropy", "order_parameter", "energy", "specific_heat", "captured_mass",
                 "mutual_information")
SEQUENCE_PANELS = ("abs_magnetisation", "binder", "susceptibility", "m2", "item_entropy",
                   "parse_rate")
# what each panel of probe.png shows (phasejax.probe.measure defines them)
PANEL_LABELS = {"entropy": "answer entropy $S$ (nats)",
                "order_parameter": "order parameter $m$",
                "energy": r"energy $U = \langle E \rangle$, $E = -\ln p_1$",
                "specific_heat": "specific heat $C$",
                "captured_mass": "captured mass (the options' share)",
                "mutual_information": "$I$(prompt; answer) (nats)",
                "abs_magnetisation": r"order parameter $\langle|m|\rangle$",
                "binder": "Binder cumulant $U_4$",
                "susceptibility": r"susceptibility $\chi$",
                "m2": r"$\langle m^2 \rangle$",
                "item_entropy": "item entropy (nats)",
                "parse_rate": "answers parsed (fraction)"}


def settings_from(cfg) -> ProbeSettings:
    p = OmegaConf.to_container(cfg.probe, resolve=True)
    p["temperatures"] = tuple(float(t) for t in p["temperatures"])
    p["lengths"] = tuple(int(n) for n in p["lengths"])
    for key in ("prompts", "seed_distribution"):
        if p[key] is not None:
            p[key] = tuple(p[key])
    check_temperatures(p["temperatures"], name="probe.temperatures")
    if any(n < 1 for n in p["lengths"]):
        raise ValueError(f"probe.lengths must be positive; got {p['lengths']}")
    return ProbeSettings(**p, seed=int(cfg.run.seed))


def chain_from(cfg) -> list[tuple[str, Path]]:
    """``(name, path)`` per checkpoint, every path checked before any model is loaded."""
    if not cfg.lm.checkpoints and cfg.lm.path is None:
        raise ValueError("lm.path is not set: lm=folder needs lm.path=<a Hugging Face folder or "
                         "a .gguf file>; lm=chain needs lm.checkpoints=[<folder or file>, ...] "
                         "(or lm=smollm2 for the embedded model)")
    key = "lm.checkpoints" if cfg.lm.checkpoints else "lm.path"
    paths = list(cfg.lm.checkpoints) or [cfg.lm.path]
    out, missing = [], []
    for p in paths:
        try:
            path = resolve_path(p)
        except FileNotFoundError as e:
            missing.append(str(e))
            continue
        except ValueError as e:
            raise ValueError(f"{key}: {e}") from None
        if not path.exists():
            missing.append(str(path))
        name = cfg.lm.name if cfg.lm.name and len(paths) == 1 else path.stem
        out.append((name, path))
    if missing:
        raise FileNotFoundError(f"model path(s) not found: {missing}")
    stems = [n for n, _ in out]
    # training checkpoints (…/sft/step_000150) and repeated names carry their folder's name
    return [(f"{p.parent.name}/{n}" if stems.count(n) > 1 or n.startswith("step_") else n, p)
            for n, p in out]


def check(cfg):
    """Every probe setting checked before any model is loaded: ``(task, settings, chain)``.

    The task, the prompt ids, the temperatures and lengths, the seed distribution, ``lm.dtype``
    and every model path; each error names the value and what was expected.
    """
    if cfg.task is None:
        raise ValueError(f"no task: pick one with task=<name> (one of {tasks.available()})")
    task = tasks.from_dict(OmegaConf.to_container(cfg.task, resolve=True))
    settings = settings_from(cfg)
    if settings.seed_distribution is not None and len(settings.seed_distribution) != len(
            task.options):
        raise ValueError(f"probe.seed_distribution has {len(settings.seed_distribution)} "
                         f"entries; task {task.name} has {len(task.options)} options")
    try:
        selected_prompts(task, settings.prompts)
    except ValueError as e:
        raise ValueError(f"probe.prompts={list(settings.prompts)}: {e}") from None
    try:
        resolve_dtype(cfg.lm.dtype)
    except ValueError as e:
        raise ValueError(f"lm.dtype={cfg.lm.dtype!r}: {e}") from None
    return task, settings, chain_from(cfg)


def run(cfg, out: Path, load=None) -> list[dict]:
    """The probe on every checkpoint of ``cfg.lm``; ``load(path, dtype)`` loads a model
    (default :func:`phasejax.probe.loading.load_model`)."""
    from phasejax.probe.loading import load_model

    load = load or load_model
    task, settings, chain = check(cfg)
    rows, arrays = [], {}
    for i, (name, path) in enumerate(chain):
        t0 = time.perf_counter()
        lm = load(path, cfg.lm.dtype)
        log.info("[%d/%d] %s loaded in %.1fs", i + 1, len(chain), name, time.perf_counter() - t0)
        t0 = time.perf_counter()
        r, a = measure(lm, task, settings, name, progress=log.info)
        log.info("[%d/%d] %s: %s measured in %.1fs", i + 1, len(chain), name, task.name,
                 time.perf_counter() - t0)
        rows += [dict(r, checkpoint=i) for r in r]
        arrays.update({f"{i}/{k}": v for k, v in a.items()})
    io.write_npz(out / "distributions.npz", **arrays)
    io.write_table(out / "observables.csv", rows, ("checkpoint",) + COLUMNS)
    summary = [r for r in rows if r["prompt"] in ("mean", "all")]
    save_figure(figure(summary, task, [name for name, _ in chain]), out / "probe.png")
    return rows


def figure(summary, task, models):
    """``probe.png``: the task's observables against the sampling temperature, titled with the
    model (or the chain's first and last checkpoints) and the task."""
    title = (f"{models[0]} on {task.name}" if len(models) == 1 else
             f"{task.name}: {len(models)} checkpoints, {models[0]} → {models[-1]}")
    if task.kind == "sequence":
        panels, group = SEQUENCE_PANELS, "L"
    else:
        panels, group = CHOICE_PANELS, "model" if len(models) > 1 else None
    return plot.observables_figure(summary, title=title, panels=panels, group=group,
                                   labels=PANEL_LABELS, xlabel="sampling temperature $T$")
