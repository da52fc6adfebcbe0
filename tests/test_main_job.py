"""The default main job (toy sweep + probe on the embedded model + fit + figure) and its fit."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from phasejax.io import read_table
from phasejax.probe import tasks
from phasejax.probe.loading import load_model
from phasejax.probe.measure import ProbeSettings, measure_choice
from phasejax.probe.scoring import LowCapturedMass
from phasejax.toy_vs_lm import fit_choice
from test_sweep import sweep

PARITY = Path(ROOT) / "tests" / "parity"


def test_one_token_options_are_boltzmann_so_tau_is_one():
    lm = load_model(PARITY / "qwen3")
    task = tasks.from_dict(dict(name="digits", kind="choice", options=list("0123456789"),
                                prompts=[{"id": f"v{i}", "chat": f"pick a number {i}"}
                                         for i in range(8)]))
    T = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LowCapturedMass)
        rows, arrays = measure_choice(lm, task, ProbeSettings(form="completion",
                                                              temperatures=T))
    for r in rows:
        r["checkpoint"] = 0
    fit, data, profiles = fit_choice(rows, arrays["log_prob"], arrays["temperatures"])
    assert profiles.shape == (8, 10)
    assert fit.values[2] == pytest.approx(1.0, abs=1e-3)
    assert fit.chi2 / fit.dof < 1e-3            # exact: the toy is the model here


def test_default_main_job_runs_and_writes_content(tmp_path):
    out = tmp_path / "main"
    res = sweep("run.n_therm=20", "run.n_measure=100", "run.n_replicas=2",
                "temperatures.num=4", "run.progress=false", "probe=quick",
                f"hydra.run.dir={out}", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "comparison.png" in res.stdout and "probe/observables.csv" in res.stdout
    summary = json.loads((out / "fit.json").read_text())
    (fit,) = summary["fits"]
    assert fit["model"] == "SmolLM2-135M-Instruct.Q4_1"
    assert 0.2 < fit["tscale"] < 5 and 0 < fit["tscale_err"] < 0.5
    assert np.isfinite(fit["chi2_per_dof"])
    table = read_table(out / "fit.csv")
    assert {r["parameter"] for r in table} == {"J", "field", "tscale"}
    probe = read_table(out / "probe" / "observables.csv")
    assert {float(r["T"]) for r in probe} == {0.5, 1.0, 2.0}
    toy = read_table(out / "toy" / "observables.csv")
    assert {r["model"] for r in toy} == {"ising"} and len({r["T"] for r in toy}) == 4
    assert (out / "comparison.png").stat().st_size > 30_000
    # rerunning finds every step finished
    again = sweep("run.n_therm=20", "run.n_measure=100", "run.n_replicas=2",
                  "temperatures.num=4", "run.progress=false", "probe=quick",
                  f"hydra.run.dir={out}", cwd=tmp_path)
    assert again.returncode == 0 and "already" in again.stderr + again.stdout


def test_checkpoint_chain_gives_one_fit_per_checkpoint(tmp_path):
    from experiments import main_job
    from test_sweep import composed

    chain = ",".join(str(PARITY / n) for n in ("qwen2", "olmo2", "llama"))
    cfg = composed("lm=chain", f"lm.checkpoints=[{chain}]", "probe=quick", "task=coin_flip",
                   "run.n_therm=10", "run.n_measure=40", "run.n_replicas=2",
                   "temperatures.num=3", "run.progress=false")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LowCapturedMass)
        summary = main_job.run(cfg, tmp_path)
    assert [f["model"] for f in summary["fits"]] == ["qwen2", "olmo2", "llama"]
    assert all(f["tscale_err"] > 0 for f in summary["fits"])
    table = read_table(tmp_path / "fit.csv")
    assert len(table) == 3 * 3
    assert (tmp_path / "chain.png").stat().st_size > 10_000
