"""Aggregate a sweep: one summary table, finite-size scaling and phase diagrams.

    python -m experiments.compare <multirun dir> [--bootstrap 40]

Reads every finished job below the folder (``observables.csv``, ``timeseries.npz`` and the
job's ``.hydra/config.yaml``) and writes into the folder:

* ``summary.csv`` — all jobs' tidy rows, with a ``job`` column;
* ``fss.json`` — per family of jobs that differ only in ``L`` (≥ 2 sizes): ``T_c`` and the
  exponents with bootstrap errors, the method, the sizes used, the data collapse and the order
  of the transition; figures ``binder_crossing.png``, ``peaks_vs_L.png``, ``collapse.png``,
  ``energy_histogram.png`` (in ``fss_<family>/`` when there are several families);
* ``phase_diagram.json`` and ``phase_diagram.png`` — for jobs of one size that differ in one
  other parameter (``toy.J``, ``toy.h``, …): the susceptibility-peak boundary ``T*(param)``.

Also runs by itself at the end of every multirun (a Hydra callback). An analysis that cannot
be done (too few sizes, histograms that do not overlap) is reported in the JSON and on stderr
and makes the command exit with status 1; everything else is still written.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
from hydra.experimental.callback import Callback
from omegaconf import OmegaConf

from phasejax import io, plot
from phasejax.fss import SizeData, analyse
from phasejax.observables import order_parameter
from phasejax.phase_diagram import boundary, order_parameter_map

log = logging.getLogger(__name__)
FAMILY_KEYS = ("name", "q", "dim", "J", "h", "geometry", "R")


def find_jobs(folder: Path) -> list[Path]:
    return sorted(p.parent for p in folder.rglob("timeseries.npz")
                  if (p.parent / "observables.csv").is_file())


def load_job(job: Path) -> dict:
    cfg_path = job / ".hydra" / "config.yaml"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{job}: no .hydra/config.yaml; not a sweep job folder")
    cfg = OmegaConf.to_container(OmegaConf.load(cfg_path), resolve=True)
    with np.load(job / "timeseries.npz") as z:
        data = {k: z[k] for k in z.files}
    return {"job": job, "cfg": cfg, "data": data}


def _key(v):
    return json.dumps(v, sort_keys=True)


def size_data(job: dict, n_blocks: int = 16) -> SizeData:
    d = job["data"]
    N = int(d["n_sites"])
    return SizeData(int(d["L"]), N, d["temperatures"], d["energy"],
                    order_parameter(d["counts"], N), n_blocks=n_blocks)


def family_label(params: dict) -> str:
    """Short, file-safe label: model, q, couplings and sampler."""
    text = f"{params['name']}_q{params['q']}_J{params['J']}_h{params['h']}_{params['sampler']}"
    return "".join(c if c.isalnum() or c in "._-" else "-" for c in text)


def compare(folder, n_bootstrap: int = 40) -> dict:
    """Run every aggregation that the jobs under ``folder`` support; return a report."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    jobs = [load_job(j) for j in find_jobs(folder)]
    if not jobs:
        raise FileNotFoundError(f"no finished sweep jobs (timeseries.npz + observables.csv) "
                                f"below {folder}")
    rows = []
    for j in jobs:
        for r in io.read_table(j["job"] / "observables.csv"):
            rows.append({"job": str(j["job"].relative_to(folder)), **r})
    io.write_table(folder / "summary.csv", rows)
    report = {"summary": str(folder / "summary.csv"), "jobs": len(jobs), "fss": {},
              "phase_diagrams": {}, "errors": []}

    # families: same model parameters and sampler, several sizes
    fams = defaultdict(list)
    for j in jobs:
        toy = j["cfg"]["toy"]
        params = {k: toy.get(k) for k in FAMILY_KEYS}
        params["sampler"] = j["cfg"]["sampler"]["name"]
        fams[_key(params)].append(j)
    multi = [k for k, js in fams.items() if len({j["data"]["L"].item() for j in js}) >= 2]
    for k in multi:
        params = json.loads(k)
        label = family_label(params)
        out = folder if len(multi) == 1 else folder / f"fss_{family_label(params)}"
        try:
            by_L = {}
            for j in fams[k]:
                by_L[int(j["data"]["L"])] = size_data(j)
            sizes = [by_L[L] for L in sorted(by_L)]
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = analyse(sizes, n_bootstrap=n_bootstrap)
            result["warnings"] = sorted({str(w.message) for w in caught})
            result["family"] = params
            io.write_json(out / "fss.json", result)
            plot.plot_fss(sizes, result, out, label)
            report["fss"][label] = str(out / "fss.json")
        except Exception as e:  # one family's failure must not hide the others
            report["errors"].append(f"FSS of {label}: {type(e).__name__}: {e}")

    # phase diagrams: one size, one other toy parameter varied
    groups = defaultdict(list)
    for j in jobs:
        toy = j["cfg"]["toy"]
        groups[_key({"name": toy["name"], "L": toy["L"],
                     "sampler": j["cfg"]["sampler"]["name"]})].append(j)
    for k, js in groups.items():
        varied = [p for p in ("J", "h", "q", "R")
                  if len({_key(j["cfg"]["toy"].get(p)) for j in js}) > 1]
        if len(varied) != 1 or len(js) < 3:
            continue
        param = varied[0]
        try:
            points = {float(j["cfg"]["toy"][param]): size_data(j) for j in js}
            g, T, err = boundary(points)
            gm, Tm, M = order_parameter_map(points)
            meta = json.loads(k)
            name = f"phase_diagram_{param}" if len(groups) > 1 else "phase_diagram"
            io.write_json(folder / f"{name}.json", {
                "parameter": f"toy.{param}", "values": g.tolist(), "T_boundary": T.tolist(),
                "T_boundary_error": err.tolist(), "method": "susceptibility peak (reweighted)",
                **meta})
            plot.plot_phase_diagram(gm, Tm, M, T, err, f"toy.{param}", folder / f"{name}.png",
                                    f"{meta['name']} L={meta['L']}")
            report["phase_diagrams"][param] = str(folder / f"{name}.json")
        except Exception as e:
            report["errors"].append(f"phase diagram over {param}: {type(e).__name__}: {e}")
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Aggregate a phasejax sweep folder.")
    ap.add_argument("folder", type=Path)
    ap.add_argument("--bootstrap", type=int, default=40, help="bootstrap resamples")
    args = ap.parse_args(argv)
    try:
        report = compare(args.folder, args.bootstrap)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"summary: {report['summary']} ({report['jobs']} jobs)")
    for label, path in report["fss"].items():
        res = json.loads(Path(path).read_text())
        v, e = res["values"], res["errors"]
        print(f"FSS {label}: T_c = {v['T_c']:.5f} ± {e['T_c']:.5f}, "
              f"γ/ν = {v['gamma_over_nu']:.3f} ± {e['gamma_over_nu']:.3f}, "
              f"β/ν = {v['beta_over_nu']:.3f} ± {e['beta_over_nu']:.3f}, "
              f"{res['transition']['order']} -> {path}")
    for param, path in report["phase_diagrams"].items():
        print(f"phase diagram over {param} -> {path}")
    for err in report["errors"]:
        print(f"error: {err}", file=sys.stderr)
    return 1 if report["errors"] else 0


class CompareOnMultirunEnd(Callback):
    """Hydra callback: aggregate the sweep folder when a multirun ends."""

    def __init__(self, bootstrap: int = 40):
        self.bootstrap = bootstrap

    def on_multirun_end(self, config, **kwargs) -> None:
        folder = Path(config.hydra.sweep.dir)
        try:
            report = compare(folder, self.bootstrap)
        except FileNotFoundError as e:
            log.warning("no aggregation: %s", e)
            return
        log.info("aggregated %d jobs into %s", report["jobs"], report["summary"])
        for label, path in report["fss"].items():
            log.info("FSS %s -> %s", label, path)
        for err in report["errors"]:
            log.error(err)


if __name__ == "__main__":
    sys.exit(main())
