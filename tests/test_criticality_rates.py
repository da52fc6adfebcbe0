"""The false-positive and power checks of docs/criticality_rates.md on fewer data sets: chains
without a transition get none from any method, a system with one gets it, and the intervals
cover the true value."""

import jax
import numpy as np

from phasejax.analysis.scaling import TRANSITION_METHODS
from phasejax.lattice import calibration as C

CPU_T = (0.4, 0.6, 0.8, 0.9, 1.0, 1.1, 1.3, 1.6)
NULLS = (C.MarkovChain(2.0, (0.0, 0.0)),            # crossings that drift to low T
         C.MarkovChain(2.0, (0.0, 1.0)),            # a crossing at the Gaussian value U₄ᶜ = 0
         C.MarkovChain(2.5, (0.0, 0.8, -0.3, 0.4, -0.6, 0.2)))   # six states, fields


def test_markov_chains_name_no_transition():
    decisions = []
    for c, chain in enumerate(NULLS):
        for d in range(3):
            k = jax.random.fold_in(jax.random.fold_in(jax.random.key(2026), c), d)
            cur = C.markov_dataset(k, chain, CPU_T, (20, 40, 80, 160), n_sequences=512,
                                   n_boot=80)
            decisions.append(C.decide(jax.random.fold_in(k, 1), cur, n_boot=100))
    rates = C.rates(decisions)
    for m in TRANSITION_METHODS:
        assert rates[m]["n_named"] == 0, (m, rates[m])


def test_the_curie_weiss_transition_is_found_and_covered():
    T = np.linspace(0.9, 1.1, 8)
    sets = C.curie_weiss_datasets(jax.random.key(7), T, (64, 256, 1024), n_datasets=12,
                                  n_samples=4096, n_boot=80)
    decisions = [C.decide(jax.random.fold_in(jax.random.key(8), d), cur, binder="binder",
                          n_boot=100) for d, cur in enumerate(sets)]
    r = C.rates(decisions, truth=1.0)["binder_crossing"]
    assert r["n_named"] >= 10, r
    assert r["cover_2sigma"] >= 0.8 and r["cover_1sigma"] >= 0.4, r
    # without a transition in range (the same model far above T_c) nothing is named
    hot = C.curie_weiss_datasets(jax.random.key(9), 1.5 + T, (64, 256, 1024), n_datasets=4,
                                 n_samples=4096, n_boot=80)
    assert all(np.isnan(C.decide(jax.random.key(d), cur, binder="binder",
                                 n_boot=100)["binder_crossing"][0])
               for d, cur in enumerate(hot))


def test_coverage_against_a_reference_with_an_error_combines_both():
    """A simulated reference known to ± 0.02 and an estimate 0.02 off with error 0.008: the
    combined interval covers it, the bare one does not, and both are reported."""
    d = [{"binder_crossing": (1.02, 0.008)}, {"binder_crossing": (0.96, 0.01)},
         {"binder_crossing": (np.nan, np.nan)}]
    r = C.rates(d, truth=1.0, truth_err=0.02)["binder_crossing"]
    assert r["n_named"] == 2 and r["named"] == 2 / 3
    assert r["cover_1sigma"] == 0.5 and r["cover_1sigma_bare"] == 0.0
    assert r["cover_2sigma"] == 1.0 and r["cover_2sigma_bare"] == 0.0
    assert "cover_1sigma_bare" not in C.rates(d, truth=1.0)["binder_crossing"]


def _rate_rows():
    def row(system, kind, n, named, sets, sizes="21 41 81 161", method="binder_crossing"):
        return dict(system=system, kind=kind, n=n, sizes=sizes, method=method, refits="",
                    datasets=sets, named=named)

    grid = "long_range σ=0.5, cpu preset grid"
    return [row("null (Markov)", "null", 96, 0.0, 200),
            row("null (Markov)", "null", 1024, 0.01, 200),
            row("other null", "null", 1024, 0.0, 100),
            row("null (Markov)", "null", 96, 1.0, 40, method="chi_peak"),
            row(grid, "transition", 96, 0.95, 40), row(grid, "transition", 1024, 0.875, 40),
            row(grid, "transition", 1024, 0.5, 40, sizes="41 81 161"),
            row("long_range σ=0.5", "transition", 96, 1.0, 40)]     # a grid centred on T_c


