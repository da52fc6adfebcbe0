"""Spin updates per nanosecond of every sampler, next to two plain baselines, in one run.

    python benchmarks/bench_samplers.py [--quick] [--repeat N] [--lattices 2:512,3:64]
                                        [--variants] [--cluster-max-sites N]

Baselines, written as a user would: a fully vectorised numpy checkerboard Metropolis (masks
computed once) and a naive JAX checkerboard that rolls the whole lattice and draws a fresh
``jax.random.uniform`` array for every half-sweep. Everything runs on one 2D/3D Ising lattice
at ``T_c``; times exclude compilation. Metropolis and heat-bath count one update per site per
sweep, Swendsen–Wang one per site per step, Wolff the sites of the flipped clusters (so its
figure is the inverse of the time per flipped spin). Cluster samplers are timed from the state
their compiling run ended in, so their clusters have equilibrium sizes.

Rows: the samplers as configured by default (``kernel="auto"``: the multispin kernel on these
Ising lattices; ``rng="auto"``: the backend's word source), the XLA roll kernel they replaced
(``…/xla``), and Wolff's two cluster searches (``wolff``: growth of the seed's cluster on bit
words; ``wolff/label``: labelling every component). ``--variants`` adds every kernel × word
source (``metropolis/<kernel>/<source>``, and the Pallas kernel on GPUs; on CPUs it only runs
in interpret mode, which is not timed), which is how the per-backend default is chosen. The
last column is the ratio to the naive JAX kernel of the same lattice.

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
from phasejax.lattice.random import platform, resolve_source

T3D = 4.5115  # 3D Ising critical temperature
REPEAT = 3
NUMPY_MAX_SITES = 1 << 22   # the numpy baseline is skipped above (minutes per figure)


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


def ours(name, L, dim, T, steps, seed=0, packed=False, **kw):
    """``(seconds, fraction of sites changed over the run)`` of ``steps`` steps of a sampler:
    one ``step`` call per sweep, or with ``packed`` one ``sweeps`` call for all of them (what
    a driver does between measurements: the multispin kernel then packs and unpacks once)."""
    model = toy_models.make("ising", L=L, dim=dim)
    sampler = samplers.make(name, **kw)

    @jax.jit
    def run(key, state):
        if packed:
            state, info = sampler.sweeps(key, state, model, jnp.float32(T), steps)
            return state, info.acceptance

        def body(carry, k):
            state, moved = carry
            state, info = sampler.step(k, state, model, jnp.float32(T))
            return (state, moved + info.acceptance), None
        return lax.scan(body, (state, jnp.float32(0.0)), jax.random.split(key, steps))[0]

    state = samplers.LatticeState(jnp.ones(model.shape, jnp.int8))
    state, _ = jax.block_until_ready(run(jax.random.key(seed), state))   # compiles, thermalises
    moved = []

    def timed():
        t0 = time.perf_counter()
        out = jax.block_until_ready(run(jax.random.key(seed + 1), state))
        moved.append(float(out[1]))
        return time.perf_counter() - t0

    return best_of(timed), float(np.mean(moved))


def rows_for(variants: bool):
    """``(label, sampler name, settings, cluster)`` of the rows to time."""
    rows = [("metropolis", "metropolis", {}, False),
            ("metropolis (sweeps per call)", "metropolis", {"packed": True}, False),
            ("metropolis/xla", "metropolis", {"kernel": "xla"}, False),
            ("heatbath", "heatbath", {}, False),
            ("heatbath (sweeps per call)", "heatbath", {"packed": True}, False),
            ("heatbath/xla", "heatbath", {"kernel": "xla"}, False)]
    if variants:
        for kernel in ("multispin", "xla"):
            for rng in ("fused", "bulk", "philox"):
                rows.append((f"metropolis/{kernel}/{rng}", "metropolis",
                             {"kernel": kernel, "rng": rng}, False))
        if platform() == "gpu":
            rows += [("metropolis/pallas", "metropolis", {"kernel": "pallas"}, False),
                     ("heatbath/pallas", "heatbath", {"kernel": "pallas"}, False)]
    rows += [("swendsen_wang", "swendsen_wang", {}, True),
             ("wolff", "wolff", {}, True),
             ("wolff/label", "wolff", {"search": "label"}, True)]
    return rows


def parse_lattices(text: str):
    out = []
    for item in text.split(","):
        dim, L = item.split(":")
        out.append((int(L), int(dim), ISING_2D_TC if int(dim) == 2 else T3D))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer sweeps (noisier numbers)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per figure (best kept)")
    ap.add_argument("--lattices", default="2:256,2:512,3:64",
                    help="comma-separated dim:L (default 2:256,2:512,3:64)")
    ap.add_argument("--variants", action="store_true",
                    help="every kernel × word source (and Pallas on GPUs)")
    ap.add_argument("--cluster-max-sites", type=int, default=1 << 20,
                    help="skip cluster samplers on larger lattices")
    ap.add_argument("--only", default="",
                    help="comma-separated row labels to time (default: all), e.g. "
                         "metropolis,metropolis/xla,wolff")
    args = ap.parse_args()
    global REPEAT
    REPEAT = args.repeat
    f = 0.25 if args.quick else 1.0
    dev = jax.devices()[0]
    print(f"jax {jax.__version__} on {dev.platform} ({getattr(dev, 'device_kind', '')}; "
          f"{os.cpu_count()} CPU threads visible); default word source "
          f"{resolve_source('auto')!r}; 2D/3D Ising at T_c, float32")
    print(f"{'lattice':>12} {'sampler':>28} {'updates/ns':>11} {'ms/step':>9} {'x naive':>8}")
    for L, dim, T in parse_lattices(args.lattices):
        N = L**dim
        lat = f"{dim}D L={L}"
        sweeps = max(4, int(f * 4e8 / N))
        naive = None
        for label, fn in (("numpy checkerboard", numpy_checkerboard), ("naive JAX roll", naive_jax)):
            if fn is numpy_checkerboard and N > NUMPY_MAX_SITES:
                print(f"{lat:>12} {label + ' (base)':>28} {'skipped':>11}")
                continue
            n = max(2, sweeps // 4) if fn is numpy_checkerboard else sweeps
            dt = fn(L, dim, T, n)
            rate = N * n / dt / 1e9
            naive = rate if fn is naive_jax else naive
            ratio = f"{rate / naive:8.2f}" if naive else ""
            print(f"{lat:>12} {label + ' (base)':>28} {rate:11.3f} {1e3 * dt / n:9.2f} {ratio}",
                  flush=True)
        only = set(filter(None, args.only.split(",")))
        for label, name, kw, cluster in rows_for(args.variants):
            if (cluster and N > args.cluster_max_sites) or (only and label not in only):
                continue
            steps = max(2, int(f * (40 if name == "wolff" else 8))) if cluster else sweeps
            dt, moved = ours(name, L, dim, T, steps, **kw)
            upd = moved * N if name == "wolff" else N * steps
            rate = upd / dt / 1e9
            extra = f"  ({1 / rate:.1f} ns per flipped spin)" if name == "wolff" else ""
            print(f"{lat:>12} {label:>28} {rate:11.3f} {1e3 * dt / steps:9.2f} "
                  f"{rate / naive:8.2f}{extra}", flush=True)


if __name__ == "__main__":
    main()
