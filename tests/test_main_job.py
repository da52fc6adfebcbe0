"""The default main job (probe and text criticality on the embedded model, fitted toys,
figure) and its fit."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from phasejax.fit.choice import fit_choice
from phasejax.io import read_table
from phasejax.probe import tasks
from phasejax.probe.loading import load_model
from phasejax.probe.measure import ProbeSettings, measure_choice
from phasejax.probe.scoring import LowCapturedMass
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


TEXT_TINY = ("criticality.temperatures=[0.7,1.0,1.5]", "criticality.n_tokens=48",
             "criticality.n_sequences=16", "criticality.chunk=16",
             "criticality.spins=[{name:whitespace,sizes:[16,32,64]}]", "criticality.bootstrap=20",
             "criticality.toy.n_therm=20", "criticality.toy.n_measure=40",
             "criticality.toy.fit_bootstrap=2")


def test_default_main_job_runs_and_writes_content(tmp_path):
    out = tmp_path / "main"
    args = ("run.progress=false", "probe=quick", *TEXT_TINY, f"hydra.run.dir={out}")
    res = sweep(*args, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "comparison.png" in res.stdout and "probe/observables.csv" in res.stdout
    summary = json.loads((out / "fit.json").read_text())
    (fit,) = summary["fits"]
    assert fit["model"] == "SmolLM2-135M-Instruct.Q4_1"
    assert 0 < fit["tscale_err"] < 0.5 * fit["tscale"]
    assert np.isfinite(fit["chi2_per_dof"])
    table = read_table(out / "fit.csv")
    assert {r["parameter"] for r in table} == {"J", "field", "tscale"}
    probe = read_table(out / "probe" / "observables.csv")
    assert {float(r["T"]) for r in probe} == {0.5, 1.0, 2.0}
    mean = {(r["observable"], float(r["T"])): r for r in probe if r["prompt"] == "mean"}
    # the scored event is the answer followed by any non-continuing token: it holds a real
    # share of the model (the end-of-turn token alone held at most 0.5 % at T = 1)
    assert float(mean[("captured_mass", 1.0)]["mean"]) > 0.05
    # the model's melting point is recomputed from the probe's own table
    C = {T: float(mean[("specific_heat", T)]["mean"]) for T in (0.5, 1.0, 2.0)}
    melt = {(r["side"], r["quantity"]): r for r in read_table(out / "fss.csv")}
    assert set(melt) == {(s, q) for s in ("model", "toy") for q in ("C_peak", "T_m_half")}
    assert float(melt[("model", "C_peak")]["T"]) == max(C, key=C.get)
    assert float(melt[("model", "C_peak")]["value"]) == pytest.approx(max(C.values()))
    # the text comparison: model and its fitted toy measured with the same statistics
    text = read_table(out / "text" / "statistics.csv")
    sizes = {(r["side"], int(r["L"])) for r in text if r["observable"] == "tau"}
    assert {N for side, N in sizes if side == "model"} == {16, 32, 64}
    assert {N for side, N in sizes if side == "toy"} <= {16, 32, 64}   # ferromagnetic fits only
    assert read_table(out / "text" / "toy_fit.csv")[0]["mapping"] == "whitespace"
    assert (out / "comparison.png").stat().st_size > 30_000
    # rerunning finds every step finished
    again = sweep(*args, cwd=tmp_path)
    assert again.returncode == 0 and "already" in again.stderr + again.stdout


# the tiny fixtures have no BOS token and a context of 64: a neutral completion start
TEXT_FIXTURE = (*TEXT_TINY, "criticality.start=text", "criticality.text=the",
                "criticality.spins=[{name:token_bucket,sizes:[8,16,24],params:{q:2}}]")


# -m slow: the main job along a checkpoint chain runs by default in test_crystallize.py
@pytest.mark.slow
def test_checkpoint_chain_gives_one_fit_per_checkpoint(tmp_path):
    from experiments import main_job
    from test_sweep import composed

    chain = ",".join(str(PARITY / n) for n in ("qwen2", "olmo2", "llama"))
    cfg = composed("lm=chain", f"lm.checkpoints=[{chain}]", "probe=quick", "task=coin_flip",
                   "run.progress=false", *TEXT_FIXTURE, "criticality.toy.simulate=false")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LowCapturedMass)
        summary = main_job.run(cfg, tmp_path)
    assert [f["model"] for f in summary["fits"]] == ["qwen2", "olmo2", "llama"]
    assert all(f["tscale_err"] > 0 for f in summary["fits"])
    table = read_table(tmp_path / "fit.csv")
    assert len(table) == 3 * 3
    assert (tmp_path / "chain.png").stat().st_size > 10_000


def list_writer(tmp_path, bias=4.0, ratio=0.6):
    """A GPT-2 checkpoint that writes i.i.d. digit lists: ln_f passes only its bias, and the
    tied embedding puts "0" and "1" far above every other token."""
    import shutil

    from phasejax.probe import safetensors_io

    d = tmp_path / "lister"
    shutil.copytree(PARITY / "gpt2", d)
    t = safetensors_io.read(d / "model.safetensors")
    t = {k: np.array(v) for k, v in t.items()}
    u = np.zeros(t["transformer.ln_f.bias"].shape, np.float32)
    u[0] = 1.0
    t["transformer.ln_f.weight"][:] = 0.0
    t["transformer.ln_f.bias"][:] = bias * u
    wte = t["transformer.wte.weight"]
    wte[:, 0] = -3.0
    wte[5, 0], wte[6, 0] = 1.0, ratio                 # tokens "0" and "1"
    safetensors_io.write(d / "model.safetensors", t)
    return d


def test_sequence_comparison_end_to_end_on_a_list_writing_model(tmp_path):
    """p(0)/p(1) = exp(bias·(1 − ratio)/T) per token, independently: both fits must see a field
    and no coupling; the model's curves, the toy's and the FSS summaries all get written."""
    from omegaconf import OmegaConf

    from experiments import main_job
    from test_sweep import composed

    model = list_writer(tmp_path)
    cfg = composed(f"lm.path={model}", "probe.form=completion", "probe.lengths=[4,6]",
                   "probe.temperatures=[1.0,1.5,2.5]", "probe.n_samples=48",
                   "probe.prompts=[v0,v1]", "run.progress=false", *TEXT_FIXTURE,
                   "criticality.toy.simulate=false")
    from experiments.config import TaskConfig

    task = OmegaConf.merge(OmegaConf.structured(TaskConfig), dict(
        name="bits", kind="sequence", options=["0", "1"], separator=" ",
        prompts=[{"id": f"v{i}", "chat": f"write {{n}} bits {i}"} for i in range(8)]))
    OmegaConf.update(cfg, "task", task, merge=False)
    out = tmp_path / "job"
    summary = main_job.run(cfg, out)
    (fit,) = summary["fits"]
    assert abs(fit["J"]) < 4 * fit["J_err"] + 0.05             # independent tokens
    # "0" favoured along the profile: the planted ln p(0)/p(1) = 1.6 is ±0.8 about the
    # centred profile, so the field scale a is 1
    assert fit["field"] == pytest.approx(1.0, abs=4 * fit["field_err"] + 0.1)
    (plm_T1, *_rest) = fit["plm"]
    assert plm_T1["T"] == 1.0 and plm_T1["n_sequences"] == 96
    J = np.array(plm_T1["J"])
    assert np.all(np.abs(J) < 4.5 * np.array(plm_T1["J_err"]) + 0.05)
    h = np.array(plm_T1["h"])                                   # ln p(0)/p(1) = 1.6 at T = 1
    assert h[0] - h[1] == pytest.approx(1.6, abs=4 * np.hypot(*plm_T1["h_err"]) + 0.1)
    for side in ("model", "toy"):
        peaks = fit["sides"][side]["chi_peaks"]
        assert [p["N"] for p in peaks] == [4, 6]
    table = read_table(out / "probe" / "observables.csv")
    rate = {(int(float(r["L"])), float(r["T"])): float(r["mean"]) for r in table
            if r["observable"] == "parse_rate"}
    assert rate[(4, 1.0)] == 1.0 and rate[(6, 2.5)] < rate[(6, 1.0)]   # hotter: stray tokens
    assert (out / "comparison.png").stat().st_size > 30_000
    fss = read_table(out / "fss.csv")
    assert {(r["side"], r["method"]) for r in fss} >= {
        (s, m) for s in ("model", "toy", "toy_sampled")
        for m in ("binder_crossing", "chi_peak", "binder_collapse")}
    sampled = fit["sides"]["toy_sampled"]
    assert [p["N"] for p in sampled["chi_peaks"]] == [4, 6, 12, 24, 48]
    # independent tokens: no transition, so no side names a T_c, and each says why
    for r in fss:
        if r["quantity"] == "T_c":
            assert np.isnan(float(r["value"])) and r["reason"], r
    # the model's decisions carry the sequence-task path's measured rates: fewer answers than
    # any measured level and lengths 4, 6 (power measured on 4, 8 only), so "not resolved"
    for r in fss:
        if r["quantity"] == "T_c" and r["side"] == "model":
            assert r["rates_n"] == 128 and r["fp_rate"] == 0.0 and r["fp_upper95"] < 0.05, r
            assert "not resolved" in r["reason"], r
            assert "power not measured" in r["rates"], r
    (kept,) = [r for r in fss if r["method"] == "selection"]
    assert float(kept["value"]) == min(rate.values()) < 1
    assert (int(kept["N"]), float(kept["T"])) == min(rate, key=lambda k: (rate[k], k))


def test_the_job_reads_the_model_file_once_for_both_steps(monkeypatch):
    from experiments import main_job
    from phasejax.probe import loading

    calls = []
    monkeypatch.setattr(loading, "load_model", lambda path, dtype: calls.append(path) or
                        object())
    load = main_job.reuse_last_model()
    a = load("a.gguf", "float32")
    assert load("a.gguf", "float32") is a and calls == ["a.gguf"]
    b = load("b.gguf", "float32")                  # another checkpoint: the last one only
    assert b is not a and load("a.gguf", "float32") is not a
    assert calls == ["a.gguf", "b.gguf", "a.gguf"]
    load("a.gguf", "bfloat16")
    assert len(calls) == 4
