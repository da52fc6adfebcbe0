"""Critical temperatures of the long-range Potts chain with images, by finite-size scaling.

    python benchmarks/long_range_critical.py [--q 2 6] [--sigma 0.1 0.2 ...] [--coarse 0.3 1.0]
                                             [--method binder|equal_weight] [--out PATH]

Writes the table that :func:`phasejax.lattice.critical.critical_amplitude` interpolates
(``phasejax/lattice/data/long_range_critical.csv`` by default) and prints one line per
``(q, σ)`` with its wall time. Rows of other ``(q, σ)`` already in ``PATH`` are kept, with its
leading ``#`` comment lines; a measured ``(q, σ)`` replaces its old row. Each entry: a coarse
Swendsen–Wang scan on rings of 33, 65, 129 sites (over ``--coarse`` in units of the mean-field
``T_MF``), a fine scan on 65, 129, 257, the Binder fixed-point decision of
:mod:`phasejax.analysis.decisions`, errors from a bootstrap over independent replicas.
With ``--method equal_weight`` (a first-order transition, where the Binder cumulant has no
fixed point) each entry is instead the equal-weight temperature of the largest ring
(:func:`phasejax.lattice.critical.equal_weight_temperature`, 1,500 sweeps per replica by
default); the ``method`` column says which.
"""

import argparse
import csv
import io as io_
import time
from pathlib import Path

import jax
import numpy as np

from phasejax import io
from phasejax.lattice.critical import (TABLE, TABLE_COLUMNS, critical_temperature,
                                       equal_weight_temperature)

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "phasejax" / "lattice" / "data" / TABLE


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--q", type=int, nargs="+", default=[2, 6])
    p.add_argument("--sigma", type=float, nargs="+",
                   default=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    p.add_argument("--n-replicas", type=int, default=32)
    p.add_argument("--n-measure", type=int, default=None,
                   help="sweeps measured per replica (default 600; 1,500 for equal_weight)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--coarse", type=float, nargs=2, default=(0.3, 1.0), metavar=("LOW", "HIGH"),
                   help="the coarse scan's window in units of the mean-field T_MF")
    p.add_argument("--method", choices=("binder", "equal_weight"), default="binder",
                   help="the Binder fixed point (continuous transitions) or the equal-weight "
                        "point of the energy distribution (first order)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    a = p.parse_args(argv)
    n_measure = a.n_measure or (600 if a.method == "binder" else 1500)
    comments, kept = _existing(a.out)
    rows = []
    key = jax.random.key(a.seed)
    for q in a.q:
        for s in a.sigma:
            t0 = time.perf_counter()
            k = jax.random.fold_in(jax.random.fold_in(key, q), int(round(1000 * s)))
            if a.method == "binder":
                c = critical_temperature(k, q=q, sigma=s, n_replicas=a.n_replicas,
                                         n_measure=n_measure, coarse=a.coarse)
            else:
                c = equal_weight_temperature(k, q=q, sigma=s, n_replicas=a.n_replicas,
                                             n_measure=n_measure, coarse=a.coarse)
                for L, (e, d) in c.curves.items():
                    print(f"  L={L}: T_eq = {e.T:.4f} ± {np.nanstd(d, ddof=1):.4f}  valley "
                          f"{e.valley_over_peak:.2f} of the lower peak {e.reason[:80]}",
                          flush=True)
            rows.append(dict(q=q, sigma=s, T_c=c.T_c, T_c_err=c.T_c_err,
                             K_c=1 / c.T_c if np.isfinite(c.T_c) else np.nan,
                             K_c_err=c.T_c_err / c.T_c**2 if np.isfinite(c.T_c) else np.nan,
                             sizes=" ".join(map(str, c.sizes)), n_replicas=a.n_replicas,
                             n_measure=n_measure, coarse=" ".join(map(str, a.coarse)),
                             reason=c.reason, method=a.method))
            print(f"q={q} σ={s:.2f}: T_c = {c.T_c:.4f} ± {c.T_c_err:.4f}  "
                  f"({time.perf_counter() - t0:.0f} s) {c.reason[:100]}", flush=True)
            _write(a.out, comments, kept, rows)
    print(f"table: {a.out}")


def _existing(path: Path):
    """The leading ``#`` lines and the rows of the table at ``path`` (none if absent)."""
    if not path.exists():
        return [], []
    lines = path.read_text().splitlines()
    comments = lines[:next((i for i, x in enumerate(lines) if not x.startswith("#")),
                           len(lines))]
    rows = list(csv.DictReader(lines[len(comments):]))
    return comments, rows


def _write(path: Path, comments, kept, rows):
    """``rows`` merged into ``kept`` (a new ``(q, σ)`` replaces an old one), sorted, written
    atomically under the same comment lines."""
    new = {(int(r["q"]), round(float(r["sigma"]), 6)) for r in rows}
    merged = [r for r in kept if (int(r["q"]), round(float(r["sigma"]), 6)) not in new] + rows
    merged.sort(key=lambda r: (int(r["q"]), float(r["sigma"])))
    columns = list(TABLE_COLUMNS) + [k for r in merged for k in r if k not in TABLE_COLUMNS]
    columns = list(dict.fromkeys(columns))
    out = io_.StringIO()
    w = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    for r in merged:
        w.writerow({k: repr(v) if isinstance(v, float) else v for k, v in r.items()})
    with io.atomic_path(path) as tmp:
        tmp.write_text("".join(c + "\n" for c in comments) + out.getvalue())


if __name__ == "__main__":
    main()
