"""Critical temperatures of the long-range Potts chain with images, by finite-size scaling.

    python benchmarks/long_range_critical.py [--q 2 6] [--sigma 0.1 0.2 ...] [--out PATH]

Writes the table that :func:`phasejax.lattice.critical.critical_amplitude` interpolates
(``phasejax/lattice/data/long_range_critical.csv`` by default) and prints one line per
``(q, σ)`` with its wall time. Each entry: a coarse Swendsen–Wang scan on rings of 33, 65, 129
sites, a fine scan on 65, 129, 257, the Binder fixed-point decision of
:mod:`phasejax.analysis.decisions`, errors from a bootstrap over independent replicas.
"""

import argparse
import time
from pathlib import Path

import jax
import numpy as np

from phasejax import io
from phasejax.lattice.critical import TABLE, TABLE_COLUMNS, critical_temperature

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "phasejax" / "lattice" / "data" / TABLE


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--q", type=int, nargs="+", default=[2, 6])
    p.add_argument("--sigma", type=float, nargs="+",
                   default=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    p.add_argument("--n-replicas", type=int, default=32)
    p.add_argument("--n-measure", type=int, default=600)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    a = p.parse_args(argv)
    rows = []
    key = jax.random.key(a.seed)
    for q in a.q:
        for s in a.sigma:
            t0 = time.perf_counter()
            c = critical_temperature(jax.random.fold_in(jax.random.fold_in(key, q),
                                                        int(round(1000 * s))),
                                     q=q, sigma=s, n_replicas=a.n_replicas,
                                     n_measure=a.n_measure)
            rows.append(dict(q=q, sigma=s, T_c=c.T_c, T_c_err=c.T_c_err,
                             K_c=1 / c.T_c if np.isfinite(c.T_c) else np.nan,
                             K_c_err=c.T_c_err / c.T_c**2 if np.isfinite(c.T_c) else np.nan,
                             sizes=" ".join(map(str, c.sizes)), n_replicas=a.n_replicas,
                             n_measure=a.n_measure, reason=c.reason))
            print(f"q={q} σ={s:.2f}: T_c = {c.T_c:.4f} ± {c.T_c_err:.4f}  "
                  f"({time.perf_counter() - t0:.0f} s) {c.reason[:100]}", flush=True)
            io.write_table(a.out, rows, TABLE_COLUMNS)
    print(f"table: {a.out}")


if __name__ == "__main__":
    main()
