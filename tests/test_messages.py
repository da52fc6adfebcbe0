"""Tables and messages: integers stay integers, the analysis says its warnings and why it skipped
a collapse, figures say what they show, ``--help`` lists the kinds and tasks, and an expected
notice of a dependency is not printed."""

import json
import logging
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from hydra import compose, initialize_config_module

from experiments import compare, probe
from experiments.jobs import KINDS
from phasejax import io
from phasejax.analysis import fss
from phasejax.probe import tasks

EDGE = "L=4: the susceptibility peak lies at the edge of the simulated window [1.8, 2.8]; " \
       "widen the temperature range"


def _job(folder, L, q=2, n_T=3, n_R=2, n_S=40):
    """A finished equilibrium job folder: its table, time series and fingerprint."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(L)
    T = np.linspace(1.8, 2.8, n_T)
    rows = [dict(model="ising", q=q, dim=2, L=L, geometry="hypercubic", J="1.0", h="0.0",
                 sampler="wolff", T=float(t), observable="energy", mean=-1.5, stderr=0.01,
                 tau_int=0.5, n_samples=n_R * n_S, n_replicas=n_R, seed=0) for t in T]
    io.write_table(folder / "observables.csv", rows)
    counts = rng.integers(0, L * L, (n_T, n_R, n_S, 1))
    io.write_npz(folder / "timeseries.npz", temperatures=T, L=L, n_sites=L * L, q=q,
                 energy=rng.normal(-1.5, 0.1, (n_T, n_R, n_S)),
                 counts=np.concatenate([counts, L * L - counts], -1))
    cfg = {"kind": "equilibrium", "toy": {"name": "ising", "L": L, "q": q},
           "sampler": {"name": "wolff"}}
    io.write_json(folder / "fingerprint.json", {"sha256": "x", "config": cfg})


@pytest.fixture
def two_sizes(tmp_path, monkeypatch):
    """Two job folders (L = 4, 6), the analysis warning as the real one does when a peak sits
    at the edge of the window, and without a collapse (two sizes)."""
    for n, L in enumerate((4, 6)):
        _job(tmp_path / str(n), L)

    def analyse(key, sizes, n_bootstrap):
        warnings.warn(EDGE)
        return {"values": {"T_c": 2.3, "gamma_over_nu": 1.7, "beta_over_nu": 0.1},
                "errors": {"T_c": 0.1, "gamma_over_nu": 0.1, "beta_over_nu": 0.1},
                "transition": {"order": "continuous"}, "sizes": [s.L for s in sizes],
                "collapse_skipped": fss.collapse_skipped(sizes, 2.3)}

    monkeypatch.setattr(compare, "analyse", analyse)
    monkeypatch.setattr(compare.plot, "plot_fss", lambda *a, **k: [])
    return tmp_path


def test_summary_keeps_the_integers_of_the_jobs_tables(two_sizes):
    compare.compare(two_sizes, n_bootstrap=2)
    header, first = (two_sizes / "summary.csv").read_text().splitlines()[:2]
    row = dict(zip(header.split(","), first.split(",")))
    assert (row["L"], row["q"], row["seed"], row["n_samples"]) == ("4", "2", "0", "80")
    assert row["T"] == "1.8" and row["J"] == "1.0"
    back = io.read_table(two_sizes / "summary.csv")[0]
    assert type(back["L"]) is int and type(back["T"]) is float and back["J"] == 1.0


def test_compare_prints_the_edge_warning_and_why_there_is_no_collapse(two_sizes, capsys,
                                                                       caplog):
    assert compare.main([str(two_sizes), "--bootstrap", "2"]) == 0
    out, err = capsys.readouterr()
    assert "FSS ising: no data collapse: a collapse needs three sizes or more; got 2 " \
           "(L = 4, 6)" in out
    assert f"warning: FSS ising: {EDGE}" in err
    assert json.loads((two_sizes / "fss.json").read_text())["warnings"] == [EDGE]

    with caplog.at_level(logging.INFO, logger="experiments.compare"):
        compare.CompareOnMultirunEnd(2).on_multirun_end(
            SimpleNamespace(hydra=SimpleNamespace(sweep=SimpleNamespace(dir=str(two_sizes)))))
    said = {(r.levelname, r.getMessage()) for r in caplog.records}
    assert ("WARNING", f"FSS ising: {EDGE}") in said
    assert any(level == "INFO" and "no data collapse" in m for level, m in said)


def test_the_analysis_says_why_it_fits_no_collapse():
    sizes = [SimpleNamespace(L=L) for L in (4, 8, 16)]
    assert fss.collapse_skipped(sizes[:2], 2.3) == ("a collapse needs three sizes or more; "
                                                    "got 2 (L = 4, 8)")
    assert "no T_c" in fss.collapse_skipped(sizes, float("nan"))
    assert fss.collapse_skipped(sizes, 2.3) is None


def test_read_table_gives_back_what_was_written(tmp_path):
    io.write_table(tmp_path / "t.csv", [dict(L=4, n=-3, T=2.0, small=1e-5, name="a",
                                             missing=float("nan"))])
    (row,) = io.read_table(tmp_path / "t.csv")
    assert row == {"L": 4, "n": -3, "T": 2.0, "small": 1e-5, "name": "a",
                   "missing": pytest.approx(float("nan"), nan_ok=True)}
    assert [type(row[k]) for k in ("L", "n", "T")] == [int, int, float]


def _probe_rows(observables, L=1, models=("SmolLM2-135M",)):
    return [dict(model=m, L=L, T=float(t), observable=o, mean=0.5, stderr=0.01,
                 prompt="mean") for m in models for o in observables for t in (0.5, 1.0)]


@pytest.mark.parametrize("task,panels,models,title", [
    ("number_1_10", probe.CHOICE_PANELS, ["SmolLM2-135M"], "SmolLM2-135M on number_1_10"),
    ("digit_sequence", probe.SEQUENCE_PANELS, ["SmolLM2-135M"],
     "SmolLM2-135M on digit_sequence"),
    ("number_1_10", probe.CHOICE_PANELS, ["sft/step_1", "sft/step_2", "rl/step_3"],
     "number_1_10: 3 checkpoints, sft/step_1 → rl/step_3"),
])
def test_probe_figure_names_its_axes_and_the_model(task, panels, models, title):
    fig = probe.figure(_probe_rows(panels, models=models), tasks.load(task), models)
    assert fig._suptitle.get_text() == title
    shown = [ax for ax in fig.axes if ax.get_ylabel()]
    assert len(shown) == len(panels)
    for ax in shown:
        assert ax.get_ylabel() not in panels and ax.get_xlabel() == "sampling temperature $T$"


def test_help_lists_every_kind_and_task():
    import experiments.sweep  # noqa: F401  (the structured configs and the help's resolvers)

    with initialize_config_module("experiments.conf", version_base=None):
        cfg = compose("sweep", return_hydra_config=True)
    header = cfg.hydra.help.header
    kinds = next(line for line in header.splitlines() if line.startswith("kind="))
    assert kinds.split(": ", 1)[1].split(", ") == list(KINDS)
    names = next(line for line in header.splitlines() if line.startswith("task="))
    assert names.split(": ", 1)[1].split(", ") == tasks.available()
    assert cfg.hydra.help.template.startswith(header)      # what --help prints first


def test_transformers_notice_that_pytorch_is_missing_is_not_printed():
    """Expected here (the models are JAX): the ``transformers`` logger drops that one notice,
    and only that one, once anything of ``phasejax.probe`` is imported."""
    logger = logging.getLogger("transformers")
    notice = logger.makeRecord("transformers", logging.WARNING, __file__, 0,
                               "PyTorch was not found. Models won't be available and only "
                               "tokenizers, configuration and file/data utilities can be used.",
                               None, None)
    other = logger.makeRecord("transformers", logging.WARNING, __file__, 0, "other", None, None)
    assert not logger.filter(notice) and logger.filter(other)
