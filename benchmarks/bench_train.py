"""Training throughput: the compiled training step against a plain loop, in one run.

    python benchmarks/bench_train.py [--steps 40] [--batch 64] [--width 32] [--hidden 64]

Same decoder, data, optimizer (AdamW, warm-up + cosine) and loss in both:

* **ours** — :func:`phasejax.train.loop.train`: the batch is drawn from the key inside one
  compiled step that also applies the optimizer update;
* **plain** (baseline) — batch indices drawn and sliced on the host, copied to the device each
  step, ``jax.value_and_grad`` compiled alone and the optax update applied eagerly.

Then the LoRA (rank 8, attention projections) and bfloat16 variants of ours. Reported:
processed tokens/s after the first (compiling) step.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from phasejax.probe.decoder import Decoder, DecoderConfig
from phasejax.train import corpus as C
from phasejax.train.lora import LoRA
from phasejax.train.loop import encode, schedule, train


def plain(model, toks, att, mask, steps, batch, lr=3e-3, warmup=5):
    tx = optax.adamw(schedule(lr, steps, warmup), weight_decay=0.01)
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    state = tx.init(params)

    @jax.jit
    def loss_and_grad(p, t, a, w):
        def loss(p):
            logits = nnx.merge(graphdef, p, rest)(t, a)[:, :-1]
            nll = -jnp.take_along_axis(jax.nn.log_softmax(logits, -1), t[:, 1:, None],
                                       -1)[..., 0]
            return jnp.sum(nll * w[:, 1:]) / jnp.maximum(jnp.sum(w[:, 1:]), 1.0)
        return jax.value_and_grad(loss)(p)

    rng = np.random.default_rng(0)
    t_run = 0.0
    for i in range(steps):
        t0 = time.perf_counter()
        idx = rng.integers(0, len(toks), batch)
        t, a, w = (jnp.asarray(x[idx]) for x in (toks, att, mask.astype(np.float32)))
        loss, g = loss_and_grad(params, t, a, w)
        with jax.numpy_dtype_promotion("standard"):
            updates, state = tx.update(g, state, params)
            params = optax.apply_updates(params, updates)
        float(loss)
        if i:
            t_run += time.perf_counter() - t0
    return att.sum(1).mean() * batch * (steps - 1) / t_run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=64)
    args = ap.parse_args()
    world = C.World()
    tk = C.tokenizer(world)
    toks, att, mask = encode(tk, C.pretraining_documents(world, 2000, 0), args.width)
    cfg = DecoderConfig(vocab_size=tk.get_vocab_size(), hidden_size=args.hidden,
                        intermediate_size=2 * args.hidden, num_layers=2, num_heads=4,
                        num_kv_heads=2, max_position=64)
    kw = dict(steps=args.steps, batch=args.batch, lr=3e-3, warmup=5, log_every=args.steps)
    print(f"{jax.devices()[0].platform}: decoder hidden {args.hidden}, 2 layers, batch "
          f"{args.batch} × {args.width} tokens, {args.steps} steps")
    rows = [("plain loop (baseline)", plain(Decoder(cfg, nnx.Rngs(0)), toks, att, mask,
                                            args.steps, args.batch))]
    for name, extra, dtype in (("ours, full, float32", {}, jnp.float32),
                               ("ours, LoRA r=8, float32", {"lora": LoRA(8, 16.0)}, jnp.float32),
                               ("ours, full, bfloat16", {}, jnp.bfloat16)):
        log = train(jax.random.key(0), Decoder(cfg, nnx.Rngs(0), dtype), toks, att, mask, **kw,
                    **extra)
        rows.append((name, log.tokens_per_s))
    base = rows[0][1]
    for name, rate in rows:
        print(f"{name:<28} {rate:>10,.0f} tokens/s   {rate / base:5.2f}×")


if __name__ == "__main__":
    main()
