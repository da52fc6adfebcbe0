"""Spin updates per nanosecond of every sampler, next to two plain baselines, in one run.

    python benchmarks/bench_samplers.py [--quick]

Baselines, written as a user would: a fully vectorised numpy checkerboard Metropolis (masks
computed once) and a naive JAX checkerboard that rolls the whole lattice and draws a fresh
``jax.random.uniform`` array for every half-sweep. Everything runs on one 2D/3D Ising lattice
at ``T_c``; times exclude compilation. Metropolis and heat-bath count one update per site per
sweep, Swendsen–Wang one per site per step, Wolff the sites of the flipped clusters.

Each figure is the best of ``--repeat`` timed runs (after one compiling run): on a shared
2-core machine single runs of the same kernel vary by up to a factor of two, depending on
whether XLA's thread pool gets both cores.
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import toy_models
from phasejax.lattice import samplers
from phasejax.lattice.exact import ISING_2D_TC

T3D = 4.5115  # 3D Ising critical temperature


REPEAT = 3


def best_of(fn):
    return min(fn() for _ in range(REPEAT))


def numpy_checkerboard(L, dim, T, sweeps, seed=0):
    rng = np.random.default_rng(seed)
    s = np.ones((L,) * dim, np.int8)
    parity = np.indices(s.shape).sum(0) % 2
    masks = [parity == 0, parity == 1]
    acc = np.exp(-2.0 * np.arange(0, 2 * dim + 1) / T)  # exp(-ΔE/T) for ΔE = 2 * k, k >= 0

    def half(s, mask):
        nb = sum(np.roll(s, sh, ax) for ax in range(dim) for sh in (1, -1))
        k = s * nb                                 # ΔE = 2 k
        p = acc[np.clip(k, 0, None)]
        flip = mask & (rng.random(s.shape, dtype=np.float32) < p)
        return np.where(flip, -s, s)

    def timed():
        nonlocal s
        t0 = time.perf_counter()
        for _ in range(sweeps):
            s = half(s, masks[0])
            s = half(s, masks[1])
        return time.perf_counter() - t0

    return best_of(timed)


def naive_jax(L, dim, T, sweeps, seed=0):
    shape = (L,) * dim
    parity = jnp.asarray(np.indices(shape).sum(0) % 2 == 0)

    def half(s, key, mask):
        nb = sum(jnp.roll(s, sh, ax) for ax in range(dim) for sh in (1, -1))
        dE = 2.0 * (s * nb).astype(jnp.float32)
        u = jax.random.uniform(key, shape)
        return jnp.where(mask & (u < jnp.exp(-dE / T)), -s, s)

    @jax.jit
    def run(key, s):
        def body(s, k):
            k1, k2 = jax.random.split(k)
            return half(half(s, k1, parity), k2, ~parity), None
        return lax.scan(body, s, jax.random.split(key, sweeps))[0]

    s = jnp.ones(shape, jnp.int8)
    run(jax.random.key(seed), s).block_until_ready()

    def timed():
        t0 = time.perf_counter()
        run(jax.random.key(seed + 1), s).block_until_ready()
        return time.perf_counter() - t0

    return best_of(timed)


def ours(name, L, dim, T, steps, seed=0, **kw):
    model = toy_models.make("ising", L=L, dim=dim)
    sampler = samplers.make(name, **kw)

    @jax.jit
    def run(key, state):
        def body(carry, k):
            state, moved = carry
            state, info = sampler.step(k, state, model, jnp.float32(T))
            return (state, moved + info.acceptance), None
        return lax.scan(body, (state, jnp.float32(0.0)), jax.random.split(key, steps))[0]

    state = samplers.LatticeState(jnp.ones(model.shape, jnp.int8))
    _, moved = jax.block_until_ready(run(jax.random.key(seed), state))

    def timed():
        t0 = time.perf_counter()
        jax.block_until_ready(run(jax.random.key(seed), state))
        return time.perf_counter() - t0

    return best_of(timed), float(moved)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer sweeps (noisier numbers)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per figure (best kept)")
    args = ap.parse_args()
    global REPEAT
    REPEAT = args.repeat
    f = 0.25 if args.quick else 1.0
    cases = [(256, 2, ISING_2D_TC), (512, 2, ISING_2D_TC), (64, 3, T3D)]
    print(f"jax {jax.__version__} on {jax.devices()[0].platform} "
          f"({os.cpu_count()} CPU threads visible); 2D/3D Ising at T_c, float32")
    print(f"{'lattice':>12} {'sampler':>22} {'updates/ns':>11} {'ms/step':>9}")
    for L, dim, T in cases:
        N = L**dim
        lat = f"{dim}D L={L}"
        sweeps = max(4, int(f * 4e8 / N))
        for label, fn in (("numpy checkerboard", numpy_checkerboard), ("naive JAX roll", naive_jax)):
            n = max(2, sweeps // 4) if label.startswith("numpy") else sweeps
            dt = fn(L, dim, T, n)
            print(f"{lat:>12} {label + ' (base)':>22} {N * n / dt / 1e9:11.3f} {1e3 * dt / n:9.2f}")
        for name, steps, kw in (("metropolis", sweeps, {}), ("heatbath", sweeps, {}),
                                ("swendsen_wang", max(2, int(f * 8)), {}),
                                ("wolff", max(2, int(f * 8)), {})):
            dt, moved = ours(name, L, dim, T, steps, **kw)
            upd = moved * N if name == "wolff" else N * steps
            print(f"{lat:>12} {name:>22} {upd / dt / 1e9:11.3f} {1e3 * dt / steps:9.2f}")


if __name__ == "__main__":
    main()
