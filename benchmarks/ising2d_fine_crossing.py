"""Where the 2D Ising Binder cumulants of L = 16 and 32 cross, on a fine grid around T_c.

    python benchmarks/ising2d_fine_crossing.py       # about 10 min on a 2-core CPU

The rates table's 2D Ising grid (``T = 2.0 … 2.55``, 8 points) brackets ``T_c`` by the segment
``2.236 … 2.314``; this samples 8 temperatures across that segment (10 data sets × 256
configurations, Swendsen–Wang, as ``calibration.ising2d_datasets``) and prints the pooled
difference ``U₄(32²) − U₄(16²)`` at each, its crossing by straight lines between neighbours,
and the crossing of the straight line through the segment's two ends (what the coarse grid sees).
"""

import time

import jax
import numpy as np

from phasejax.lattice import calibration as C

T_C = 2 / np.log(1 + np.sqrt(2))
T = np.round(np.linspace(2.236, 2.314, 8), 4)


def main():
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