def test_stored_rates_are_read_at_the_largest_level_the_run_reaches():
    from scipy.stats import binom

    rows, cpu = _rate_rows(), C.PRESET_GRIDS["cpu"]
    r = C.measured_rates("binder_crossing", 4000, cpu, rows)  # 1024: both nulls pooled
    assert (r.level, r.below, r.false_positives, r.null_sets, r.null_systems) == (
        1024, False, 2, 300, 2)
    assert r.power == 0.875 and r.power_sets == 40            # the reference's own sizes
    assert not r.resolved
    # the bound is the rate at which 2 or fewer of 300 come up with probability 5 %
    assert abs(binom.cdf(2, 300, r.false_positive_upper) - 0.05) < 1e-6
    assert "2 of 300" in r.note() and "88%" in r.note()
    r = C.measured_rates("binder_crossing", 500, cpu, rows)  # the preset's grid, never one
    assert (r.level, r.below, r.false_positive_rate, r.power) == (96, False, 0.0, 0.95)
    assert abs(r.false_positive_upper - (1 - 0.05 ** (1 / 200))) < 1e-9   # 0 of 200
    assert r.resolved and "cpu preset grid" in r.power_system   # centred on T_c
    r = C.measured_rates("binder_crossing", 32, cpu, rows)     # fewer than any level: said so,
    assert r.level == 96 and r.below and not r.resolved         # and never "resolved"
    assert "fewer than any level" in r.note()
    r = C.measured_rates("binder_crossing", 500, (0.5, 1.0, 2.0), rows)   # another grid: no
    assert np.isnan(r.power) and not r.resolved and "power not measured" in r.note()
    r = C.measured_rates("chi_peak", 96, cpu, rows)             # every data set named one
    assert r.false_positive_upper == 1.0 and np.isnan(r.power) and not r.resolved
    assert "power not measured" in r.note()
    assert C.measured_rates("tau_slope", 96, cpu, rows) is None


def test_the_preset_grids_are_the_presets_temperatures():
    from pathlib import Path

    import yaml

    conf = Path(__file__).resolve().parents[1] / "conf" / "criticality"
    for name, grid in C.PRESET_GRIDS.items():
        T = yaml.safe_load((conf / f"{name}.yaml").read_text())["temperatures"]
        assert C.preset_grid(T) == name and tuple(T) == grid


