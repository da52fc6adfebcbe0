"""Hydra entry point: every config composes and instantiates; a tiny multirun writes results."""

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

import toy_models
from conftest import ROOT
from experiments.equilibrium import COLUMNS, build
from experiments.sweep import KINDS
from phasejax.io import read_table
from phasejax.lattice import samplers
from phasejax.probe import tasks

CONF = Path(ROOT, "conf")
TOYS = toy_models.available()            # every discovered model, with a YAML preset or not
SAMPLERS = samplers.available()          # every registered sampler
POTTS_LIKE = {"ising", "potts", "mean_field", "long_range_chain"}


def composed(*overrides):
    with initialize_config_module("experiments.conf", version_base=None):
        return compose("sweep", overrides=list(overrides))


def test_config_groups_are_complete():
    assert {"ising", "potts", "token_lattice", "mean_field", "long_range_chain"} <= set(TOYS)
    assert {"metropolis", "heatbath", "wolff", "swendsen_wang", "tempering"} <= set(SAMPLERS)
    # every YAML preset belongs to a discovered factory
    assert {p.stem for p in (CONF / "toy").glob("*.yaml")} <= set(TOYS)
    assert {p.stem for p in (CONF / "sampler").glob("*.yaml")} <= set(SAMPLERS)


def test_schemas_come_from_the_factories():
    """A factory's parameters (and only those) are settable; a sampler setting no schema was
    written for (Swendsen–Wang's bond mode, Metropolis' proposal) composes and reaches it."""
    cfg = composed("sampler=swendsen_wang", "sampler.bonds=dense", "toy=long_range_chain",
                   "toy.sigma=0.8", "toy.L=9")
    assert cfg.sampler.bonds == "dense" and cfg.toy.sigma == 0.8
    model, smp, _ = build(cfg)
    assert model.lattice.L == 9 and smp.name == "swendsen_wang"
    assert composed("sampler=metropolis", "sampler.attempt=0.5").sampler.attempt == 0.5
    for bad in (["sampler=wolff", "sampler.bondz=dense"], ["toy=potts", "toy.sigma=0.5"]):
        with pytest.raises(Exception, match="Could not override"):
            composed(*bad)


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


def test_tiny_multirun_writes_tables_and_figures(tmp_path):
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
    # a rerun that recomputes nothing: tests/test_results.py (the printed command resumes a
    # killed multirun without touching its finished job; a finished folder is skipped)


@pytest.mark.parametrize("override,message", [
    ("toy=spin_glass", "spin_glass"),
    pytest.param("sampler=gibbs", "gibbs", marks=pytest.mark.slow),   # Hydra's error, as above
    ("toy.L=1", "L=1"),
    ("temperatures.start=-1.0", "temperature"),
    ("toy=token_lattice sampler=wolff", "K >= 0"),
    ("toy=potts toy.q=1", "q=1"),
])
def test_bad_config_fails_fast_with_a_clear_message(tmp_path, override, message):
    res = sweep(*override.split(), *TINY, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert res.returncode != 0
    assert message in res.stderr + res.stdout
    assert "Traceback" not in res.stderr and "resume" not in res.stdout
    assert not (tmp_path / "run").exists()                 # refused before any folder
    if not override.startswith(("toy=spin_glass", "sampler=gibbs")):   # Hydra's own errors
        assert res.stderr.strip().splitlines() == [res.stderr.strip()]
        assert res.stderr.startswith("error: ") and "(nothing was run)" in res.stderr


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


NEW_TOY = '''"""A ring of q tokens: Potts coupling J between neighbours and a tilt b[s] = tilt * s."""
import numpy as np

from phasejax.lattice.geometry import Lattice
from phasejax.lattice.model import CouplingModel, validate_coupling_arrays
from toy_models import register


@register("tilted_ring")
def make(L: int, q: int = 3, J: float = 1.0, tilt: float = 0.25):
    """The tilted Potts ring."""
    lat = Lattice("chain", int(L), 1, 1)
    W, h, _ = validate_coupling_arrays(lat, q, [J * np.eye(q)], tilt * np.arange(q))
    return CouplingModel(lattice=lat, q=q, W=W, h=h)
'''


def test_a_new_toy_is_one_file(tmp_path):
    """One file in a ``toy_models`` folder (here outside the repository, on PYTHONPATH) and
    nothing else: ``toy=<name>`` composes with a schema from the factory's signature, its own
    parameter is settable, a misspelt one is refused, and an equilibrium sweep runs on it."""
    (tmp_path / "plugins" / "toy_models").mkdir(parents=True)
    (tmp_path / "plugins" / "toy_models" / "tilted_ring.py").write_text(NEW_TOY)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "plugins"), ROOT]),
               JAX_PLATFORMS="cpu")
    run = lambda *a: subprocess.run([sys.executable, "-m", "experiments.sweep", *a],
                                    cwd=tmp_path, env=env, capture_output=True, text=True,
                                    timeout=600)
    bad = run("toy=tilted_ring", "toy.tlt=1.0", "--cfg", "job")
    assert bad.returncode != 0 and "tlt" in bad.stderr
    out = tmp_path / "out"
    res = run("toy=tilted_ring", "toy.L=6", "toy.tilt=0.5", "sampler=heatbath", *TINY,
              f"hydra.run.dir={out}")
    assert res.returncode == 0, res.stderr[-3000:]
    rows = read_table(out / "observables.csv")
    assert {r["model"] for r in rows} == {"tilted_ring"} and {int(r["L"]) for r in rows} == {6}
    assert {int(r["q"]) for r in rows} == {3}


def test_generated_schemas_pickle_by_reference():
    """Launchers pickle the composed config into worker processes: every generated schema is an
    attribute of experiments.config (a class pickled by value would lose its defaults)."""
    import pickle

    from omegaconf import OmegaConf

    from experiments import config as C

    classes = [C.TaskConfig, C.PromptConfig, C.ProbeConfig, C.AlignmentConfig, C.LoRAConfig,
               C.CriticalityConfig, C.CrystallizeConfig, *C.toy_schemas().values(),
               *C.sampler_schemas().values()]
    for cls in classes:
        assert getattr(C, cls.__name__) is cls and cls.__module__ == "experiments.config"
        node = OmegaConf.structured(cls)
        assert b"experiments.config" in pickle.dumps(node)
        assert pickle.loads(pickle.dumps(node)) == node


def test_a_new_sampler_is_one_registered_factory():
    """A factory registered under a new name, with no YAML and no schema written: the sweep
    composes ``sampler=<name>``, its parameter is settable and reaches the factory."""
    from experiments import config as C

    seen = {}

    @samplers.register("metropolis_tilted")
    def make(attempt: float = 0.5, label: str = "x"):
        seen["args"] = (attempt, label)
        return samplers.metropolis(attempt=attempt)

    try:
        C.sampler_schemas.cache_clear()
        C.register_configs()
        cfg = composed("sampler=metropolis_tilted", "sampler.label=y", "toy.L=4")
        _, smp, _ = build(cfg)
        assert smp.name == "metropolis" and seen["args"] == (0.5, "y")
        with pytest.raises(Exception, match="Could not override"):
            composed("sampler=metropolis_tilted", "sampler.lable=y")
    finally:
        del samplers.REGISTRY["metropolis_tilted"]
        C.sampler_schemas.cache_clear()
