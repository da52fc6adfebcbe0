"""Aggregate a sweep: one summary table, finite-size scaling and phase diagrams.

    python -m experiments.compare <multirun dir> [--bootstrap 40]

Reads every finished job below the folder (``observables.csv``, ``timeseries.npz`` and the
configuration the results were computed with: the job's ``fingerprint.json``, else its
``.hydra/config.yaml``) and writes into the folder:

* ``summary.csv`` — all jobs' tidy rows, with a ``job`` column;
* ``fss.json`` — per family of jobs that differ only in ``L`` (≥ 2 sizes): ``T_c`` and the
  exponents with bootstrap errors, the method, the sizes used, the data collapse and the order
  of the transition; figures ``binder_crossing.png``, ``peaks_vs_L.png``, ``collapse.png``,
  ``energy_histogram.png`` (in ``fss_<family>/`` when there are several families). A family is
  every toy parameter but ``L`` (read from the configuration, whatever the toy's parameters
  are — ``dim``, ``geometry``, ``R``, ``q``, couplings, fields) and the sampler;
* ``phase_diagram.json`` and ``phase_diagram.png`` — for jobs of one size that differ in one
  other toy parameter (``toy.J``, ``toy.h``, …): the susceptibility-peak boundary ``T*(param)``.

Also runs by itself at the end of every multirun (a Hydra callback). The integers of the
jobs' tables stay integers in ``summary.csv``. The analysis's warnings (a peak at the edge of
the temperature range) are printed as well as kept in ``fss.json``, and so is why a data
collapse was not fitted (fewer than three sizes). An analysis that cannot be done (too few
sizes, histograms that do not overlap) is reported in the JSON and on stderr and makes the
command exit with status 1; everything else is still written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import warnings
from collections import defaultdict
from pathlib import Path

import jax
import numpy as np
from hydra.experimental.callback import Callback
from omegaconf import OmegaConf

from experiments.runs import stored_config
from phasejax import io, plot
from phasejax.analysis.fss import SizeData, analyse
from phasejax.analysis.observables import order_parameter
from phasejax.analysis.phase_diagram import boundary, order_parameter_map

log = logging.getLogger(__name__)
NOT_PHYSICS = ("_target_", "L")   # toy keys that do not separate families (L is the size)
LABEL_CHARS = 80


def find_jobs(folder: Path) -> list[Path]:
    return sorted(p.parent for p in folder.rglob("timeseries.npz")
                  if (p.parent / "observables.csv").is_file())


def load_job(job: Path) -> dict:
    cfg = stored_config(job)           # what the results were computed with
    if cfg is None and job.name == "toy":   # the toy step of a main job
        cfg = stored_config(job.parent)
    if cfg is None:
        cfg_path = job / ".hydra" / "config.yaml"
        if not cfg_path.is_file():
            raise FileNotFoundError(f"{job}: neither fingerprint.json nor .hydra/config.yaml; "
                                    "not a sweep job folder")
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


def family(cfg: dict) -> dict:
    """What a job's physics is, less its size: every toy parameter but ``L``, and the sampler."""
    params = {k: v for k, v in cfg["toy"].items() if k not in NOT_PHYSICS}
    params["sampler"] = cfg["sampler"]["name"]
    return params


def family_labels(families: list[dict]) -> list[str]:
    """Short, file-safe, distinct labels: the toy's name and the parameters that differ
    between the families (``ising_dim2``, ``ising_dim3``), or a hash when that is too long."""
    keys = sorted({k for f in families for k in f}, key=str)
    varied = [k for k in keys if len({_key(f.get(k)) for f in families}) > 1 and k != "name"]
    labels = []
    for f in families:
        text = "_".join([str(f.get("name"))] + [f"{k}{f.get(k)}" for k in varied])
        text = "".join(c if c.isalnum() or c in "._-" else "-" for c in text)
        if len(text) > LABEL_CHARS:
            text = f"{f.get('name')}_{hashlib.sha256(_key(f).encode()).hexdigest()[:10]}"
        labels.append(text)
    return labels


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
              "phase_diagrams": {}, "warnings": [], "notes": [], "errors": []}

    # families: same physics (every toy parameter but L) and sampler, several sizes
    fams = defaultdict(list)
    for j in jobs:
        fams[_key(family(j["cfg"]))].append(j)
    multi = [k for k, js in fams.items() if len({j["data"]["L"].item() for j in js}) >= 2]
    labels = dict(zip(multi, family_labels([json.loads(k) for k in multi])))
    for k in multi:
        params = json.loads(k)
        label = labels[k]
        out = folder if len(multi) == 1 else folder / f"fss_{label}"
        try:
            by_L = {}
            for j in fams[k]:
                by_L[int(j["data"]["L"])] = size_data(j)
            sizes = [by_L[L] for L in sorted(by_L)]
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                seed = int(fams[k][0]["cfg"].get("run", {}).get("seed", 0))
                result = analyse(jax.random.fold_in(jax.random.key(seed), len(report["fss"])),
                                 sizes, n_bootstrap=n_bootstrap)
            result["warnings"] = sorted({str(w.message) for w in caught})
            result["family"] = params
            io.write_json(out / "fss.json", result)
            plot.plot_fss(sizes, result, out, label)
            report["fss"][label] = str(out / "fss.json")
            report["warnings"] += [f"FSS {label}: {w}" for w in result["warnings"]]
            if "collapse_skipped" in result:
                report["notes"].append(f"FSS {label}: no data collapse: "
                                       f"{result['collapse_skipped']}")
        except Exception as e:  # one family's failure must not hide the others
            report["errors"].append(f"FSS of {label}: {type(e).__name__}: {e}")

    # phase diagrams: one size, one other toy parameter varied
    groups = defaultdict(list)
    for j in jobs:
        toy = j["cfg"]["toy"]
        groups[_key({"name": toy["name"], "L": toy["L"],
                     "sampler": j["cfg"]["sampler"]["name"]})].append(j)
    for k, js in groups.items():
        keys = sorted({p for j in js for p in j["cfg"]["toy"]} - set(NOT_PHYSICS) - {"name"})
        varied = [p for p in keys if len({_key(j["cfg"]["toy"].get(p)) for j in js}) > 1]
        if len(varied) != 1 or len(js) < 3:
            continue
        param = varied[0]
        if not all(isinstance(j["cfg"]["toy"][param], (int, float))
                   and not isinstance(j["cfg"]["toy"][param], bool) for j in js):
            continue                  # a boundary T*(param) needs a numeric parameter
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
    for note in report["notes"]:
        print(note)
    for param, path in report["phase_diagrams"].items():
        print(f"phase diagram over {param} -> {path}")
    for warning in report["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
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
        for note in report["notes"]:
            log.info(note)
        for warning in report["warnings"]:
            log.warning(warning)
        for err in report["errors"]:
            log.error(err)


if __name__ == "__main__":
    sys.exit(main())
