"""The package installs like a package: a wheel, installed into a fresh virtual environment,
runs a sweep from another directory with its configs and tasks found as package data.

Also a script, run by ``.ci/run`` after the install and before pytest::

    python3 tests/test_install.py [work folder]
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IGNORE = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__", "outputs",
                                "multirun", "tests", ".pytest_cache", ".whl")
TINY = ["kind=equilibrium", "toy.L=4", "sampler=metropolis", "run.n_therm=10",
        "run.n_measure=40", "run.n_replicas=2", "temperatures.num=3", "run.progress=false",
        "run.compilation_cache=off"]


def _run(cmd, **kw):
    res = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if res.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({res.returncode}):\n"
                             f"{res.stdout[-2000:]}\n{res.stderr[-4000:]}")
    return res


def check_wheel(work: Path) -> dict:
    """Build the wheel from a copy of the tree, install it (no dependencies: they come from
    this environment through ``--system-site-packages``) and run a tiny sweep elsewhere."""
    work = Path(work)
    src, dist, venv, elsewhere = (work / n for n in ("src", "dist", "venv", "elsewhere"))
    shutil.copytree(ROOT, src, ignore=IGNORE)          # builds never write into the checkout
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", src, "-w", dist])
    (wheel,) = dist.glob("phasejax-*.whl")
    _run([sys.executable, "-m", "venv", "--system-site-packages", venv])
    py = venv / "bin" / "python"
    _run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel])
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["JAX_PLATFORMS"] = "cpu"
    where = _run([py, "-c", "import json, experiments.conf, phasejax, toy_models; "
                  "from phasejax.probe import tasks; print(json.dumps(dict("
                  "conf=experiments.conf.__file__, phasejax=phasejax.__file__, "
                  "toy_models=toy_models.__file__, tasks=tasks.available())))"],
                 cwd=elsewhere, env=env)
    found = json.loads(where.stdout)
    site = str(venv.resolve())
    for name in ("conf", "phasejax", "toy_models"):      # the wheel, not the checkout
        assert str(Path(found[name]).resolve()).startswith(site), (name, found[name])
    assert "number_1_10" in found["tasks"], found["tasks"]
    out = work / "run"
    res = _run([py, "-m", "experiments.sweep", *TINY, f"hydra.run.dir={out}"], cwd=elsewhere,
               env=env)
    assert (out / "observables.csv").is_file() and (out / "fingerprint.json").is_file()
    assert "observables.csv" in res.stdout
    return dict(wheel=wheel.name, **found)


@pytest.mark.slow
def test_wheel_installs_and_runs_a_sweep_from_another_directory(tmp_path):
    found = check_wheel(tmp_path)
    assert found["wheel"].endswith(".whl")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="phasejax-wheel-") as tmp:
        target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tmp)
        print(json.dumps(check_wheel(target), indent=1))
        print("wheel check: ok")
