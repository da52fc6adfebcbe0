"""False-positive rate and power of every finite-size method that can name a transition.

    python benchmarks/bench_criticality_rates.py                       # the full table
    python benchmarks/bench_criticality_rates.py --quick               # a few data sets each
    python benchmarks/bench_criticality_rates.py --only null --levels 96 --datasets 200

Prints one row per (system, statistics, method): the data sets, the fraction in which the method
named a ``T_c`` (false positives for systems without a transition, power for systems with one),
and for the latter the coverage of the ``1σ`` and ``2σ`` intervals of the true ``T_c``. With
``--out FILE`` the table is also written as Markdown; with ``--table`` the rows are merged into
the table of measured rates shipped in the package (``phasejax/lattice/data/criticality_rates.csv``,
each row with the arguments that measured it), which the text-criticality job quotes beside its
decisions; ``--markdown`` prints that table as ``docs/criticality_rates.md`` holds it.

Systems (:mod:`phasejax.lattice.calibration`):

* **null** — exact two-state and six-state Markov chains from a fixed start, on the CPU
  preset's temperature grid ``T = 0.4 … 1.6`` and token sizes ``N = 20 … 160``; couplings chosen
  so that ``ξ(T)`` runs from about 1 to far beyond ``N`` over the grid (the chains' ``ξ`` range
  is printed).
* **null_gpu** — the same chains on the GPU preset's 12 temperatures ``T = 0.5 … 1.6`` and its
  token sizes ``N = 64 … 512``.
* **long_range** — the ``q = 2``, ``σ = 1/2`` long-range chain with images, rings of 41, 81, 161
  sites, ``T = (0.8 … 1.2) T_c``; ``T_c`` from the stored table
  (:mod:`phasejax.lattice.critical`). ``--sigma`` picks another stored ``σ`` (``σ = ½`` is the
  chain's upper critical range, ``d = 2σ``, where ``ξ/N`` carries logarithmic corrections;
  ``σ = 0.8`` is in the non-classical range ``½ < σ < 1``).
* **ising2d** — the 2D Ising model, ``L = 8, 16, 32``, ``T = 2.0 … 2.55``, ``T_c = 2/ln(1+√2)``.
* **curie_weiss** — mean field, exact independent draws, ``N = 64, 256, 1024``,
  ``T = 0.9 … 1.1``, ``T_c = 1``: cheap, so it reaches the statistics a GPU run affords.
* **long_range_cpu**, **long_range_gpu** — the ring with images at a preset's own temperature
  grid: rings of 21 … 161 sites at ``T_c × (0.4 … 1.6)`` (the CPU preset's 8 temperatures, also
  the null chains' grid, so this power goes with their false-positive rate) or ``T_c × (0.5 …
  1.6)`` (the GPU preset's 12), the preset's temperatures for a model whose transition sat at
  ``T = 1``.
* **long_range4**, **curie_weiss4** — the same with four sizes (rings of 21 … 161; 64 … 4,096
  spins), as the presets have: the error's systematic part rests on the shift between the two
  largest pairs, which a fourth size moves.
* **bridge_off** — the bridge on the open chain below, with ``T_c`` off the grid on either side:
  a ratio at every temperature, and no crossing to find.
* **null_sequence**, **curie_weiss_sequence** — the sequence-task path of the main job
  (answers of ``N = 4, 8`` items, each length sampled anew, at the probe's default temperatures
  ``T = 0.25 … 2``, read with the Potts order parameter and the plain ``U₄``): the null chains
  as answerers (false positives), and the Curie–Weiss model with ``T_c = 1`` on that grid
  (power); levels 128 (the quick probe: 4 prompts × 32) to 3,200 answers per point.
* **bridge_null**, **bridge_power** — the bridge (the power-law chain fitted at every
  temperature, placed on its family's phase diagram, :mod:`phasejax.fit.bridge`): on the null
  chains' sequences of ``N = 160`` tokens, and on the open ``σ = ½`` chain of ``N = 160`` sites
  at ``T = (0.8 … 1.2) T_c``.

The null chains are read with the connected cumulant ``U₄ᶜ`` (as text is: a fixed start and a
field), the symmetric systems with the plain ``U₄`` (:func:`phasejax.lattice.calibration.decide`).

Statistics levels: ``n`` sequences (configurations) per temperature — 96 (the CPU preset), and
larger counts for what a GPU preset can afford.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import sys
import time
from pathlib import Path

import jax
import numpy as np

from phasejax.lattice import calibration as C
from phasejax.analysis.decisions import SizeCurves
from phasejax.analysis.scaling import TRANSITION_METHODS

CPU_T = C.PRESET_GRIDS["cpu"]
TOKEN_SIZES = (20, 40, 80, 160)
PRESET_SIZES = dict(cpu=TOKEN_SIZES, gpu=(64, 128, 256, 512))
NULL_CHAINS = (
    ("q=2 J=1.0 h=0", C.MarkovChain(1.0, (0.0, 0.0))),
    ("q=2 J=2.0 h=0", C.MarkovChain(2.0, (0.0, 0.0))),
    ("q=2 J=2.0 h=1", C.MarkovChain(2.0, (0.0, 1.0))),
    ("q=2 J=3.0 h=0.5", C.MarkovChain(3.0, (0.0, 0.5))),
    ("q=6 J=2.5 h=mixed", C.MarkovChain(2.5, (0.0, 0.8, -0.3, 0.4, -0.6, 0.2))),
)
ISING_TC = 2.0 / np.log(1.0 + np.sqrt(2.0))
SHIPPED = Path(__file__).resolve().parents[1] / "phasejax" / "lattice" / "data" / C.RATES_TABLE


SAVED = []   # every system's decisions, for --save
DATA = []    # --data DIR: where simulated data sets are kept (_kept)
COMMAND = []  # the arguments of this run, written beside each row of --table


def _rows(system, level, sizes, decisions, truth=None, truth_err=0.0, refits="", kind=None):
    """Rows in the shipped table's columns (:data:`phasejax.lattice.calibration.RATES_COLUMNS`);
    ``kind`` defaults to "null" without a truth, "transition" with one."""
    SAVED.append(dict(system=system, n=level, sizes=list(map(int, sizes)), truth=truth,
                      truth_err=truth_err, decisions=decisions))
    out = []
    for method, r in C.rates(decisions, truth, truth_err).items():
        kind = kind or ("null" if truth is None else "transition")
        out.append(dict(system=system, kind=kind, n=level,
                        sizes=" ".join(map(str, sizes)), method=method, refits=refits,
                        datasets=r["n"], named=r["named"], truth_err=truth_err,
                        command=" ".join(COMMAND), **{k: r.get(k, "") for k in (
                            "cover_1sigma", "cover_2sigma", "cover_1sigma_bare",
                            "cover_2sigma_bare", "mean_T_c", "mean_error")}))
    return out


def _has(x) -> bool:
    return isinstance(x, (int, float)) and np.isfinite(x)


def _print(rows):
    for r in rows:
        cov = ("" if not _has(r["cover_1sigma"]) else
               f"  cover 1σ {r['cover_1sigma']:.2f} 2σ {r['cover_2sigma']:.2f}  "
               f"T_c {r['mean_T_c']:.4g} ± {r['mean_error']:.2g}")
        if cov and _has(r["cover_1sigma_bare"]):
            cov += (f"  (reference ± {r['truth_err']:.2g} included; bare 1σ "
                    f"{r['cover_1sigma_bare']:.2f} 2σ {r['cover_2sigma_bare']:.2f})")
        print(f"{r['system']:<20} n={r['n']:<6} {r['method']:<16} {r['datasets']:>4} sets  "
              f"named {r['named']:.3f}{cov}", flush=True)


def _measuring_args(argv: list) -> list:
    """The arguments that set what was measured (those naming output files dropped)."""
    out, skip = [], False
    for x in argv:
        if x in ("--table", "--save", "--out", "--data"):
            skip = True
        elif not (skip and not x.startswith("--")):
            out.append(x)
            skip = False
    return out


def _key(r):
    return r["system"], int(r["n"]), str(r["sizes"]), r["method"], str(r["refits"])


def pool_rows(old: dict, new: dict, skip: int) -> dict:
    """One row of a system without a transition from two runs over disjoint data sets: ``old``
    holds the first ``skip``, ``new`` the next ones (``--skip``). Counts add; a mean ``T_c`` and
    its error are weighted by the data sets that named one."""
    if _key(old) != _key(new):
        raise ValueError(f"cannot pool different rows: {_key(old)} and {_key(new)}")
    if old["kind"] == "transition" or new["kind"] == "transition":
        raise ValueError(f"{_key(new)}: only rows of systems without a transition are pooled "
                         "(their coverage needs every data set's decision)")
    if int(old["datasets"]) != skip:
        raise ValueError(f"{_key(new)}: the table holds {old['datasets']} data sets, but the "
                         f"run skipped {skip}; the two would not be the first data sets and the "
                         "next ones")
    n_old, n_new = int(old["datasets"]), int(new["datasets"])
    k_old, k_new = float(old["named"]) * n_old, float(new["named"]) * n_new
    out = dict(new, datasets=n_old + n_new, named=(k_old + k_new) / (n_old + n_new),
               command=f"{old['command']} + {new['command']}")
    for col in ("mean_T_c", "mean_error"):
        parts = [(k, r[col]) for k, r in ((k_old, old), (k_new, new)) if k > 0 and _has(r[col])]
        out[col] = (sum(k * x for k, x in parts) / sum(k for k, _ in parts)) if parts else ""
    return out


def merge_table(path, rows, skip: int = 0):
    """Write ``rows`` into the table at ``path``, replacing those of the same system, level,
    sizes, method and refits (the rest kept in their order, new ones appended). With ``skip``,
    each row is pooled with the table's row of the same key instead (:func:`pool_rows`), which
    must exist and hold exactly the ``skip`` data sets the run left out."""
    from phasejax import io

    key = _key
    old = io.read_table(path) if Path(path).exists() else []
    if skip:
        held = {key(r): r for r in old}
        missing = [key(r) for r in rows if key(r) not in held]
        if missing:
            raise ValueError(f"--skip {skip}: no row to pool with in {path}: {missing}")
        rows = [pool_rows(held[key(r)], r, skip) for r in rows]
    new = {key(r): r for r in rows}
    kept = [new.pop(key(r), r) for r in old]
    io.write_table(path, kept + list(new.values()), C.RATES_COLUMNS)


def null_rates(key, level, n_datasets, n_boot, grid="cpu", first=0):
    """The null chains on a preset's grid and token sizes (the CPU preset's ``N = 20 … 160``,
    the GPU preset's ``N = 64 … 512``)."""
    T, sizes = C.PRESET_GRIDS[grid], PRESET_SIZES[grid]
    decisions = []
    for c, (name, chain) in enumerate(NULL_CHAINS):
        xi = [chain.correlation_length(t) for t in T]
        print(f"# null {name}: ξ(T) from {min(xi):.2g} to {max(xi):.3g}", flush=True)
        for d in range(first, first + n_datasets // len(NULL_CHAINS)):
            k = jax.random.fold_in(jax.random.fold_in(key, c), d)
            cur = C.markov_dataset(k, chain, T, sizes, n_sequences=level, n_boot=n_boot)
            decisions.append(C.decide(jax.random.fold_in(k, 1), cur))
    system = "null (Markov)" if grid == "cpu" else f"null (Markov), {grid} preset grid"
    return _rows(system, level, sizes, decisions)


def _kept(tag: str, key, make, **args) -> list[dict]:
    """The data sets ``make()`` returns; with ``--data DIR`` they are kept there, and a later run
    with the same system, key and arguments reads them instead of simulating again (a change to
    a decision re-measures a row in minutes; a change to the simulation needs a new DIR)."""
    if not DATA:
        return make()
    ident = repr((tag, np.asarray(jax.random.key_data(key)).tolist(), sorted(args.items())))
    path = Path(DATA[0]) / f"{tag}-{hashlib.sha1(ident.encode()).hexdigest()[:16]}.npz"
    if path.exists():
        with np.load(path) as z:
            if str(z["ident"]) != ident:
                raise RuntimeError(f"{path} holds other data sets ({z['ident']})")
            n, names = int(z["n_sets"]), str(z["observables"]).split()
            get = lambda k: z[k] if k in z.files else None            # replicates: None
            sets = [{o: SizeCurves(*(get(f"{d}/{o}/{f}") for f in SizeCurves._fields))
                     for o in names} for d in range(n)]
        print(f"# {tag}: {n} data sets read from {path}", flush=True)
        return sets
    sets = make()
    names = sorted(sets[0])
    arrays = {f"{d}/{o}/{f}": np.asarray(getattr(cur[o], f)) for d, cur in enumerate(sets)
              for o in names for f in SizeCurves._fields if getattr(cur[o], f) is not None}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as fh:
        np.savez_compressed(fh, ident=ident, n_sets=len(sets), observables=" ".join(names),
                            **arrays)
    os.replace(tmp, path)
    return sets


def _power(system, key, sets, level, sizes, truth, truth_err=0.0):
    decisions = [C.decide(jax.random.fold_in(key, 10_000 + d), cur, binder="binder")
                 for d, cur in enumerate(sets)]
    return _rows(system, level, sizes, decisions, truth, truth_err)


def _long_range_grid(sigma: float = 0.5):
    """``(T_c, T_c_err, T)``: the stored ``T_c`` of the ``q = 2`` chain at ``sigma``, its error,
    and the grid ``(0.8 … 1.2) T_c`` around it."""
    from phasejax.lattice.critical import critical_amplitude

    K_c, K_err, why = critical_amplitude(2, sigma)
    if why:
        raise RuntimeError(f"no stored critical coupling of the q = 2, σ = {sigma:g} chain: {why}")
    T_c = 1.0 / K_c
    return T_c, K_err / K_c**2, np.round(T_c * np.linspace(0.8, 1.2, 8), 4)


def long_range_rates(key, level, n_datasets, n_boot, sizes=(41, 81, 161), grid=None,
                     sigma=0.5):
    """The ring with images on ``(0.8 … 1.2) T_c``; with ``grid`` (``"cpu"`` or ``"gpu"``) on
    that preset's text grid scaled by ``T_c`` (as the preset is for a model whose transition
    sat at ``T = 1``)."""
    T_c, T_c_err, T = _long_range_grid(sigma)
    if grid:
        T = np.round(T_c * np.asarray(C.PRESET_GRIDS[grid]), 4)
    sets = _kept("long_range", key, lambda: C.long_range_datasets(
        key, T, sizes, n_datasets=n_datasets, n_samples=level, n_boot=n_boot, sigma=sigma),
        T=T.tolist(), sizes=list(sizes), n_datasets=n_datasets, level=level, n_boot=n_boot,
        sigma=sigma)
    system = f"long_range σ={sigma:g}" + (f", {grid} preset grid" if grid else "")
    return _power(system, key, sets, level, sizes, T_c, T_c_err)


def ising_rates(key, level, n_datasets, n_boot):
    sizes = (8, 16, 32)
    T = np.round(np.linspace(2.0, 2.55, 8), 4)
    sets = _kept("ising2d", key, lambda: C.ising2d_datasets(
        key, T, sizes, n_datasets=n_datasets, n_samples=level, n_boot=n_boot),
        T=T.tolist(), sizes=list(sizes), n_datasets=n_datasets, level=level, n_boot=n_boot)
    return _power("ising2d", key, sets, level, [L * L for L in sizes], ISING_TC)


def curie_weiss_rates(key, level, n_datasets, n_boot, sizes=(64, 256, 1024)):
    sets = C.curie_weiss_datasets(key, np.round(np.linspace(0.9, 1.1, 8), 4), sizes,
                                  n_datasets=n_datasets, n_samples=level, n_boot=n_boot)
    return _power("curie_weiss", key, sets, level, sizes, 1.0)


def null_sequence_rates(key, level, n_datasets, n_boot, first=0):
    """The null chains answering a sequence task: lengths ``N = 4, 8`` sampled anew, the
    probe's default temperatures, read as the main job reads answers (Potts order parameter,
    plain ``U₄``, :func:`phasejax.fit.sequence.decisions`)."""
    T, sizes = C.SEQUENCE_GRID, C.SEQUENCE_SIZES
    decisions = []
    for c, (name, chain) in enumerate(NULL_CHAINS):
        for d in range(first, first + n_datasets // len(NULL_CHAINS)):
            k = jax.random.fold_in(jax.random.fold_in(key, c), d)
            rows = C.sequence_task_rows(k, chain, T, sizes, n_sequences=level, n_boot=n_boot)
            decisions.append(C.decide_sequence_task(jax.random.fold_in(k, 2), rows))
    return _rows("null (Markov), sequence task", level, sizes, decisions, kind="null_sequence")


def curie_weiss_sequence_rates(key, level, n_datasets, n_boot):
    """Curie–Weiss (``T_c = 1``) as a sequence task on the same lengths and temperatures: the
    power of the sequence-task path's decisions."""
    T, sizes = C.SEQUENCE_GRID, C.SEQUENCE_SIZES
    decisions = []
    for d in range(n_datasets):
        k = jax.random.fold_in(key, d)
        rows = C.curie_weiss_sequence_rows(k, T, sizes, n_sequences=level, n_boot=n_boot)
        decisions.append(C.decide_sequence_task(jax.random.fold_in(k, 2), rows))
    return _rows("curie_weiss, sequence task", level, sizes, decisions, 1.0)


def bridge_null_rates(key, level, n_datasets, n_boot, refits=8, first=0):
    """The bridge on the null chains: the power-law chain fitted at every temperature of the
    CPU grid to ``level`` sequences of the largest token size."""
    N, decisions = TOKEN_SIZES[-1], []
    for c, (name, chain) in enumerate(NULL_CHAINS):
        for d in range(first, first + n_datasets // len(NULL_CHAINS)):
            k = jax.random.fold_in(jax.random.fold_in(key, c), d)
            seqs = [C.markov_sequences(jax.random.fold_in(k, i), chain, float(T), level, N)
                    for i, T in enumerate(CPU_T)]
            decisions.append(C.decide_bridge(jax.random.fold_in(k, 1), seqs, CPU_T, q=chain.q,
                                             n_bootstrap=refits))
    return _rows("null (Markov)", level, (N,), decisions, refits=refits)


def _open_chain_bridge(key, sets, T, refits):
    """The bridge's decision on each data set of ``C.open_chain_datasets``."""
    return [C.decide_bridge(jax.random.fold_in(key, 10_000 + d), seqs, T, q=2,
                            n_bootstrap=refits) for d, seqs in enumerate(sets)]


def bridge_power_rates(key, level, n_datasets, n_boot, refits=8):
    """The bridge on the open ``q = 2``, ``σ = ½`` power-law chain (every distance, no images:
    the boundaries of text), ``N = 160``, ``T = (0.8 … 1.2) T_c``; the truth is the stored
    ``T_c`` of the family (:mod:`phasejax.lattice.critical`)."""
    T_c, T_c_err, T = _long_range_grid()
    N = TOKEN_SIZES[-1]
    sets = C.open_chain_datasets(key, T, N, n_datasets=n_datasets, n_samples=level)
    return _rows("open long_range σ=0.5", level, (N,), _open_chain_bridge(key, sets, T, refits),
                 T_c, T_c_err, refits=refits)


def bridge_off_rates(key, level, n_datasets, n_boot, refits=8):
    """The bridge on the same open chain with no critical point on the grid: half the data sets
    at ``T = (0.5 … 0.75) T_c`` (ordered throughout), half at ``(1.3 … 1.8) T_c`` (disordered
    throughout). Unlike the Markov chains, whose fits decay too fast to have a ratio at all,
    these fits give ratios at every temperature, so the bracket test itself is what is measured."""
    T_c, _, _ = _long_range_grid()
    N = TOKEN_SIZES[-1]
    decisions = []
    for side, (lo, hi) in enumerate(((0.5, 0.75), (1.3, 1.8))):
        T = np.round(T_c * np.linspace(lo, hi, 6), 4)
        k = jax.random.fold_in(key, side)
        sets = C.open_chain_datasets(k, T, N, n_datasets=n_datasets // 2, n_samples=level)
        decisions += _open_chain_bridge(k, sets, T, refits)
    return _rows("open long_range σ=0.5, T_c off the grid", level, (N,), decisions,
                 refits=refits)


def cover_interval(cover, named, datasets, level: float = 0.95) -> tuple[float, float]:
    """Two-sided Clopper–Pearson interval of a coverage rate measured on the
    ``round(named · datasets)`` data sets that named a ``T_c``."""
    from scipy.stats import beta

    n = int(round(float(named) * int(datasets)))
    k = int(round(float(cover) * n))
    a = (1.0 - level) / 2.0
    return (float(beta.ppf(a, k, n - k + 1)) if k > 0 else 0.0,
            float(beta.ppf(1.0 - a, k + 1, n - k)) if k < n else 1.0)


def markdown(rows) -> str:
    """The table; where the reference carries an error, a cover cell reads
    ``with it (bare)``; the 1σ coverage's 95 % interval from the count of named data sets
    (the nominal 0.68 outside it: the intervals over- or under-cover); a bridge row at other
    than the presets' 8 refits says its count."""
    head = ("| system | n per T | sizes | method | data sets | named a T_c | 1σ cover | "
            "1σ cover, 95 % interval | 2σ cover | mean T_c ± error |\n"
            "|---|---|---|---|---|---|---|---|---|---|\n")
    fmt = lambda x, f: format(x, f) if _has(x) else "—"

    def interval(r):
        if not _has(r["cover_1sigma"]):
            return "—"
        lo, hi = cover_interval(r["cover_1sigma"], r["named"], r["datasets"])
        return f"{lo:.2f}–{hi:.2f}"

    def cover(r, k):
        cell, bare = fmt(r[f"cover_{k}sigma"], ".2f"), r[f"cover_{k}sigma_bare"]
        return cell if not _has(bare) or cell == "—" else f"{cell} ({bare:.2f})"

    def system(r):
        extra = r["method"] == "bridge" and str(r["refits"]) not in ("", "8")
        return f"{r['system']}, {r['refits']} refits" if extra else r["system"]

    return head + "".join(
        f"| {system(r)} | {r['n']} | {r['sizes']} | {r['method']} | {r['datasets']} | "
        f"{r['named']:.3f} | {cover(r, 1)} | {interval(r)} | {cover(r, 2)} | "
        + (f"{fmt(r['mean_T_c'], '.4g')} ± {fmt(r['mean_error'], '.2g')}"
           if _has(r["mean_T_c"]) else "—") + " |\n" for r in rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+",
                   default=["null", "null_gpu", "curie_weiss", "long_range", "ising2d",
                            "long_range4", "curie_weiss4", "long_range_cpu", "long_range_gpu",
                            "bridge_null", "bridge_off", "bridge_power", "null_sequence",
                            "curie_weiss_sequence"])
    p.add_argument("--levels", type=int, nargs="+", default=None,
                   help="sequences per temperature (default per system: null 96 1024 4096; "
                        "null_gpu 4096; curie_weiss 96 1024 4096 16384; long_range 96 1024 "
                        "4096; ising2d 96 1024; long_range4 4096; curie_weiss4 1024 4096 16384; "
                        "long_range_cpu 96 1024; long_range_gpu 4096; bridge_null, bridge_off "
                        "and bridge_power 96; null_sequence and curie_weiss_sequence 128 800 "
                        "3200)")
    p.add_argument("--datasets", type=int, default=None,
                   help="data sets per system and level (default: 200 null, 40 with a "
                        "transition)")
    p.add_argument("--skip", type=int, default=0,
                   help="leave out the first SKIP data sets of a run without it and measure the "
                        "next --datasets (null systems only: null, null_gpu, null_sequence, "
                        "bridge_null; a multiple of the five chains); with --table the rows are "
                        "pooled with the table's rows, which must hold exactly SKIP data sets")
    p.add_argument("--boot", type=int, default=100)
    p.add_argument("--refits", type=int, default=8,
                   help="bootstrap refits of the chain per temperature for the bridge (default "
                        "8, as the CPU preset's toy.fit_bootstrap)")
    p.add_argument("--quick", action="store_true", help="10 data sets each, n = 96 only")
    p.add_argument("--sigma", type=float, default=0.5,
                   help="σ of the long-range chain of long_range, long_range4, long_range_cpu "
                        "and long_range_gpu (default ½; T_c from the stored q = 2 table)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    p.add_argument("--save", default=None,
                   help="also write every data set's decisions (T_c, error per method) as JSON")
    p.add_argument("--data", default=None,
                   help="keep the simulated data sets of long_range* and ising2d in this "
                        "folder, and read them from there when a run asks for the same ones")
    p.add_argument("--table", nargs="?", const=str(SHIPPED), default=None,
                   help="merge the rows into this table of measured rates (default: the one "
                        "shipped in the package, which the text-criticality job quotes)")
    p.add_argument("--markdown", nargs="?", const=str(SHIPPED), default=None,
                   help="print a table of measured rates (default: the shipped one) as Markdown "
                        "and exit")
    a = p.parse_args(argv)
    if a.markdown:
        from phasejax import io

        print(markdown(io.read_table(a.markdown)), end="")
        return
    if a.quick and a.table:
        p.error("--quick measures too few data sets to enter the table of measured rates")
    COMMAND[:] = _measuring_args(sys.argv[1:] if argv is None else list(argv))
    if a.quick:
        a.levels, a.datasets = [96], 10
    skippable = ("null", "null_gpu", "null_sequence", "bridge_null")
    if a.skip:
        if a.skip < 0 or a.skip % len(NULL_CHAINS):
            p.error(f"--skip {a.skip}: a non-negative multiple of the {len(NULL_CHAINS)} chains")
        if set(a.only) - set(skippable):
            p.error(f"--skip applies to {', '.join(skippable)} only; got --only "
                    f"{' '.join(a.only)}")
        if a.datasets is None or a.datasets % len(NULL_CHAINS):
            p.error(f"--skip needs --datasets, a multiple of the {len(NULL_CHAINS)} chains")
    DATA[:] = [a.data] if a.data else []
    key = jax.random.key(a.seed)
    rows = []
    lr = functools.partial(long_range_rates, sigma=a.sigma)
    run = dict(null=(null_rates, 200, (96, 1024, 4096)),
               null_gpu=(functools.partial(null_rates, grid="gpu"), 200, (4096,)),
               curie_weiss=(curie_weiss_rates, 100, (96, 1024, 4096, 16384)),
               long_range=(lr, 40, (96, 1024, 4096)),
               ising2d=(ising_rates, 40, (96, 1024)),
               long_range4=(functools.partial(lr, sizes=(21, 41, 81, 161)), 40,
                            (4096,)),
               long_range_cpu=(functools.partial(lr, sizes=(21, 41, 81, 161),
                                                 grid="cpu"), 40, (96, 1024)),
               long_range_gpu=(functools.partial(lr, sizes=(21, 41, 81, 161),
                                                 grid="gpu"), 40, (4096,)),
               curie_weiss4=(functools.partial(curie_weiss_rates, sizes=(64, 256, 1024, 4096)),
                             100, (1024, 4096, 16384)),
               bridge_null=(functools.partial(bridge_null_rates, refits=a.refits), 200, (96,)),
               bridge_off=(functools.partial(bridge_off_rates, refits=a.refits), 200, (96,)),
               bridge_power=(functools.partial(bridge_power_rates, refits=a.refits), 40, (96,)),
               null_sequence=(null_sequence_rates, 200, (128, 800, 3200)),
               curie_weiss_sequence=(curie_weiss_sequence_rates, 100, (128, 800, 3200)))
    for s, name in enumerate(a.only):
        fn, default, levels = run[name]
        for level in a.levels or levels:
            t0 = time.perf_counter()
            extra = dict(first=a.skip // len(NULL_CHAINS)) if a.skip else {}
            got = fn(jax.random.fold_in(jax.random.fold_in(key, s), level), level,
                     a.datasets or default, a.boot, **extra)
            _print(got)
            print(f"# {name} n={level}: {time.perf_counter() - t0:.0f} s", flush=True)
            rows += got
            if a.out:
                Path(a.out).write_text(markdown(rows))
            if a.table:
                merge_table(a.table, got, skip=a.skip)
            if a.save:
                import json

                Path(a.save).write_text(json.dumps(SAVED, default=float))
    assert set(r["method"] for r in rows) <= set(TRANSITION_METHODS) | {"bridge"}


if __name__ == "__main__":
    main()
