"""Exact answer distributions versus sampling, on the embedded SmolLM2-135M-Instruct, one run.

    python benchmarks/bench_probe.py [--samples 1000] [--dtype float32]

Task ``number_1_10`` (chat form, prefill "My number is", options " 1." … " 10."), its 8 prompt
variants, T = 1. Three ways to the same distributions, each timed after a warm-up call (so
compilation is excluded and reported apart):

* **exact, shared prefix** — :func:`score_prompts`: prompts read once into a KV cache, the 10
  options scored from it;
* **exact, no sharing** (plain baseline) — every prompt + option sequence run in full;
* **sampling** — our jit sampler, ``--samples`` answers per prompt, parsed to options.

Reported: wall times and ratios; the total-variation distance between sampled and exact
distributions over the 11 outcomes (10 options + anything else), and over the options
renormalised; forward throughput (prefill and decode tokens/s).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from phasejax.probe import tasks
from phasejax.probe.loading import load_model
from phasejax.probe.prompts import encode_options, encode_prompt, prompt_text
from phasejax.probe.sampling import generate, match_options
from phasejax.probe.scoring import LowCapturedMass, score_prompts


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    jax.block_until_ready(out)
    return out, time.perf_counter() - t0


def full_sequences(model, prompts, options):
    """Baseline: one padded batch of every prompt ⊕ option, no cache."""
    seqs = [p + o for p in prompts for o in options]
    width = max(map(len, seqs))
    toks = np.zeros((len(seqs), width), np.int32)
    mask = np.zeros((len(seqs), width), bool)
    for i, s in enumerate(seqs):
        toks[i, :len(s)] = s
        mask[i, :len(s)] = True
    f = jax.jit(lambda gs, t, m: nnx.merge(*gs)(t, m))
    logits = np.asarray(f(nnx.split(model), jnp.asarray(toks), jnp.asarray(mask)), np.float64)
    logp = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True)) \
        - logits.max(-1, keepdims=True)
    out = np.zeros(len(seqs))
    for i, (p, o) in enumerate(((p, o) for p in prompts for o in options)):
        out[i] = sum(logp[i, len(p) - 1 + j, t] for j, t in enumerate(o))
    return out.reshape(len(prompts), len(options))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--dtype", default="float32")
    args = ap.parse_args()
    warnings.simplefilter("ignore", LowCapturedMass)

    t0 = time.perf_counter()
    lm = load_model("embedded", args.dtype)
    print(f"load: {time.perf_counter() - t0:.1f} s ({args.dtype})")
    task = tasks.load("number_1_10")
    task = dataclasses.replace(task, terminator={"chat": ".", "completion": "."})
    prompts = [encode_prompt(lm, prompt_text(lm, task, p, "chat"), "chat") for p in task.prompts]
    options = encode_options(lm, task, "chat")
    n_prompt_tokens = sum(map(len, prompts))
    print(f"{len(prompts)} prompts ({n_prompt_tokens} tokens), {len(options)} options "
          f"(up to {max(map(len, options))} tokens)")

    run_exact = lambda: score_prompts(lm.model, prompts, options, [1.0])
    _, compile_exact = timed(run_exact)
    exact, t_exact = timed(run_exact)
    P = np.array([np.exp(d.log_prob[0]) for d in exact])              # (8, 10) unnormalised
    _, compile_full = timed(lambda: full_sequences(lm.model, prompts, options))
    full, t_full = timed(lambda: full_sequences(lm.model, prompts, options))
    agree = np.abs(np.log(P) - full).max()

    key = jax.random.key(0)
    run_sample = lambda n: generate(key, lm.model, prompts, max(map(len, options)),
                                    temperature=1.0, n_samples=n, stop_ids=lm.stop_ids)
    _, compile_sample = timed(lambda: run_sample(8))
    g, t_sample = timed(lambda: run_sample(args.samples))
    hits = match_options(g.tokens, options)                             # (8, n)
    K = len(options)
    counts = np.stack([np.bincount(np.where(h < 0, K, h), minlength=K + 1) for h in hits])
    freq = counts / counts.sum(-1, keepdims=True)
    exact11 = np.concatenate([P, 1 - P.sum(-1, keepdims=True)], -1)
    tv11 = 0.5 * np.abs(freq - exact11).sum(-1)
    hit = counts[:, :K].sum(-1)
    renorm = counts[:, :K] / np.maximum(hit, 1)[:, None]
    tv10 = 0.5 * np.abs(renorm - P / P.sum(-1, keepdims=True)).sum(-1)

    B = 8
    toks = jnp.asarray(np.tile(np.asarray(prompts[0][:48], np.int32), (B, 1)))
    f = jax.jit(lambda gs, t: nnx.merge(*gs)(t))
    gs = nnx.split(lm.model)
    timed(lambda: f(gs, toks))
    _, t_fwd = timed(lambda: f(gs, toks))
    rows = 1024
    cache = lm.model.init_cache(rows, 64)
    step = jax.jit(lambda gs, t, c: nnx.merge(*gs)(t, None, c))
    one = jnp.ones((rows, 1), jnp.int32)
    timed(lambda: step(gs, one, cache))
    _, t_dec = timed(lambda: step(gs, one, cache))

    print("\nmethod                         wall (s)   compile (s)")
    print(f"exact, shared prefix cache     {t_exact:8.2f}   {compile_exact:8.1f}")
    print(f"exact, full sequences          {t_full:8.2f}   {compile_full:8.1f}   "
          f"(max |Δ log p| vs cached {agree:.1e})")
    print(f"sampling {args.samples:>5} per prompt       {t_sample:8.2f}   {compile_sample:8.1f}")
    print(f"\nsampling / exact = {t_sample / t_exact:.0f}x;  full / shared = "
          f"{t_full / t_exact:.1f}x")
    print(f"captured mass per prompt: {np.round(P.sum(-1), 3).tolist()}")
    print(f"TV(sampled, exact) over 11 outcomes: mean {tv11.mean():.4f}, max {tv11.max():.4f}")
    print(f"TV over options renormalised ({hit.min()}–{hit.max()} hits per prompt): mean "
          f"{tv10.mean():.4f}, max {tv10.max():.4f}")
    print(f"\nforward (prefill) {B}x48 tokens: {B * 48 / t_fwd:.0f} tokens/s")
    print(f"cached decode step, {rows} rows: {rows / t_dec:.0f} tokens/s")


if __name__ == "__main__":
    main()
