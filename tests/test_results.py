"""Results are never wrong, lost or private: fingerprints, resuming by rerunning the printed
command, refusing inapplicable parameters before any work, the user's permissions, errors that
name the file, no progress frames in logs, no backend switch."""

import json
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from conftest import ROOT
from phasejax import io
from test_sweep import TINY, composed, sweep

PARITY = Path(ROOT) / "tests" / "parity"


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


# ------------------------------------------------------------------------- permissions
def test_results_get_the_users_umask_permissions(tmp_path, umask_022):
    from phasejax import plot

    io.write_table(tmp_path / "t.csv", [{"a": 1.0}])
    io.write_json(tmp_path / "t.json", {"a": 1})
    io.write_npz(tmp_path / "t.npz", a=np.zeros(3))
    fig, ax = plot.subplots()
    ax.plot([0, 1])
    plot.save_figure(fig, tmp_path / "t.png")
    for name in ("t.csv", "t.json", "t.npz", "t.png"):
        assert mode(tmp_path / name) == 0o644, name
    os.umask(0o027)
    io.write_json(tmp_path / "g.json", {})
    assert mode(tmp_path / "g.json") == 0o640


def test_checkpoint_folders_get_the_users_umask_permissions(tmp_path, umask_022):
    from phasejax.probe.hf_writer import save_folder
    from phasejax.probe.loading import load_model

    lm = load_model(PARITY / "qwen3")
    folder = save_folder(lm.model, tmp_path / "ckpt" / "step_000001", lm.tokenizer)
    assert mode(folder) == 0o755
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files and all(mode(p) == 0o644 for p in files), {p.name: oct(mode(p)) for p in files}


def test_numpy_scalars_are_written_as_numbers(tmp_path):
    """``np.float64`` is a ``float`` whose repr names its type (NumPy 2): the table must hold
    the number, and read it back as one."""
    row = {"f64": np.float64(0.974471), "f32": np.float32(0.5), "i64": np.int64(7),
           "nan": np.float64("nan"), "py": 1.25, "text": "x"}
    io.write_table(tmp_path / "t.csv", [row])
    text = (tmp_path / "t.csv").read_text()
    assert "np." not in text and "float64" not in text, text
    (back,) = io.read_table(tmp_path / "t.csv")
    assert back["f64"] == 0.974471 and back["f32"] == 0.5 and back["i64"] == 7
    assert isinstance(back["i64"], int) and np.isnan(back["nan"]) and back["text"] == "x"


