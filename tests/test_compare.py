"""Aggregation of sweeps, phase diagrams, launchers, and resuming a sweep after a killed job."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_module

from conftest import ROOT
from helpers import ising_2d_binder
from experiments.config import register_configs

register_configs()
from phasejax.io import read_table
from phasejax.lattice.exact import ISING_2D_TC

TINY = ["kind=equilibrium", "run.n_replicas=2", "run.progress=false", "run.site_histograms=false"]


def run_module(module, *args, cwd, env_extra=None):
    env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu", **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


def job_dirs(folder):
    return sorted(p for p in Path(folder).iterdir() if (p / ".hydra").is_dir())


def overrides(job) -> list[str]:
    """A numbered job folder's overrides (Hydra keeps them in .hydra/overrides.yaml)."""
    import yaml
    return yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())


def finished(job):
    return all((job / f).is_file() for f in ("timeseries.npz", "observables.csv",
                                               "observables.png"))


# -m slow: a kill and resume through the basic launcher runs by default
# (test_results.py::test_rerunning_the_printed_command_resumes)
@pytest.mark.slow
def test_killed_job_is_redone_and_finished_jobs_are_not(tmp_path):
    out = tmp_path / "sweep"
    args = ["-m", "hydra/launcher=parallel", "toy.L=4,6,8", "sampler=metropolis",
            "run.n_therm=20", "run.n_measure=60", "temperatures.num=3", *TINY,
            f"hydra.sweep.dir={out}"]
    first = run_module("experiments.sweep", *args, cwd=tmp_path,
                       env_extra={"PHASEJAX_FAULT": "toy.L=8:30"})
    assert first.returncode != 0  # the killed worker fails the multirun
    jobs = job_dirs(out)
    killed = [j for j in jobs if "toy.L=8" in overrides(j)]
    assert len(killed) == 1 and not finished(killed[0])
    assert not (killed[0] / "observables.csv").exists()
    done_before = {j: (j / "observables.csv").stat().st_mtime_ns for j in jobs if finished(j)}
    assert done_before, "at least one job finished before the kill"

    second = run_module("experiments.sweep", *args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    jobs = job_dirs(out)
    assert len(jobs) == 3 and all(finished(j) for j in jobs)
    for j, t in done_before.items():
        assert (j / "observables.csv").stat().st_mtime_ns == t, f"{j.name} was recomputed"
    assert not list(out.rglob("*.part*"))
    # the aggregation ran at the end of the successful multirun
    res = json.loads((out / "fss.json").read_text())
    assert res["sizes"] == [4, 6, 8]


# The exact Binder crossing of the periodic 4 × 4 and 8 × 8 Ising lattices (transfer matrix,
# tests/helpers.py; checked below by the sign change of U₄(4) − U₄(8) across it) and U₄ there.
# It lies 0.0334 below T_c = 2.269185: the finite-size shift of the (L, 2L) crossing, which
# falls like L^{-(1/ν+ω)} (exact crossings: (3, 6) −0.064, (4, 8) −0.033, (6, 8) −0.021).
CROSSING_4_8, BINDER_4_8 = 2.235747, 0.621469


def test_compare_writes_summary_fss_and_figures(tmp_path):
    out = tmp_path / "fss"
    r = run_module("experiments.sweep", "-m", "experiment=fss_ising2d", "toy.L=4,8",
                   "temperatures.num=12", "run.n_measure=2000", *TINY,
                   f"hydra.sweep.dir={out}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    for f in ("fss.json", "summary.csv", "binder_crossing.png", "peaks_vs_L.png",
              "energy_histogram.png"):
        (out / f).unlink()
    r = run_module("experiments.compare", str(out), "--bootstrap", "8", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "T_c =" in r.stdout
    assert ("FSS ising: no data collapse: a collapse needs three sizes or more; got 2 "
            "(L = 4, 8)") in r.stdout
    res = json.loads((out / "fss.json").read_text())
    assert res["sizes"] == [4, 8] and "bootstrap" in res["method"]
    assert "collapse" not in res and res["collapse_skipped"].startswith("a collapse needs")
    for T, sign in ((CROSSING_4_8 - 1e-3, -1), (CROSSING_4_8 + 1e-3, 1)):
        assert np.sign(ising_2d_binder(4, T) - ising_2d_binder(8, T)) == sign
    assert ising_2d_binder(8, CROSSING_4_8) == pytest.approx(BINDER_4_8, abs=1e-5)
    Tc, dTc = res["values"]["T_c"], res["errors"]["T_c"]
    # 2 × 2000 Swendsen–Wang sweeps per temperature: the crossing is resolved well inside the
    # grid spacing (0.055), and 8 resamples of 16 blocks cannot all give one crossing
    assert 1e-3 < dTc < 0.03, dTc
    assert abs(Tc - CROSSING_4_8) < 4 * dTc, (Tc, dTc)
    assert abs(Tc - ISING_2D_TC) < abs(CROSSING_4_8 - ISING_2D_TC) + 4 * dTc
    U, dU = res["values"]["binder_at_T_c"], res["errors"]["binder_at_T_c"]
    assert 0 < dU < 0.01 and abs(U - BINDER_4_8) < 4 * dU, (U, dU)
    assert res["family"]["name"] == "ising"
    for f in ("binder_crossing.png", "peaks_vs_L.png", "energy_histogram.png"):
        assert (out / f).stat().st_size > 10_000
    rows = read_table(out / "summary.csv")
    assert len({r["job"] for r in rows}) == 2
    assert {r["L"] for r in rows} == {4, 8} and all(type(r["L"]) is int for r in rows)
    assert len(rows) == sum(len(read_table(j / "observables.csv")) for j in job_dirs(out))


def test_phase_diagram_over_coupling(tmp_path):
    out = tmp_path / "phase"
    r = run_module("experiments.sweep", "-m", "experiment=phase_ising_TJ", "toy.L=8",
                   "toy.J=0.6,0.8,1.0", "temperatures.start=1.2", "temperatures.stop=3.4",
                   "temperatures.num=23", "run.n_measure=600", *TINY,
                   f"hydra.sweep.dir={out}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    pd = json.loads((out / "phase_diagram.json").read_text())
    assert pd["parameter"] == "toy.J" and pd["values"] == [0.6, 0.8, 1.0]
    ratio = np.array(pd["T_boundary"]) / np.array(pd["values"])
    assert np.std(ratio) / np.mean(ratio) < 0.05          # T*(J) ∝ J
    assert 2.2 < np.mean(ratio) < 2.8                      # near T_c = 2.269 J at L = 8
    assert (out / "phase_diagram.png").stat().st_size > 10_000


def test_compare_reports_bad_folders(tmp_path):
    r = run_module("experiments.compare", str(tmp_path / "missing"), cwd=tmp_path)
    assert r.returncode == 2 and "is not a folder" in r.stderr
    r = run_module("experiments.compare", str(tmp_path), cwd=tmp_path)
    assert r.returncode == 2 and "no finished sweep jobs" in r.stderr


def test_compare_fails_loudly_without_histogram_overlap(tmp_path):
    out = tmp_path / "gap"
    r = run_module("experiments.sweep", "-m", "toy.L=12,16", "sampler=swendsen_wang",
                   "temperatures.points=[1.5,3.5]", "run.n_measure=100", "run.n_therm=20",
                   *TINY, f"hydra.sweep.dir={out}", cwd=tmp_path)
    assert r.returncode == 0
    r = run_module("experiments.compare", str(out), cwd=tmp_path)
    assert r.returncode == 1
    assert "overlap" in r.stderr and (out / "summary.csv").is_file()


@pytest.mark.parametrize("launcher,target", [("slurm", "SlurmLauncher"),
                                             ("slurm_gpu", "SlurmLauncher"),
                                             ("local", "LocalLauncher"),
                                             ("parallel", "JoblibLauncher")])
def test_launcher_configs_compose(launcher, target):
    with initialize_config_module("experiments.conf", version_base=None):
        cfg = compose("sweep", overrides=[f"hydra/launcher={launcher}"],
                      return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith(target)


# -m slow: the summary of one family's multirun runs by default (test_compare_writes_summary…)
@pytest.mark.slow
def test_compare_families_separate_every_physical_parameter(tmp_path):
    out = tmp_path / "dims"
    r = run_module("experiments.sweep", "-m", "toy.dim=2,3", "toy.L=4,6", "sampler=metropolis",
                   "run.n_therm=20", "run.n_measure=100", "temperatures.num=6",
                   "temperatures.start=3.0", "temperatures.stop=5.0", *TINY,
                   f"hydra.sweep.dir={out}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert len(job_dirs(out)) == 4
    fss = {p.parent.name: json.loads(p.read_text()) for p in out.glob("fss_*/fss.json")}
    assert set(fss) == {"fss_ising_dim2", "fss_ising_dim3"}, sorted(fss)
    for name, res in fss.items():
        assert res["sizes"] == [4, 6]
        assert res["family"]["dim"] == int(name[-1]) and "L" not in res["family"]


# slow (about 20 s): the same multirun and aggregation as the joblib test above, through the
# submitit launcher's local processes
@pytest.mark.slow
def test_submitit_local_multirun_runs_and_aggregates(tmp_path):
    out = tmp_path / "submitit"
    r = run_module("experiments.sweep", "-m", "hydra/launcher=local", "toy.L=4,6",
                   "sampler=metropolis", "run.n_therm=20", "run.n_measure=100",
                   "temperatures.num=6", *TINY, f"hydra.sweep.dir={out}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    jobs = job_dirs(out)
    assert len(jobs) == 2 and all(finished(j) for j in jobs)
    assert (out / ".submitit").is_dir()                   # the jobs ran as submitit processes
    assert json.loads((out / "fss.json").read_text())["sizes"] == [4, 6]
    assert sorted(o for j in jobs for o in overrides(j) if o.startswith("toy.L=")) == [
        "toy.L=4", "toy.L=6"]


def test_multirun_workers_do_not_preallocate_a_shared_accelerator(monkeypatch):
    from omegaconf import OmegaConf

    from experiments.runs import RunCallbacks

    monkeypatch.delenv("XLA_PYTHON_CLIENT_PREALLOCATE", raising=False)
    RunCallbacks().on_multirun_start(OmegaConf.create({"hydra": {"sweep": {"dir": "x"}}}))
    assert os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"   # inherited by workers
    monkeypatch.setenv("XLA_PYTHON_CLIENT_PREALLOCATE", "true")
    RunCallbacks().on_multirun_start(OmegaConf.create({"hydra": {"sweep": {"dir": "x"}}}))
    assert os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] == "true"    # the user's choice stays


def test_slurm_requests_gpus_when_asked(monkeypatch):
    def launcher(name):
        with initialize_config_module("experiments.conf", version_base=None):
            return compose("sweep", overrides=[f"hydra/launcher={name}"],
                           return_hydra_config=True).hydra.launcher

    monkeypatch.delenv("PHASEJAX_SLURM_GPUS", raising=False)
    assert launcher("slurm").gpus_per_node is None
    assert "export XLA_PYTHON_CLIENT_PREALLOCATE=false" in launcher("slurm").setup
    assert launcher("slurm_gpu").gpus_per_node == 1
    monkeypatch.setenv("PHASEJAX_SLURM_GPUS", "2")
    assert launcher("slurm").gpus_per_node == 2
