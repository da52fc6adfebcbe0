"""A command is checked whole before its first job runs: a refused job refuses the command in one
line, with no traceback (unless ``HYDRA_FULL_ERROR=1``), no output folder and no resume hint; a
Ctrl-C says which jobs finished and the command that resumes."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT
from experiments import jobs
from experiments.runs import (FINGERPRINT, Job, check_jobs, fingerprint, interrupted,
                              refuse, refusal)
from test_sweep import composed

QUICK = ["run.n_measure=200", "temperatures.num=3", "run.progress=false",
         "run.compilation_cache=off"]


def _sweep(*args, cwd, **env):
    return subprocess.run([sys.executable, "-m", "experiments.sweep", *args], cwd=cwd,
                          env=dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu", **env),
                          capture_output=True, text=True, timeout=600)


def test_a_multirun_with_one_bad_value_fails_before_its_first_job(tmp_path):
    """The command of the report: L=4 used to run, then L=1 failed with a traceback."""
    args = ["-m", "kind=equilibrium", "toy.L=4,1", *QUICK]
    res = _sweep(*args, cwd=tmp_path)
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        "error: job #1 of 2 (toy.L=1): toy=ising: lattice size L=1 must be an integer >= 2 "
        "(no job was run)"]
    assert "resume" not in res.stdout and "Launching" not in res.stdout
    assert list(tmp_path.iterdir()) == []                 # no multirun/ folder at all


def test_hydra_full_error_adds_the_traceback(monkeypatch, capsys, tmp_path):
    plan = [Job(0, "toy.L=1", composed("kind=equilibrium", "toy.L=1"), tmp_path / "0")]
    refused = check_jobs(plan)
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    with pytest.raises(SystemExit) as stop:
        refuse(refused, 1, multirun=True)
    err = capsys.readouterr().err
    assert stop.value.code == 1
    assert "Traceback" in err and "equilibrium.py" in err and "lattice size L=1" in err
    assert err.strip().splitlines()[-1].startswith("error: job #0 of 1 (toy.L=1)")
    monkeypatch.delenv("HYDRA_FULL_ERROR")
    with pytest.raises(SystemExit):
        refuse(refused, 1, multirun=True)
    assert capsys.readouterr().err.count("\n") == 1


def test_every_job_and_its_folder_are_checked_together(tmp_path):
    """The refusals of a sweep, found in one pass: a bad value, a folder of another
    configuration (a resumed sweep), a sampler that cannot run the model; good jobs pass."""
    good, bad = composed("kind=equilibrium", "toy.L=4"), composed("kind=equilibrium", "toy.L=1")
    cluster = composed("kind=equilibrium", "toy=token_lattice", "sampler=wolff")
    taken = tmp_path / "2"
    taken.mkdir()
    other, _ = fingerprint(composed("kind=equilibrium", "toy.L=6"))
    (taken / FINGERPRINT).write_text(json.dumps({"sha256": other, "config": {"toy": {"L": 6}}}))
    (taken / "observables.csv").write_text("x")
    plan = [Job(0, "toy.L=4", good, tmp_path / "0"), Job(1, "toy.L=1", bad, tmp_path / "1"),
            Job(2, "toy.L=4", good, taken), Job(3, "toy=token_lattice", cluster, tmp_path / "3")]
    refused = check_jobs(plan)
    assert [job.number for job, _ in refused] == [1, 2, 3]
    lines = refusal(refused, len(plan), multirun=True).splitlines()
    assert lines[0] == ("error: job #1 of 4 (toy.L=1): toy=ising: lattice size L=1 must be an "
                        "integer >= 2")
    assert "holds results of a different configuration" in lines[1]
    assert "K >= 0" in lines[2] and "\n" not in lines[2]           # a matrix, on one line
    assert lines[3] == "error: 3 of 4 jobs refused; no job was run"
    assert not (tmp_path / "0").exists() and not (tmp_path / "1").exists()
    single = refusal(refused[:1], 1, multirun=False)
    assert single == "error: toy=ising: lattice size L=1 must be an integer >= 2 (nothing was run)"


@pytest.mark.parametrize("overrides,message", [
    (["experiment=nucleation_ising2d", "nucleation.rate.fields=[]"], "nucleation.rate.fields"),
    (["experiment=nucleation_ising2d", "nucleation.committor.replicas=0"],
     "nucleation.committor.replicas=0"),
    (["experiment=alignment_toy", "alignment.n_prompts=1"], "two prompts"),
    (["kind=crystallize"], "experiment=crystallize"),
    (["kind=equilibrium", "sampler=tempering", "temperatures.num=1"],
     "sampler=tempering: parallel tempering needs >= 2 temperatures"),
    (["kind=equilibrium", "run.start=frozen"], "start='frozen'"),
])
def test_every_job_kind_checks_its_settings_before_it_runs(overrides, message):
    assert all(callable(jobs.module(kind).check) for kind in jobs.KINDS)
    with pytest.raises(ValueError) as e:
        jobs.check(composed(*overrides))
    assert message in str(e.value)


INTERRUPTED = """
import sys
from pathlib import Path
from experiments import equilibrium, sweep

def run(cfg, out):               # job 0 finishes at once, job 1 is interrupted
    if cfg.toy.L == 6:
        raise KeyboardInterrupt
    for name in equilibrium.RESULT_FILES:
        (Path(out) / name).write_text("done")

equilibrium.run = run
sys.argv[0] = "sweep"
sweep.run_interruptible(sweep.main)
"""


def test_ctrl_c_says_what_finished_and_how_to_resume(tmp_path):
    args = ["-m", "kind=equilibrium", "toy.L=4,6", *QUICK, f"hydra.sweep.dir={tmp_path / 'm'}"]
    res = subprocess.run([sys.executable, "-c", INTERRUPTED, *args], cwd=tmp_path,
                         env=dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu"),
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 130
    assert "Traceback" not in res.stderr and "KeyboardInterrupt" not in res.stderr
    said = res.stderr.strip().splitlines()
    assert said[-2] == (f"interrupted: 1 of 2 jobs finished (#0) in {tmp_path / 'm'}; run the "
                        "same command again to resume (finished jobs are kept):")
    assert said[-1].strip().endswith(" ".join(args))


def test_an_interrupt_before_or_during_a_single_run(tmp_path):
    assert interrupted({}) == "interrupted before any job started"
    job = Job(None, "", composed("kind=equilibrium"), tmp_path)
    text = interrupted(dict(folder=tmp_path, jobs=[job], multirun=False, command="python -m x"))
    assert text == (f"interrupted: the job in {tmp_path} did not finish; run the same command "
                    "again to resume (finished jobs are kept):\n  python -m x")