# ------------------------------------------------------------------------- fingerprints
def test_a_folder_of_another_configuration_is_refused(tmp_path):
    from experiments.compare import load_job

    out = tmp_path / "run"
    first = sweep(*TINY, "toy.L=4", f"hydra.run.dir={out}", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    stored = json.loads((out / "fingerprint.json").read_text())
    assert stored["config"]["toy"]["L"] == 4 and "progress" not in stored["config"]["run"]
    before = (out / "observables.csv").read_bytes()

    other = sweep(*TINY, "toy.L=6", f"hydra.run.dir={out}", cwd=tmp_path)
    assert other.returncode != 0
    message = other.stderr.strip().splitlines()
    assert any("holds results of a different configuration (toy.L: 4 -> 6)" in line
               and "delete that folder or write elsewhere" in line for line in message)
    assert (out / "observables.csv").read_bytes() == before
    assert json.loads((out / "fingerprint.json").read_text()) == stored

    # a setting that cannot change a number is not part of the fingerprint: the rerun skips the
    # job, Hydra rewrites its own copy of the config, and compare reads the fingerprint's
    same = sweep(*TINY, "toy.L=4", "run.progress=true", f"hydra.run.dir={out}", cwd=tmp_path)
    assert same.returncode == 0 and "skipping" in same.stdout + same.stderr
    assert "progress: true" in (out / ".hydra" / "config.yaml").read_text()
    cfg = load_job(out)["cfg"]                                          # the truth
    assert cfg["toy"]["L"] == 4 and "progress" not in cfg["run"]

    # results without a fingerprint cannot be trusted either
    (out / "fingerprint.json").unlink()
    legacy = sweep(*TINY, "toy.L=4", f"hydra.run.dir={out}", cwd=tmp_path)
    assert legacy.returncode != 0 and "without a fingerprint" in legacy.stderr


def test_rerunning_the_printed_command_resumes(tmp_path):
    """Default folders: the same command, the same folder. A killed multirun is finished by
    running the command it printed; the finished job is not touched."""
    env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu")
    args = ["-m", "toy.L=4,6", "sampler=metropolis", "run.n_therm=20", "run.n_measure=60",
            "temperatures.num=3", *TINY]
    cmd = [sys.executable, "-m", "experiments.sweep", *args]
    first = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600,
                           env=dict(env, PHASEJAX_FAULT="toy.L=6:30"))
    assert first.returncode != 0                          # killed in the second job
    (line,) = [x for x in first.stdout.splitlines() if x.startswith("resume")]
    printed = shlex.split(line.split(": ", 1)[1])
    assert printed[:3] == ["python", "-m", "experiments.sweep"] and printed[3:] == args
    (folder,) = (tmp_path / "multirun" / "equilibrium").iterdir()
    jobs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert [j.name for j in jobs] == ["0", "1"]           # numbered, overrides inside
    assert "toy.L=6" in (jobs[1] / ".hydra" / "overrides.yaml").read_text()
    done = (jobs[0] / "observables.csv").stat().st_mtime_ns
    assert not (jobs[1] / "observables.csv").exists()

    again = subprocess.run([sys.executable, *printed[1:]], cwd=tmp_path, capture_output=True,
                           text=True, timeout=600, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert list((tmp_path / "multirun" / "equilibrium").iterdir()) == [folder]
    assert (jobs[0] / "observables.csv").stat().st_mtime_ns == done
    assert (jobs[1] / "observables.csv").is_file() and (folder / "fss.json").is_file()
    assert not list(folder.rglob("*.part*"))


def test_long_override_lists_make_short_folder_names():
    from experiments.runs import run_id

    long = [f"+toy.extra_parameter_number_{i}={'x' * 40}" for i in range(40)]
    name = run_id(long)
    assert len(name) < 80 and run_id(long) == name and run_id(long[:-1]) != name
    assert run_id([]) == "default" and run_id(["run.progress=false"]) == "default"
    assert run_id(["toy.L=4,6", "toy=potts"]) == run_id(["toy=potts", "toy.L=4,6"])
    assert not set(run_id(["toy.L=4,6", "toy=potts"])) & set("=,")   # usable in hydra.run.dir=
    assert "/" not in run_id(["lm.path=/models/Qwen3-0.6B"])            # one folder level


# ------------------------------------------------------------------------- refused inputs
@pytest.mark.parametrize("overrides,message", [
    (["toy=ising", "toy.q=3"], "toy.q=3: not a parameter of toy=ising"),
    (["toy.R=5"], "R=5 (coupling range) applies to geometry='chain' only"),
    (["+toy.LL=8"], "toy.LL=8: not a parameter of toy=ising"),
    (["toy=mean_field", "toy.dim=3"], "toy.dim=3: not a parameter of toy=mean_field"),
    (["toy=ising", "toy.geometry=chain", "toy.dim=2"], "dim=2 does not apply to geometry='chain'"),
])
def test_inapplicable_toy_parameters_are_refused(overrides, message):
    from experiments.equilibrium import build

    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build(composed(*overrides))


def test_applicable_defaults_still_build():
    from experiments.equilibrium import build

    assert build(composed("toy=potts", "toy.q=2"))[0].q == 2
    assert build(composed("toy=ising", "toy.q=2"))[0].q == 2      # the Ising value: harmless
    assert build(composed("toy=ising", "toy.geometry=chain"))[0].lattice.kind == "chain"
    assert build(composed("toy.dim=3"))[0].lattice.shape == (16, 16, 16)


@pytest.mark.parametrize("overrides,message", [
    (["lm=folder"], "lm.path is not set: lm=folder needs lm.path="),
    (["lm.dtype=float8"], "lm.dtype='float8'"),
    (["probe.prompts=[v0,nope]"], "has no prompts ['nope']"),
    (["probe.temperatures=[1.0]"], "leaves the fit 3 data points (3 observables × 1 temperatures) "
                                   "for 3 parameters"),
    (["criticality.min_kept=0"], "criticality.min_kept=0"),
    (["criticality.spins=[]"], "criticality.spins is empty"),
])
def test_main_job_checks_everything_before_the_first_long_step(tmp_path, overrides, message):
    from experiments import main_job

    with pytest.raises(ValueError) as e:
        main_job.run(composed("probe=quick", *overrides), tmp_path)
    assert message in str(e.value)
    assert not any(tmp_path.iterdir())           # no toy step ran, no model was loaded


@pytest.mark.parametrize("overrides,key", [
    (["experiment=crystallize", "crystallize.rl.stepz=3"], "stepz"),
    (["experiment=crystallize", "crystallize.lora.rnk=4"], "rnk"),
    (["experiment=crystallize", "crystallize.rl.steps=many"], "steps"),
    (["task.optionz=[a,b]"], "optionz"),
    (["task.length=ten"], "length"),
])
def test_task_and_crystallize_settings_are_typed_at_compose_time(overrides, key):
    """Both groups have schemas (the task's from the library's Task): a misspelt key or a
    value of the wrong type is refused when the config is composed."""
    with pytest.raises(Exception, match=key):
        composed(*overrides)


def test_task_schema_holds_every_shipped_task():
    from phasejax.probe import tasks

    for name in tasks.available():
        cfg = composed(f"task={name}")
        assert tasks.from_dict(OmegaConf.to_container(cfg.task)) == tasks.load(name)


def test_probe_job_refuses_lm_folder_without_a_path(tmp_path):
    from experiments import probe

    with pytest.raises(ValueError, match="lm.path is not set"):
        probe.run(composed("experiment=probe", "lm=folder"), tmp_path)


# ------------------------------------------------------------------------- clear errors
def test_garbage_config_json_names_the_file(tmp_path):
    import shutil

    from phasejax.probe.loading import load_model

    folder = tmp_path / "model"
    shutil.copytree(PARITY / "qwen3", folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"model/config\.json.*not valid JSON"):
        load_model(folder)


def test_reweighting_warns_when_it_stops_without_converging():
    from phasejax.analysis.reweight import NotConverged, Reweighter

    rng = np.random.default_rng(0)
    E = np.stack([rng.normal(-1.0 - 0.2 * k, 0.3, (2, 400)) for k in range(3)]).round(2)
    rw = Reweighter(np.array([2.0, 2.2, 2.4]), E, {})      # converges: no warning
    counts, _ = rw._sums(np.ones(rw.shape))
    with pytest.warns(NotConverged, match="did not converge in 3 iterations"):
        rw._wham(counts, np.zeros(3), max_iter=3)


# ------------------------------------------------------------------------- quiet libraries
def test_progress_is_off_without_a_terminal(capfd):
    from phasejax.lattice.driver import _Progress

    seen = []
    bar = _Progress(10, enabled=True, on_update=lambda d, t: seen.append((d, t)))
    bar.update(4)
    bar.update(6)
    bar.close()
    assert seen == [(4, 10), (10, 10)]
    assert "\r" not in capfd.readouterr().err            # stderr is not a terminal here


def test_importing_plot_leaves_matplotlibs_backend_alone():
    code = ("import matplotlib; matplotlib.use('svg'); import phasejax.plot as p; "
            "fig, ax = p.subplots(); ax.plot([1, 2]); import sys; "
            "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=ROOT), timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["svg", "False"]


def test_a_jobs_fingerprint_covers_what_it_reads_and_nothing_else():
    from experiments import text_criticality
    from experiments.runs import fingerprint

    keys = text_criticality.CONFIG_KEYS
    base = fingerprint(composed("experiment=text_criticality"), keys)[0]
    assert fingerprint(composed("experiment=text_criticality", "probe.n_samples=7"),
                       keys)[0] == base                      # the probe is not read
    for changed in ("criticality.n_tokens=100", "lm.dtype=bfloat16", "run.seed=3"):
        assert fingerprint(composed("experiment=text_criticality", changed), keys)[0] != base
    assert fingerprint(composed("experiment=text_criticality", "probe.n_samples=7"))[0] != \
        fingerprint(composed("experiment=text_criticality"))[0]   # whole config by default