def _bench():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_criticality_rates.py"
    spec = importlib.util.spec_from_file_location("bench_criticality_rates", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_shipped_rates_are_the_documented_table():
    """docs/criticality_rates.md's table is the shipped table as the benchmark prints it, and
    each method that can name a transition has null and power rows at the CPU preset's 96
    sequences."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[1] / "docs" / "criticality_rates.md").read_text()
    lines = doc.splitlines()
    start = next(i for i, x in enumerate(lines) if x.startswith("| system | n per T"))
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    printed = _bench().markdown(C.stored_rates())
    assert "\n".join(lines[start:end]) + "\n" == printed
    assert end - start - 2 == len(C.stored_rates()) > 60
    for m in (*TRANSITION_METHODS, "bridge"):
        r = C.measured_rates(m, 96, C.PRESET_GRIDS["cpu"])
        assert r.level == 96 and r.null_sets >= 200 and r.power_sets >= 40, m
    r = C.measured_rates("bridge", 4096, C.PRESET_GRIDS["cpu"])   # its own larger level
    assert (r.level, r.null_sets, r.false_positives, r.power_sets) == (1024, 100, 0, 40)
    assert r.power == 1.0 and r.false_positive_upper < 0.05


def test_the_benchmark_merges_its_rows_into_a_table(tmp_path):
    from phasejax import io

    B = _bench()
    row = dict(system="s", kind="null", n=96, sizes="20 40", method="chi_peak", refits="",
               datasets=200, named=0.0, truth_err=0.0, command="--only null")
    path = tmp_path / "rates.csv"
    B.merge_table(path, [row, dict(row, n=1024)])
    B.merge_table(path, [dict(row, named=0.005), dict(row, method="xi_crossing")])
    got = io.read_table(path)
    assert [(r["n"], r["method"], r["named"]) for r in got] == [
        (96, "chi_peak", 0.005), (1024, "chi_peak", 0.0), (96, "xi_crossing", 0.0)]
    assert "| s | 96 | 20 40 | chi_peak | 200 | 0.005 | — | — | — | — |" in B.markdown(got)
    # a coverage's interval counts the data sets that named a T_c: 20 of 40 covered (of 80)
    lo, hi = B.cover_interval(0.5, 0.5, 80)
    assert abs(lo - 0.3380) < 5e-4 and abs(hi - 0.6620) < 5e-4      # Clopper–Pearson, 20/40
    assert B.cover_interval(1.0, 1.0, 40) == (B.cover_interval(1.0, 1.0, 40)[0], 1.0)
    assert abs(B.cover_interval(1.0, 1.0, 40)[0] - 0.025 ** (1 / 40)) < 1e-9
    t = dict(row, kind="transition", method="binder_crossing", named=0.5, cover_1sigma=0.5,
             cover_2sigma=1.0, cover_1sigma_bare="", cover_2sigma_bare="", mean_T_c=1.0,
             mean_error=0.01, datasets=80)
    assert "| 0.50 | 0.34–0.66 | 1.00 |" in B.markdown([t])
    assert B._measuring_args(["--only", "null", "--table", "--levels", "96", "--save",
                              "x.json"]) == ["--only", "null", "--levels", "96"]
    assert B._measuring_args(["--only", "ising2d", "--data", "d"]) == ["--only", "ising2d"]


def test_kept_data_sets_are_read_back_as_drawn(tmp_path, monkeypatch):
    """``--data DIR`` keeps the simulated data sets: a second run with the same key and
    arguments reads the same curves (replicates or none) and simulates nothing; another key
    simulates anew."""
    B = _bench()
    monkeypatch.setattr(B, "DATA", [str(tmp_path)])
    rng = np.random.default_rng(3)
    T, N = np.linspace(1.0, 2.0, 4), np.array([8, 16])
    made = []

    def make():
        made.append(1)
        return [{"binder": C.SizeCurves(T, N, rng.random((4, 2)), rng.random((4, 2)),
                                        rng.random((4, 5, 2))),
                 "xi": C.SizeCurves(T, N, rng.random((4, 2)), rng.random((4, 2)), None)}
                for _ in range(3)]

    key = jax.random.key(1)
    first = B._kept("sys", key, make, level=96)
    again = B._kept("sys", key, make, level=96)
    assert len(made) == 1 and len(again) == 3
    for a, b in zip(first, again):
        assert b["xi"].replicates is None
        for o in a:
            for f in ("T", "N", "value", "error", "replicates"):
                x, y = getattr(a[o], f), getattr(b[o], f)
                assert (x is None and y is None) or np.array_equal(x, y), (o, f)
    B._kept("sys", jax.random.key(2), make, level=96)
    B._kept("sys", key, make, level=1024)
    assert len(made) == 3 and not list(tmp_path.glob("*.part"))




def test_a_run_that_skips_the_first_data_sets_pools_into_the_whole_run(tmp_path, monkeypatch):
    """``--skip K --datasets M`` measures data sets K … K+M−1 of the run without it, and with
    ``--table`` pools them with the row of the first K: the result is the row of one run of K+M
    (the decisions are the same draws)."""
    from phasejax import io

    B = _bench()
    drawn = []                                    # the key of every data set a run draws
    rows_of = B.C.sequence_task_rows
    monkeypatch.setattr(B.C, "sequence_task_rows", lambda k, *a, **kw: (
        drawn.append(tuple(np.asarray(jax.random.key_data(k)).ravel())), rows_of(k, *a, **kw))[1])
    table, whole = tmp_path / "rates.csv", tmp_path / "whole.csv"
    args = ["--only", "null_sequence", "--levels", "128", "--boot", "20"]
    B.main(args + ["--datasets", "10", "--table", str(whole)])
    B.main(args + ["--datasets", "5", "--table", str(table)])
    B.main(args + ["--datasets", "5", "--skip", "5", "--table", str(table)])
    assert len(drawn) == 20 and len(set(drawn)) == 10 and set(drawn[10:]) == set(drawn[:10])
    got, want = io.read_table(table), io.read_table(whole)
    assert [r["datasets"] for r in got] == [10] * len(want)
    cols = ("system", "n", "sizes", "method", "datasets", "named", "mean_T_c")
    assert [[r[c] for c in cols] for r in got] == [[r[c] for c in cols] for r in want]
    assert got[0]["command"].endswith("+ " + " ".join(args + ["--datasets", "5", "--skip", "5"]))
    # a named T_c pools by the data sets that named one; the wrong count or a transition refuses
    row = dict(want[0], named=0.1, mean_T_c=1.0, mean_error=0.1, datasets=10)
    pooled = B.pool_rows(row, dict(row, named=0.3, mean_T_c=2.0, mean_error=0.3), 10)
    assert pooled["datasets"] == 20 and abs(pooled["named"] - 0.2) < 1e-12
    assert abs(pooled["mean_T_c"] - 1.75) < 1e-12 and abs(pooled["mean_error"] - 0.25) < 1e-12
    for bad, skip in ((row, 5), (dict(row, kind="transition"), 10)):
        try:
            B.pool_rows(bad, row, skip)
        except ValueError:
            continue
        raise AssertionError(f"pooled {bad['kind']} with skip {skip}")
    try:
        B.main(args + ["--datasets", "5", "--skip", "5", "--table", str(tmp_path / "none.csv")])
    except ValueError as e:
        assert "no row to pool with" in str(e)
    else:
        raise AssertionError("pooled into a table without the first data sets")

# ----------------------------------------------------------------------------- sequence tasks
def test_sequence_task_rows_are_the_exact_chain_and_name_no_transition():
    """The sequence-task path (answers of N items, each length sampled anew, plain U₄ of the
    Potts order parameter): the data set's moments are the exact chain's, and no method names a
    transition for chains that have none."""
    T, sizes = C.SEQUENCE_GRID, C.SEQUENCE_SIZES
    decisions = []
    for c, chain in enumerate(NULLS):
        for d in range(3):
            k = jax.random.fold_in(jax.random.fold_in(jax.random.key(2027), c), d)
            rows = C.sequence_task_rows(k, chain, T, sizes, n_sequences=800, n_boot=60)
            if chain.q == 2 and d == 0:             # for q = 2 the Potts order parameter is |m|
                for r in rows:
                    if r["observable"] in ("binder", "abs_magnetisation"):
                        exact = chain.exact_moments(r["T"], r["L"])[r["observable"]]
                        # (+ 2e-3: deep in the ordered phase 800 draws can all agree, error 0)
                        assert abs(r["mean"] - exact) < 4.5 * r["stderr"] + 2e-3, r
            decisions.append(C.decide_sequence_task(jax.random.fold_in(k, 2), rows))
    rates = C.rates(decisions)
    assert set(rates) == {"binder_crossing", "chi_peak", "binder_collapse"}
    for m, r in rates.items():
        assert r["n_named"] == 0, (m, r)


def test_the_sequence_task_path_finds_a_transition_at_sizes_that_resolve_it():
    """Curie–Weiss (T_c = 1) as answers of 64 … 1,024 items: the same decisions find it, within
    their errors; on the default lengths 4 and 8 they cannot (the stored power is 0)."""
    T = np.round(np.linspace(0.9, 1.1, 8), 4)
    decisions = [C.decide_sequence_task(jax.random.fold_in(jax.random.key(11), d),
                                        C.curie_weiss_sequence_rows(
                                            jax.random.fold_in(jax.random.key(10), d), T,
                                            (64, 256, 1024), n_sequences=3000, n_boot=60))
                 for d in range(6)]
    r = C.rates(decisions, truth=1.0)["binder_crossing"]
    assert r["n_named"] >= 5 and r["cover_2sigma"] >= 0.8, r
    stored = C.measured_rates("binder_crossing", 800, C.SEQUENCE_GRID, path="sequence",
                              sizes=C.SEQUENCE_SIZES)
    assert stored.null_sets >= 200 and stored.grid_matched and stored.power == 0.0


def test_the_two_paths_read_their_own_null_rows():
    rows = [dict(system="text null", kind="null", n=96, sizes="20 40", method="binder_crossing",
                 refits="", datasets=200, named=0.0),
            dict(system="answers null", kind="null_sequence", n=128, sizes="4 8",
                 method="binder_crossing", refits="", datasets=100, named=0.02),
            dict(system="curie_weiss, sequence task", kind="transition", n=128, sizes="4 8",
                 method="binder_crossing", refits="", datasets=50, named=0.5)]
    text = C.measured_rates("binder_crossing", 96, C.PRESET_GRIDS["cpu"], rows)
    assert (text.null_sets, text.false_positives) == (200, 0)
    seq = C.measured_rates("binder_crossing", 500, C.SEQUENCE_GRID, rows, path="sequence",
                           sizes=(8, 4))
    assert (seq.level, seq.null_sets, seq.false_positives, seq.power) == (128, 100, 2, 0.5)
    assert seq.grid_matched and not seq.resolved
    other = C.measured_rates("binder_crossing", 500, C.SEQUENCE_GRID, rows, path="sequence",
                             sizes=(4, 8, 16))            # other lengths: power not measured
    assert np.isnan(other.power) and not other.grid_matched
    row = C.annotate(dict(method="binder_crossing", value=np.nan, reason="no crossing"), 500,
                     C.SEQUENCE_GRID, path="sequence", sizes=(4, 8))
    assert row["rates_n"] == 128 and "not resolved" in row["reason"], row
    assert set(C.RATE_COLUMNS) <= set(row)


def test_the_sequence_grid_is_the_probes_default():
    from phasejax.probe.measure import ProbeSettings

    s = ProbeSettings()
    assert tuple(s.temperatures) == C.SEQUENCE_GRID and tuple(s.lengths) == C.SEQUENCE_SIZES


def test_a_named_t_c_carries_how_often_the_methods_intervals_held_the_truth():
    """The reference's coverage travels with the power; a coverage significantly below the
    nominal 68 % (one-sided binomial test) says the error is a lower bound."""
    from scipy.stats import binom

    grid, cpu = "long_range σ=0.5, cpu preset grid", C.PRESET_GRIDS["cpu"]

    def rows(cover):
        return [dict(system="null (Markov)", kind="null", n=1024, sizes="20 40",
                     method="binder_crossing", refits="", datasets=200, named=0.0),
                dict(system=grid, kind="transition", n=1024, sizes="21 41 81 161",
                     method="binder_crossing", refits="", datasets=40, named=0.5,
                     cover_1sigma=cover, cover_2sigma=0.9)]

    for k in range(21):                       # 20 data sets named one; k of them covered
        r = C.measured_rates("binder_crossing", 1024, cpu, rows(k / 20))
        assert r.covered_sets == 20 and r.cover_1sigma == k / 20
        assert r.under_covers() == (binom.cdf(k, 20, 0.6827) < 0.05), k
    assert [C.measured_rates("binder_crossing", 1024, cpu, rows(k / 20)).under_covers()
            for k in (9, 10)] == [True, False]              # P(≤ 9) = 0.026, P(≤ 10) = 0.068
    r = C.measured_rates("binder_crossing", 1024, cpu, rows(""))     # not measured
    assert np.isnan(r.cover_1sigma) and not r.under_covers() and r.coverage() == ""
    named = dict(method="binder_crossing", value=1.02, reason="crossing at 1.02")
    for cover, lower_bound in ((0.25, True), (0.7, False)):
        row = C.annotate(named, 1024, cpu, rows=rows(cover))
        assert row["cover_1sigma"] == cover and row["cover_2sigma"] == 0.9
        assert row["reason"].startswith("crossing at 1.02; its ±1σ interval held")
        assert ("the error is a lower bound" in row["reason"]) == lower_bound
    none = C.annotate(dict(named, value=np.nan, reason="no crossing"), 1024, cpu,
                      rows=rows(0.25))
    assert "±1σ" not in none["reason"] and "not resolved" in none["reason"]
