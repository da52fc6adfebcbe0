"""Hydra entry point: every config composes and instantiates; a tiny multirun writes results."""

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

from conftest import ROOT
from experiments.equilibrium import COLUMNS, build
from experiments.sweep import KINDS
from phasejax.io import read_table
from phasejax.probe import tasks

CONF = Path(ROOT, "experiments", "conf")
TOYS = sorted(p.stem for p in (CONF / "toy").glob("*.yaml"))
SAMPLERS = sorted(p.stem for p in (CONF / "sampler").glob("*.yaml"))
POTTS_LIKE = {"ising", "potts", "mean_field", "long_range_chain"}


def composed(*overrides):
    with initialize_config_module("experiments.conf", version_base=None):
        return compose("sweep", overrides=list(overrides))


def test_config_groups_are_complete():
    assert {"ising", "potts", "token_lattice", "mean_field"} <= set(TOYS)
    assert {"metropolis", "heatbath", "wolff", "swendsen_wang", "tempering"} <= set(SAMPLERS)


@pytest.mark.parametrize("toy,sampler", list(itertools.product(TOYS, SAMPLERS)))
def test_every_config_composes_and_instantiates(toy, sampler):
    cfg = composed(f"toy={toy}", f"sampler={sampler}")
    model, smp, T = build(cfg)
    assert model.q == cfg.toy.q and model.lattice.L == cfg.toy.L
    assert smp.name == cfg.sampler.name and T.size == cfg.temperatures.num
    if smp.cluster and toy not in POTTS_LIKE:
        with pytest.raises(ValueError, match="K >= 0"):
            model.bond_couplings()


def sweep(*args, cwd):
    env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu")
    return subprocess.run([sys.executable, "-m", "experiments.sweep", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


TINY = ["kind=equilibrium", "run.n_therm=10", "run.n_measure=40", "run.n_replicas=2", "temperatures.num=3",
        "run.progress=false"]


def test_tiny_multirun_writes_tables_and_figures_and_resumes(tmp_path):
    out = tmp_path / "multirun"
    args = ["-m", "toy=ising", "toy.L=4,6", "sampler=wolff,metropolis", *TINY,
            f"hydra.sweep.dir={out}"]
    res = sweep(*args, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    jobs = sorted(p for p in out.iterdir() if p.is_dir() and (p / ".hydra").is_dir())
    assert len(jobs) == 4
    seen = set()
    for job in jobs:
        rows = read_table(job / "observables.csv")
        assert (job / "observables.png").stat().st_size > 10_000
        assert list(rows[0]) == list(COLUMNS)
        Ts = sorted({r["T"] for r in rows})
        assert Ts == pytest.approx([1.8, 2.3, 2.8])
        e = [r for r in rows if r["observable"] == "energy"]
        assert len(e) == 3 and all(-2.0 <= r["mean"] <= 0.0 and r["stderr"] > 0 for r in e)
        u4 = [r for r in rows if r["observable"] == "binder"]
        assert all(-0.1 < r["mean"] <= 2 / 3 + 1e-6 for r in u4)
        seen.add((int(rows[0]["L"]), rows[0]["sampler"]))
    assert seen == {(4, "wolff"), (6, "wolff"), (4, "metropolis"), (6, "metropolis")}
    assert not list(out.rglob("*.part*"))

    # a rerun finds every result and recomputes nothing
    mtimes = {j: (j / "observables.csv").stat().st_mtime_ns for j in jobs}
    res = sweep(*args, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.count("skipping") + res.stderr.count("skipping") == 4
    assert mtimes == {j: (j / "observables.csv").stat().st_mtime_ns for j in jobs}


@pytest.mark.parametrize("override,message", [
    ("toy=spin_glass", "spin_glass"),
    ("sampler=gibbs", "gibbs"),
    ("toy.L=1", "L=1"),
    ("temperatures.start=-1.0", "temperature"),
    ("toy=token_lattice sampler=wolff", "K >= 0"),
    ("toy=potts toy.q=1", "q=1"),
])
def test_bad_config_fails_fast_with_a_clear_message(tmp_path, override, message):
    res = sweep(*override.split(), *TINY, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert res.returncode != 0
    assert message in res.stderr + res.stdout
    assert not (tmp_path / "run" / "observables.csv").exists()


EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_preset_composes(experiment):
    cfg = composed(f"experiment={experiment}")
    assert cfg.kind in KINDS and cfg.kind != "main"
    if cfg.kind == "equilibrium":
        build(cfg)
    if cfg.kind == "probe":
        from experiments.probe import settings_from
        settings_from(cfg)
        assert cfg.task.name in tasks.available()


def test_alignment_preset_writes_its_results(tmp_path):
    out = tmp_path / "align"
    res = sweep("experiment=alignment_toy", "alignment.liquid_steps=200",
                "alignment.nucleation_steps=300", "alignment.settling_steps=300",
                "alignment.L=8", "run.progress=false", f"hydra.run.dir={out}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    stages = json.loads((out / "stages.json").read_text())
    assert set(stages["stages"]) == {"liquid", "nucleation", "settling"}
    assert stages["stages"]["liquid"]["phase"] == "liquid"
    rows = read_table(out / "alignment.csv")
    assert {r["stage"] for r in rows} == {"liquid", "nucleation", "settling"}
    assert max(r["step"] for r in rows) == 799
    assert (out / "alignment.png").stat().st_size > 20_000


def test_nucleation_preset_writes_its_results(tmp_path):
    out = tmp_path / "nuc"
    res = sweep("experiment=nucleation_ising2d", "nucleation.committor.L=24",
                "nucleation.committor.radii=[2,6,10]", "nucleation.committor.replicas=8",
                "nucleation.committor.steps=100", "nucleation.rate.L=16",
                "nucleation.rate.fields=[0.3,0.4]", "nucleation.rate.replicas=4",
                "nucleation.rate.steps=300", "run.progress=false", f"hydra.run.dir={out}",
                cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    summary = json.loads((out / "nucleation.json").read_text())
    assert summary["committor"]["R_cnt"] == pytest.approx(7.729, abs=1e-3)
    assert len(read_table(out / "committor.csv")) == 3
    assert len(read_table(out / "nucleation_times.csv")) == 8
    assert (out / "nucleation.png").stat().st_size > 20_000


@pytest.mark.parametrize("task", tasks.available())
def test_every_task_composes_as_a_config_group(task):
    cfg = composed("experiment=probe", f"task={task}")
    from omegaconf import OmegaConf
    t = tasks.from_dict(OmegaConf.to_container(cfg.task))
    assert t.name == task
