"""The package installs like a package: a wheel, and an editable install, each in a fresh virtual
environment, run a sweep from another directory with the configs (the repository's top-level
``conf/``, installed as ``experiments.conf``) and the tasks found as package data.

Also a script, run by ``.ci/run`` after the install and before pytest::

    python3 tests/test_install.py [work folder]
"""

import json
import tomllib
import os
import shutil
import site
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


def _fresh_venv(venv: Path) -> Path:
    """A virtual environment whose dependencies are this environment's; returns its python.

    ``--system-site-packages`` would give the base interpreter's packages, not those of a
    virtual environment this runs in: a ``.pth`` file names this environment's site folders
    instead (plain paths, so their own ``.pth`` files, such as another checkout's editable
    install, are not run).
    """
    _run([sys.executable, "-m", "venv", venv])
    py = venv / "bin" / "python"
    purelib = _run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    (Path(purelib.stdout.strip()) / "_parent_environment.pth").write_text(
        "\n".join(site.getsitepackages()) + "\n")
    return py


def _where_and_tiny_sweep(py: Path, work: Path, root: Path) -> dict:
    """From a folder outside ``root``: the packages and configs are imported from ``root`` (not
    from the checkout this test runs in) and a tiny sweep writes its results."""
    elsewhere = work / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["JAX_PLATFORMS"] = "cpu"
    where = _run([py, "-c", "import json, experiments.conf, phasejax, toy_models; "
                  "from phasejax.probe import tasks; print(json.dumps(dict("
                  "conf=experiments.conf.__file__, phasejax=phasejax.__file__, "
                  "toy_models=toy_models.__file__, tasks=tasks.available())))"],
                 cwd=elsewhere, env=env)
    found = json.loads(where.stdout)
    for name in ("conf", "phasejax", "toy_models"):
        assert Path(found[name]).resolve().is_relative_to(root.resolve()), (name, found[name])
    assert "number_1_10" in found["tasks"], found["tasks"]
    out = work / "run"
    res = _run([py, "-m", "experiments.sweep", *TINY, f"hydra.run.dir={out}"], cwd=elsewhere,
               env=env)
    assert (out / "observables.csv").is_file() and (out / "fingerprint.json").is_file()
    assert "observables.csv" in res.stdout
    return found


def check_wheel(work: Path) -> dict:
    """Build the wheel from a copy of the tree, install it (no dependencies: they come from
    this environment) and run a tiny sweep elsewhere: ``conf/`` ships as ``conf``."""
    work = Path(work)
    src, dist, venv = (work / n for n in ("src", "dist", "venv"))
    shutil.copytree(ROOT, src, ignore=IGNORE)          # builds never write into the checkout
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", src, "-w", dist])
    (wheel,) = dist.glob("phasejax-*.whl")
    py = _fresh_venv(venv)
    _run([py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel])
    found = _where_and_tiny_sweep(py, work, venv)
    assert Path(found["conf"]).parent == Path(found["phasejax"]).parent.parent / "experiments" / "conf"
    return dict(wheel=wheel.name, **found)


def check_editable(work: Path) -> dict:
    """``pip install -e`` of a copy of the tree into a fresh environment: the configs are the
    copy's top-level ``conf/``, edited in place."""
    work = Path(work)
    src = work / "src"
    shutil.copytree(ROOT, src, ignore=IGNORE)
    py = _fresh_venv(work / "venv")
    _run([py, "-m", "pip", "install", "-q", "--no-deps", "-e", src])
    found = _where_and_tiny_sweep(py, work, src)
    assert Path(found["conf"]).parent == src / "conf", found["conf"]
    return dict(editable=str(src), **found)


def test_pyproject_lists_every_package_and_ships_conf_as_experiments_conf():
    """``packages`` is written out (``package-dir`` maps ``conf`` into ``experiments``): a new
    subpackage missing from the list would be missing from the wheel."""
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = [".".join(init.parent.relative_to(ROOT).parts)
             for top in ("phasejax", "toy_models", "experiments")
             for init in (ROOT / top).rglob("__init__.py")]
    assert sorted(tool["packages"]) == sorted(found + ["experiments.conf"])
    assert tool["package-dir"] == {"experiments.conf": "conf"}
    assert "**/*.yaml" in tool["package-data"]["experiments.conf"]


def test_a_checkout_imports_its_own_top_level_conf():
    import experiments.conf

    assert not (ROOT / "experiments" / "conf" / "__init__.py").exists()
    assert Path(experiments.conf.__file__).resolve() == ROOT / "conf" / "__init__.py"
    assert (ROOT / "conf" / "sweep.yaml").is_file()


@pytest.mark.slow
def test_wheel_installs_and_runs_a_sweep_from_another_directory(tmp_path):
    found = check_wheel(tmp_path)
    assert found["wheel"].endswith(".whl")


@pytest.mark.slow
def test_editable_install_runs_a_sweep_from_another_directory(tmp_path):
    check_editable(tmp_path)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="phasejax-install-") as tmp:
        target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tmp)
        print(json.dumps(check_wheel(target / "wheel"), indent=1))
        print("wheel check: ok")
        print(json.dumps(check_editable(target / "editable"), indent=1))
        print("editable check: ok")
