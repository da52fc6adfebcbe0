"""Watch a decoder crystallize: pretrain → SFT → RL, phase statistics at every checkpoint.

    python -m experiments.crystallize                 # the CPU preset (a few minutes)
    python -m experiments.sweep experiment=crystallize

A fresh Llama-family decoder is pretrained on the synthetic world of
:mod:`phasejax.train.corpus` (many framings, each with its own number convention), fine-tuned on
chats that answer every framing from one *seed* convention, then trained with a group-baseline
policy gradient and a KL penalty toward the SFT model under a reward over the options. At every
checkpoint the probe measures the exact answer distributions on held-out phrasings and the
shared statistics give the phase label. Writes ``crystallization.csv`` (one row per checkpoint ×
statistic), ``training.csv`` (losses and rewards), ``summary.json`` (stages, timings, tokens/s)
and ``crystallization.png`` (statistics against training step, phases shaded); checkpoints are
Hugging Face folders under ``checkpoints/`` that ``lm.path=`` can load.
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

from phasejax import distributions as D
from phasejax import io
from phasejax.probe.decoder import Decoder, DecoderConfig
from phasejax.probe.hf_writer import save_folder
from phasejax.probe.loading import LoadedModel
from phasejax.probe.measure import ProbeSettings, encode_options, encode_prompt, measure_choice
from phasejax.probe.measure import prompt_text
from phasejax.probe.scoring import LowCapturedMass
from phasejax.train import corpus as C
from phasejax.train.loop import encode, train
from phasejax.train.rl import grpo

log = logging.getLogger(__name__)
RESULT_FILES = ("crystallization.csv", "training.csv", "summary.json", "crystallization.png")
PHASE_COLOURS = {"liquid": "#9ecae1", "nucleated": "#fdae6b", "settled": "#a1d99b",
                 "collapsed": "#d9d9d9"}


def check(cfg, world: C.World):
    """Every configuration error, before any training."""
    c = cfg.crystallize
    errors = []
    if c.seed_convention not in world.conventions:
        errors.append(f"seed_convention {c.seed_convention!r} not in "
                      f"{sorted(world.conventions)}")
    unknown = sorted(set(map(str, c.reward)) - set(C.OPTIONS))
    if unknown:
        errors.append(f"reward names options {unknown} outside the task's {list(C.OPTIONS)}")
    for stage in ("pretrain", "sft", "rl"):
        if c[stage].steps < 1:
            errors.append(f"{stage}.steps must be >= 1")
    if errors:
        raise ValueError("crystallize: " + "; ".join(errors))


def phase_row(lm, task, seed, stage, step, total_step):
    with warnings.catch_warnings():      # an untrained model captures little mass
        warnings.simplefilter("ignore", LowCapturedMass)
        _, arr = measure_choice(lm, task, ProbeSettings(temperatures=(1.0,)))
    P = arr["p"][:, 0]
    st = D.phase_statistics(P, seed)
    return dict(stage=stage, step=step, total_step=total_step,
                mutual_information=float(D.mutual_information(P)),
                n_distinct=D.n_distinct(P), mean_entropy=float(np.mean(D.entropy(P))),
                order_parameter=float(np.mean(D.order_parameter(P))),
                captured_mass=float(arr["captured"].min()), **st._asdict(),
                phase=D.phase_label(st))


def run(cfg, out: Path) -> dict:
    c = cfg.crystallize
    world = C.World()
    check(cfg, world)
    tk = C.tokenizer(world)
    eot = tk.token_to_id("<eot>")
    dc = DecoderConfig(vocab_size=tk.get_vocab_size(), hidden_size=c.model.hidden_size,
                       intermediate_size=c.model.intermediate_size,
                       num_layers=c.model.num_layers, num_heads=c.model.num_heads,
                       num_kv_heads=c.model.num_kv_heads, max_position=64)
    model = Decoder(dc, nnx.Rngs(c.seed))
    lm = LoadedModel(model, dc, tk, C.CHAT_TEMPLATE, (eot,))
    task = C.probe_task(world, held_out=True)
    seed = world.conventions[c.seed_convention]
    key = jax.random.key(c.seed)
    ckpt = out / "checkpoints"
    save = lambda m, path: save_folder(m, path, tk, C.CHAT_TEMPLATE, eos_token_id=eot)
    rows, train_rows, timings, rates = [], [], {}, {}
    offset = 0

    def measure_folder(folder: Path, stage: str):
        """Every checkpoint on disk (a resumed run measures the earlier ones too)."""
        from phasejax.probe.loading import load_model
        from phasejax.train.loop import _ckpt_dirs

        for path in _ckpt_dirs(folder):
            step = int(path.name.split("_")[-1])
            ck = load_model(path)
            rows.append(phase_row(LoadedModel(ck.model, dc, tk, C.CHAT_TEMPLATE, (eot,)),
                                  task, seed, stage, step, offset + step))

    def measure(stage, step):
        rows.append(phase_row(lm, task, seed, stage, step, offset + step))
        r = rows[-1]
        log.info("%s step %d: I=%.3f distinct=%d overlap=%.3f retention=%.3f -> %s", stage,
                 step, r["mutual_information"], r["n_distinct"], r["seed_overlap"],
                 r["support_retention"], r["phase"])

    measure("init", 0)
    for stage, docs, reply in (
            ("pretrain", C.pretraining_documents(world, c.pretrain.documents, c.seed), None),
            ("sft", C.sft_documents(world, seed, c.sft.documents, c.seed + 1),
             tk.token_to_id("<assistant>"))):
        s = c[stage]
        toks, att, mask = encode(tk, docs, c.width, reply_after=reply)
        t0 = time.perf_counter()
        tl = train(model, jax.random.fold_in(key, len(timings)), toks, att, mask,
                   steps=s.steps, batch=s.batch, lr=s.lr, warmup=s.warmup,
                   checkpoint_every=s.checkpoint_every, folder=ckpt / stage, save=save,
                   log_every=max(1, s.checkpoint_every // 4), progress=log.info)
        timings[stage] = time.perf_counter() - t0
        rates[f"{stage}_tokens_per_s"] = tl.tokens_per_s
        train_rows += [dict(stage=stage, step=int(a), total_step=offset + int(a),
                            quantity="loss", value=float(b)) for a, b in zip(tl.steps, tl.loss)]
        measure_folder(ckpt / stage, stage)
        log.info("%s: %d steps in %.1fs, %.0f tokens/s; final phase %s", stage, s.steps,
                 timings[stage], tl.tokens_per_s, rows[-1]["phase"])
        offset += s.steps
    s = c.rl
    reference = nnx.clone(model)
    train_task = C.probe_task(world, held_out=False)
    prompts = [encode_prompt(lm, prompt_text(lm, train_task, p, "chat"), "chat")
               for p in train_task.prompts]
    options = encode_options(lm, train_task, "chat")
    reward = np.zeros(len(C.OPTIONS))
    for k, v in c.reward.items():
        reward[C.OPTIONS.index(str(k))] = float(v)

    t0 = time.perf_counter()
    rl = grpo(model, reference, jax.random.fold_in(key, 99), prompts, options, reward,
              steps=s.steps, group=s.group, prompts_per_step=s.prompts_per_step, beta=s.beta,
              lr=s.lr, log_every=max(1, s.checkpoint_every // 2),
              checkpoint_every=s.checkpoint_every, folder=ckpt / "rl", save=save,
              progress=log.info)
    timings["rl"] = time.perf_counter() - t0
    rates["rl_answers_per_s"] = rl.answers_per_s
    measure_folder(ckpt / "rl", "rl")
    for q, vals in (("reward", rl.reward), ("kl", rl.kl)):
        train_rows += [dict(stage="rl", step=int(a), total_step=offset + int(a), quantity=q,
                            value=float(b)) for a, b in zip(rl.steps, vals)]
    table = [dict(stage=r["stage"], step=r["step"], total_step=r["total_step"], statistic=k,
                  value=v, phase=r["phase"]) for r in rows for k, v in r.items()
             if k not in ("stage", "step", "total_step", "phase")]
    io.write_table(out / "crystallization.csv", table,
                   ["stage", "step", "total_step", "statistic", "value", "phase"])
    io.write_table(out / "training.csv", train_rows,
                   ["stage", "step", "total_step", "quantity", "value"])
    final = {stage: next(r for r in reversed(rows) if r["stage"] == stage)
             for stage in ("pretrain", "sft", "rl")}
    summary = dict(config=OmegaConf.to_container(c, resolve=True), timings_s=timings, **rates,
                   final=final, seed_distribution=seed.tolist())
    io.write_json(out / "summary.json", summary)
    plot(rows, train_rows, out / "crystallization.png")
    return summary


def plot(rows, train_rows, path):
    import matplotlib.pyplot as plt

    from phasejax.plot import _save

    x = np.array([r["total_step"] for r in rows])
    panels = (("mutual_information", "I(prompt; answer)"), ("n_distinct", "distinct distributions"),
              ("seed_overlap", "overlap with seed"), ("support_retention", "support retention"),
              ("js_to_seed", "JS to seed"), ("mean_entropy", "answer entropy"))
    fig, axes = plt.subplots(2, 4, figsize=(16, 6.5))
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
        ax.set_xlabel("training step (pretrain → SFT → RL)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c, alpha=0.5) for c in PHASE_COLOURS.values()]
    fig.legend(handles, list(PHASE_COLOURS), loc="upper right", ncol=4, fontsize=8)
    return _save(fig, path)


@hydra.main(version_base=None, config_path="../conf", config_name="crystallize")
def main(cfg: DictConfig) -> None:
    out = Path(HydraConfig.get().runtime.output_dir)
    if io.is_finished(out, RESULT_FILES):
        log.info("results already in %s; skipping", out)
        return
    run(cfg, out)
    for f in RESULT_FILES:
        print(f"{f:>22}: {out / f}")


if __name__ == "__main__":
    main()
