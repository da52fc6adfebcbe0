"""Where the 2D Ising Binder cumulants of L = 16 and 32 cross, on a fine grid around T_c, and
how the rates table's coarse grid reads that crossing.

    python benchmarks/ising2d_fine_crossing.py            # about 10 min on a 2-core CPU
    python benchmarks/ising2d_fine_crossing.py --coarse   # about 24 min

The rates table's 2D Ising grid (``T = 2.0 … 2.55``, 8 points) brackets ``T_c`` by the segment
``2.236 … 2.314``; the default samples 8 temperatures across that segment (10 data sets × 256
configurations, Swendsen–Wang, as ``calibration.ising2d_datasets``) and prints the pooled
difference ``U₄(32²) − U₄(16²)`` at each, its crossing by straight lines between neighbours,
and the crossing of the straight line through the segment's two ends (what the coarse grid sees).

``--coarse`` samples the coarse grid itself (``L = 8, 16, 32``, 8 data sets × 512) and prints,
per data set, the crossing of the two largest sizes by straight lines and by the monotone cubic
(``decisions.crossing``: ``T_line`` and ``T``), and the Binder fixed point that the rates
table scores (``calibration.decide``), with how often its intervals hold ``T_c``.
"""

import argparse
import time

import jax
import numpy as np

from phasejax.lattice import calibration as C

T_C = 2 / np.log(1 + np.sqrt(2))
T = np.round(np.linspace(2.236, 2.314, 8), 4)


COARSE_T = np.round(np.linspace(2.0, 2.55, 8), 4)


def coarse_report(sets) -> None:
    """Per data set of the coarse grid: the two largest sizes' crossing read by straight lines
    and by the monotone cubic, and the decision's Binder ``T_c``; then means and coverage."""
    from phasejax.analysis import decisions as dec

    line, cubic, tc = [], [], []
    for d, cur in enumerate(sets):
        B = cur["binder"]
        c = dec.crossing(np.random.default_rng(d), B, int(B.N[-2]), int(B.N[-1]))
        if not c.found:
            print(f"data set {d}: {c.reason}")
            continue
        line.append(c.T_line)
        cubic.append(c.T)
        got = C.decide(jax.random.fold_in(jax.random.key(3), d), cur, binder="binder")
        tc.append(got["binder_crossing"])
        print(f"data set {d}: straight line {c.T_line:.4f}  cubic {c.T:.4f}  Binder T_c "
              f"{tc[-1][0]:.4f} ± {tc[-1][1]:.4f}", flush=True)
    for name, x in (("straight line", line), ("monotone cubic", cubic)):
        x = np.asarray(x)
        print(f"{name}: mean {x.mean():.4f} ± {x.std(ddof=1) / np.sqrt(x.size):.4f} "
              f"(T_c = {T_C:.4f})")
    tc = np.asarray(tc, float)
    ok = np.isfinite(tc[:, 0])
    z = np.abs(tc[ok, 0] - T_C) / tc[ok, 1]
    print(f"Binder T_c named in {ok.sum()} of {len(tc)}; intervals hold T_c in "
          f"{int((z <= 1).sum())} (1σ) and {int((z <= 2).sum())} (2σ)")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--coarse", action="store_true",
                   help="sample the rates table's coarse grid and score its crossing")
    if p.parse_args(argv).coarse:
        t0 = time.time()
        sets = C.ising2d_datasets(jax.random.key(11), COARSE_T, (8, 16, 32), n_datasets=8,
                                  n_samples=512, n_therm=100, n_boot=100)
        print(f"# sampled in {time.time() - t0:.0f} s", flush=True)
        coarse_report(sets)
        return
    t0 = time.time()
    sets = C.ising2d_datasets(jax.random.key(5), T, (16, 32), n_datasets=10, n_samples=256,
                              n_therm=100)
    print(f"# sampled in {time.time() - t0:.0f} s", flush=True)
    v = np.array([cur["binder"].value for cur in sets])          # (data sets, T, sizes)
    d = v[:, :, 1] - v[:, :, 0]
    dm, de = d.mean(0), d.std(0, ddof=1) / np.sqrt(len(sets))
    for i, t in enumerate(T):
        print(f"T {t:.4f}  U4(32) - U4(16) {dm[i]:+.4f} ± {de[i]:.4f}   "
              f"U4(32) {v[:, i, 1].mean():.4f}")
    for k in np.flatnonzero((dm[:-1] > 0) & (dm[1:] <= 0)):
        x = T[k] + (T[k + 1] - T[k]) * dm[k] / (dm[k] - dm[k + 1])
        print(f"fine-grid crossing {x:.4f}")
    ends = T[0] + (T[-1] - T[0]) * dm[0] / (dm[0] - dm[-1])
    print(f"straight line through the segment's ends {ends:.4f};  T_c = {T_C:.4f}")


if __name__ == "__main__":
    main()
