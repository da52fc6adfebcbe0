"""Free-generation throughput: the cached, compiled sampler against a plain loop.

    python benchmarks/bench_generate.py [--rows 48] [--tokens 128] [--model embedded]

Both generate ``rows`` sequences of ``tokens`` tokens from the model's BOS token by plain
temperature sampling (T = 1). *cached* is :func:`phasejax.probe.sampling.generate` (prefill once,
a KV cache, one compiled ``lax.scan`` over the steps); *plain* recomputes the full forward pass
over the growing sequence at every step (one jitted forward per length, no cache), the way a
first implementation would. Prints warm tokens/s of each (compilation excluded by a first run).
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from phasejax.probe.loading import load_model
from phasejax.probe.sampling import generate


def plain(model, key, bos: int, rows: int, tokens: int) -> np.ndarray:
    fwd = jax.jit(lambda t: model(t)[:, -1])
    seq = jnp.full((rows, 1), bos, jnp.int32)
    for i in range(tokens):
        logits = fwd(seq)
        nxt = jax.random.categorical(jax.random.fold_in(key, i), logits).astype(jnp.int32)
        seq = jnp.concatenate([seq, nxt[:, None]], 1)
    return np.asarray(seq[:, 1:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--rows", type=int, default=48)
    ap.add_argument("--tokens", type=int, default=128)
    a = ap.parse_args()
    lm = load_model(a.model)
    bos = lm.tokenizer.token_to_id(lm.special_tokens["bos_token"])
    key = jax.random.key(0)
    generate(key, lm.model, [[bos]], a.tokens, n_samples=a.rows, max_rows=a.rows)   # compile
    t0 = time.perf_counter()
    generate(jax.random.key(1), lm.model, [[bos]], a.tokens, n_samples=a.rows,
             max_rows=a.rows).tokens.sum()
    cached = a.rows * a.tokens / (time.perf_counter() - t0)
    short = max(8, a.tokens // 8)           # the plain loop compiles per length: time a prefix
    plain(lm.model, key, bos, a.rows, short)
    t0 = time.perf_counter()
    plain(lm.model, jax.random.key(1), bos, a.rows, short)
    plain_rate = a.rows * short / (time.perf_counter() - t0)
    print(f"{a.model}: {a.rows} rows x {a.tokens} tokens, devices {jax.devices()}")
    print(f"  cached, compiled scan : {cached:8.1f} tokens/s")
    print(f"  plain loop (first {short} tokens, compiled per length, no cache): "
          f"{plain_rate:8.1f} tokens/s")
    print(f"  speed-up: {cached / plain_rate:.1f}x (the plain loop slows further with length)")


if __name__ == "__main__":
    main()
