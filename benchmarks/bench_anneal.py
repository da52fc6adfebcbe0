"""Replica-batched throughput along a schedule versus the equilibrium kernel, in one run.

    python benchmarks/bench_anneal.py

All paths advance the same 2D Ising replicas with checkerboard Metropolis: the equilibrium
driver (:func:`phasejax.lattice.driver.simulate`, fixed temperature, measuring every sweep),
:func:`phasejax.lattice.anneal.anneal` at a fixed temperature and model, and ``anneal`` with a
temperature schedule (reheating cycles of a linear anneal) plus a field on its own schedule,
both recording every 10 sweeps. The last column is the cost of the schedules. Updates per
nanosecond from each run's own clock, which starts after its first (compiling) chunk; best of
3 runs.
"""

from __future__ import annotations

import dataclasses
import jax
import jax.numpy as jnp

import toy_models
from phasejax.lattice import samplers, schedules as S
from phasejax.lattice.anneal import anneal
from phasejax.lattice.driver import simulate


def best(fn, repeat=3):
    return min(fn().wall_time for _ in range(repeat))


def main():
    sampler = samplers.make("metropolis")
    print(f"{'lattice':>10} {'replicas':>8} {'equilibrium':>12} {'fixed-T anneal':>15} "
          f"{'scheduled':>10} {'cost vs fixed':>14}")
    for L, R, steps in ((64, 32, 2000), (128, 8, 2000), (256, 4, 1000)):
        model = toy_models.make("ising", L=L)
        N = model.n_sites
        eq = best(lambda: simulate(jax.random.key(0), model, sampler, [2.3], n_replicas=R,
                                   n_therm=0, n_measure=steps, site_histograms=False))
        T = S.cycles(S.linear(3.0, 1.5, 100), 100)
        h = S.linear(0.0, 0.05, steps)

        def model_at(t, r):
            return dataclasses.replace(model, b=jnp.stack([-h(t), h(t)]))

        fx = best(lambda: anneal(jax.random.key(0), model, sampler, 2.3, steps, n_replicas=R,
                                 record_every=10))
        sc = best(lambda: anneal(jax.random.key(0), model_at, sampler, T, steps, n_replicas=R,
                                 record_every=10))
        a, f, b = (N * R * steps / w / 1e9 for w in (eq, fx, sc))
        print(f"{f'L={L}':>10} {R:>8} {a:12.3f} {f:15.3f} {b:10.3f} {100 * (f / b - 1):13.1f}%")


if __name__ == "__main__":
    main()
