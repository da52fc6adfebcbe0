"""Does bfloat16 generation keep the text statistics of float32 within errors?

    python benchmarks/bench_bf16_generation.py [--sequences 96] [--tokens 96] [--T 0.8 1.2]

SmolLM2 (or ``--model PATH``) generates the same number of sequences from its BOS token at each
temperature in float32 and in bfloat16 (different random streams: the two are independent
samples), under the text-criticality job's end-of-text policy; the text is mapped to token
classes and the shared statistics (``τ``, ``U₄ᶜ``, ``χ`` at every prefix size, the decay
exponent ``η``) are compared as ``z = (bf16 − f32)/√(e₁² + e₂²)``. Prints the tokens/s of each
dtype and every ``z``; ``|z| < 3`` everywhere (with 3 × sizes × temperatures comparisons) is
"within errors".
"""

from __future__ import annotations

import argparse
import time

import jax
import numpy as np

from phasejax.analysis.sequences import prefix_statistics
from phasejax.probe.loading import load_model
from phasejax.text import generate as G
from phasejax.text import spins


def measure(lm, T, n, n_tokens, seed, sizes):
    spec = G.FreeGeneration(temperatures=(T,), n_tokens=n_tokens, n_sequences=n, chunk=n,
                            seed=seed)
    ids = G.check(lm, spec)
    from phasejax.probe.sampling import generate

    banned = G.banned_ids(lm, spec)
    generate(jax.random.key(99), lm.model, [ids], 4, temperature=T, n_samples=n, max_rows=n,
             banned_ids=banned)                                     # compile
    t0 = time.perf_counter()
    g = generate(jax.random.key(seed), lm.model, [ids], n_tokens, temperature=T, n_samples=n,
                 max_rows=n, banned_ids=banned)
    rate = n * n_tokens / (time.perf_counter() - t0)
    sm = spins.spin_map("token_class", lm.tokenizer)
    y = spins.to_sites(sm, g.tokens[0], N=sizes[-1]).states
    return rate, prefix_statistics(jax.random.key(seed), y, sizes, q=sm.q, T=T, n_boot=200)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="embedded")
    p.add_argument("--sequences", type=int, default=96)
    p.add_argument("--tokens", type=int, default=96)
    p.add_argument("--T", type=float, nargs="+", default=[0.8, 1.2])
    a = p.parse_args(argv)
    sizes = [a.tokens // 4, a.tokens // 2, a.tokens]
    z_all = []
    lm32, lm16 = load_model(a.model, "float32"), load_model(a.model, "bfloat16")
    print(f"device {jax.devices()[0].platform}; {a.sequences} sequences × {a.tokens} tokens per T")
    for T in a.T:
        r32, s32 = measure(lm32, T, a.sequences, a.tokens, 1, sizes)
        r16, s16 = measure(lm16, T, a.sequences, a.tokens, 2, sizes)
        print(f"T={T:g}: float32 {r32:.0f} tokens/s, bfloat16 {r16:.0f} tokens/s")
        for x, y in zip(s32, s16):
            for name, (u, v) in (("tau", (x.tau_trace, y.tau_trace)),
                                 ("binder_connected", (x.moments["binder_connected"],
                                                       y.moments["binder_connected"])),
                                 ("susceptibility", (x.moments["susceptibility"],
                                                     y.moments["susceptibility"])),
                                 ("eta", (x.eta, y.eta))):
                z = (v.value - u.value) / np.hypot(u.error, v.error)
                z_all.append(z)
                print(f"  N={x.N:4d} {name:<17} f32 {u.value:9.4g} ± {u.error:7.2g}   "
                      f"bf16 {v.value:9.4g} ± {v.error:7.2g}   z = {z:+.2f}")
    z = np.asarray(z_all, float)
    z = z[np.isfinite(z)]
    print(f"max |z| = {np.max(np.abs(z)):.2f} over {z.size} comparisons; "
          f"mean z² = {np.mean(z ** 2):.2f} (1 for the same distribution)")


if __name__ == "__main__":
    main()
