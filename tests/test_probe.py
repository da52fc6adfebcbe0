"""The probe as a job: tidy tables from tiny saved checkpoints, sequence statistics, bad input."""

import itertools
import warnings
from pathlib import Path

import jax
import numpy as np
import pytest

from conftest import ROOT
from experiments import probe as probe_job
from phasejax.analysis.sequences import moment_statistics, potts_m
from phasejax.io import read_table
from phasejax.probe import tasks
from phasejax.probe.loading import load_model
from phasejax.probe.measure import ProbeSettings, measure, measure_choice, parse_items
from phasejax.probe.scoring import LowCapturedMass
from test_sweep import composed

PARITY = Path(ROOT) / "tests" / "parity"


def probe_cfg(*overrides):
    return composed("experiment=probe", "probe=quick", *overrides)


def test_choice_job_table_is_normalised_and_consistent(tmp_path):
    cfg = probe_cfg(f"lm.path={PARITY / 'qwen2'}", "task=die_roll")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LowCapturedMass)
        rows = probe_job.run(cfg, tmp_path)
    assert {f.name for f in tmp_path.iterdir()} >= set(probe_job.RESULT_FILES)
    table = read_table(tmp_path / "observables.csv")
    assert len(table) == len(rows)
    T = sorted({float(r["T"]) for r in table})
    assert T == [0.5, 1.0, 2.0]
    for prompt, t in itertools.product(["v0", "v1", "v2", "v3"], T):
        sel = {r["observable"]: float(r["mean"]) for r in table
               if r["prompt"] == prompt and float(r["T"]) == t}
        p = np.array([sel[f"p[{o}]"] for o in "123456"])
        assert p.sum() == pytest.approx(1.0, abs=1e-6)
        H = -(p * np.log(p)).sum()
        assert sel["entropy"] == pytest.approx(H, abs=1e-5)
        assert sel["order_parameter"] == pytest.approx((6 * p.max() - 1) / 5, abs=1e-6)
    # the across-prompt rows agree with the per-prompt distributions
    for t in T:
        P = np.array([[float(r["mean"]) for r in table if r["prompt"] == v and float(r["T"]) == t
                       and r["observable"].startswith("p[")] for v in ["v0", "v1", "v2", "v3"]])
        mi = [float(r["mean"]) for r in table if r["prompt"] == "all" and float(r["T"]) == t
              and r["observable"] == "mutual_information"][0]
        Hm = -(P.mean(0) * np.log(P.mean(0))).sum()
        assert mi == pytest.approx(Hm - np.mean([-(p * np.log(p)).sum() for p in P]), abs=1e-5)


def test_single_token_options_obey_fluctuation_dissipation():
    """With one-token options p_T ∝ exp(−E/T) exactly, so C(T) = dU/dT."""
    lm = load_model(PARITY / "llama")
    task = tasks.from_dict(dict(name="digits", kind="choice", options=list("0123456789"),
                                prompts=[{"id": f"v{i}", "chat": f"pick a number {i}"}
                                         for i in range(8)]))
    T = np.linspace(0.8, 1.2, 41)
    rows, arrays = measure_choice(lm, task, ProbeSettings(form="completion",
                                                          temperatures=tuple(T)))
    U = np.array([r["mean"] for r in rows if r["prompt"] == "v0" and r["observable"] == "energy"])
    C = np.array([r["mean"] for r in rows if r["prompt"] == "v0"
                  and r["observable"] == "specific_heat"])
    dU = np.gradient(U, T)
    assert np.allclose(C[5:-5], dU[5:-5], rtol=2e-3)


def test_checkpoint_chain_gives_one_table(tmp_path):
    chain = [str(PARITY / "qwen2"), str(PARITY / "olmo2"), str(PARITY / "gpt2")]
    cfg = probe_cfg("lm=chain", f"lm.checkpoints=[{','.join(chain)}]", "task=coin_flip",
                    "probe.seed_distribution=[0.5,0.5]")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LowCapturedMass)
        probe_job.run(cfg, tmp_path)
    table = read_table(tmp_path / "observables.csv")
    assert [int(c) for c in sorted({r["checkpoint"] for r in table})] == [0, 1, 2]
    assert {r["model"] for r in table} == {"qwen2", "olmo2", "gpt2"}
    phases = [r for r in table if r["observable"] == "phase"]
    assert len(phases) == 3 * 3 and all(0 <= float(r["mean"]) <= 3 for r in phases)


def test_bad_input_fails_before_loading(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        probe_job.run(probe_cfg("lm.path=/no/such/model"), tmp_path)
    with pytest.raises(ValueError, match="seed_distribution has 2 entries"):
        probe_job.run(probe_cfg("task=die_roll", "probe.seed_distribution=[0.5,0.5]"), tmp_path)
    with pytest.raises(ValueError, match="temperatures must be non-empty, each finite and > 0"):
        probe_job.run(probe_cfg("probe.temperatures=[0.0,1.0]"), tmp_path)
    lm = load_model(PARITY / "qwen2")
    with pytest.raises(ValueError, match="open-ended"):
        measure_choice(lm, tasks.load("first_name"), ProbeSettings())
    with pytest.raises(ValueError, match="no prompts"):
        measure(lm, tasks.load("coin_flip"), ProbeSettings(prompts=("v0", "zz")))
    long = tasks.from_dict(dict(name="long", kind="choice", options=["1", "2"],
                                terminator={"chat": "<end_of_turn>", "completion": " 0"},
                                prompts=[{"id": f"v{i}", "chat": "w " * 80} for i in range(8)]))
    with pytest.raises(ValueError, match="context"):
        measure(lm, long, ProbeSettings(form="completion"))
    assert not list(tmp_path.iterdir())


def test_parse_items_and_potts_order_parameter():
    task = tasks.load("digit_sequence")
    assert parse_items(task, " 3, 7, 7, 1.", 4) == [3, 7, 7, 1]
    assert parse_items(task, " 3, 7, 7, 1, 9", 4) == [3, 7, 7, 1]
    assert parse_items(task, " 3, 7", 4) is None
    assert parse_items(task, " 3, 17, 7, 1", 4) is None
    m = potts_m(np.array([[3, 3, 3, 3], [0, 1, 2, 3], [1, 1, 2, 2]]), q=10)
    assert np.allclose(m, [1.0, (10 / 4 - 1) / 9, (10 / 2 - 1) / 9])


def test_sequence_moments_match_exact_enumeration():
    """iid flips with p(heads)=0.7, N=6: sampled moments vs the exact binomial average."""
    N, p, T = 6, 0.7, 1.0
    exact = {}
    seqs = np.array(list(itertools.product([0, 1], repeat=N)))
    w = np.prod(np.where(seqs == 1, p, 1 - p), -1)
    m = potts_m(seqs, q=2)
    a, b, c = (w * m).sum(), (w * m**2).sum(), (w * m**4).sum()
    exact = dict(abs_magnetisation=a, m2=b, m4=c, binder=1 - c / (3 * b * b),
                 susceptibility=N * (b - a * a) / T)
    rng = np.random.default_rng(1)
    sample = potts_m((rng.random((4000, N)) < p).astype(int), q=2)
    got = moment_statistics(jax.random.key(0), sample, N=N, T=T, n_boot=300)
    for k, v in exact.items():
        mean, err = got[k]
        assert abs(mean - v) < 4 * err, (k, mean, err, v)
        assert err > 0


def test_sequence_job_on_a_tiny_model(tmp_path):
    cfg = probe_cfg(f"lm.path={PARITY / 'qwen2'}", "task=coin_sequence", "probe.lengths=[2,3]",
                    "probe.n_samples=16", "probe.form=completion")
    probe_job.run(cfg, tmp_path)
    table = read_table(tmp_path / "observables.csv")
    rates = [float(r["mean"]) for r in table if r["observable"] == "parse_rate"]
    assert len(rates) == 2 * 3 and all(0 <= x <= 1 for x in rates)
    assert {int(r["L"]) for r in table} == {2, 3}


NAMES = ["<unk>", "<eos>", "Emma", "Liam", "Noah", "42", "."]


def name_writer():
    """A real decoder whose next token depends on the current one only (the Markov
    construction of tests/test_text_criticality.py): after any prompt (all unknown words) it
    writes Emma, Liam, Noah or 42 with probabilities 3:1:1:1, Emma followed by "." half the
    time, then ends."""
    import jax.numpy as jnp
    from flax import nnx
    from tokenizers import Tokenizer, models, pre_tokenizers

    from phasejax.probe.decoder import Decoder, DecoderConfig
    from phasejax.probe.loading import LoadedModel

    V, D = len(NAMES), 16
    c = DecoderConfig(vocab_size=V, hidden_size=D, intermediate_size=8, num_layers=1,
                      num_heads=2, num_kv_heads=2, tie_embeddings=False, max_position=256,
                      norm_eps=1e-6)
    model = Decoder(c, nnx.Rngs(0))
    ix = {t: i for i, t in enumerate(NAMES)}
    logp = np.full((V, V), -30.0)
    logp[ix["<unk>"], [ix["Emma"], ix["Liam"], ix["Noah"], ix["42"]]] = np.log([3, 1, 1, 1])
    logp[[ix["Liam"], ix["Noah"], ix["42"], ix["."]], ix["<eos>"]] = 0.0
    logp[ix["Emma"], [ix["."], ix["<eos>"]]] = 0.0
    emb = np.zeros((V, D), np.float32)
    emb[np.arange(V), np.arange(V)] = 1.0            # after the final RMS norm: √D e_a
    head = np.zeros((D, V), np.float32)
    head[:V] = logp / np.sqrt(D)
    model.embed_tokens.embedding[...] = jnp.asarray(emb)
    model.lm_head.kernel[...] = jnp.asarray(head)
    model.layers[0].self_attn.o_proj.kernel[...] = 0.0
    model.layers[0].mlp.down_proj.kernel[...] = 0.0
    tk = Tokenizer(models.WordLevel(ix, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return LoadedModel(model, c, tk, None, (ix["<eos>"],))


def test_open_task_counts_parsed_answers():
    """Sampled answers of a real decoder whose answer distribution is known: every row is the
    statistic of the answer counts, and the counts are draws from 3:1:1 over Emma, Liam,
    Noah with 1 in 6 answers ("42") unparsed."""
    from scipy import stats

    from phasejax.analysis import distributions as D
    from phasejax.probe import measure as M

    lm, task, n = name_writer(), tasks.load("first_name"), 600
    rows, arrays = M.measure_open(lm, task, ProbeSettings(form="completion",
                                                          temperatures=(1.0,), n_samples=n,
                                                          prompts=("v0", "v1")))
    get = {(r["prompt"], r["observable"]): r for r in rows}
    assert arrays["answers_T1"].tolist() == ["Emma", "Liam", "Noah"]
    counts = arrays["counts_T1"]
    for j, v in enumerate(("v0", "v1")):
        p = counts[j] / counts[j].sum()
        assert get[(v, "parse_rate")]["mean"] == counts[j].sum() / n
        assert get[(v, "entropy")]["mean"] == pytest.approx(-(p * np.log(p)).sum(), abs=1e-6)
        assert get[(v, "top1_mass")]["mean"] == pytest.approx(p.max(), abs=1e-12)
        assert get[(v, "n_unique")]["mean"] == 3
        observed = [*counts[j], n - counts[j].sum()]
        assert stats.chisquare(observed, np.array([3, 1, 1, 1]) / 6 * n).pvalue > 1e-3, observed
        H, dH = get[(v, "entropy")]["mean"], get[(v, "entropy")]["stderr"]
        assert 0 < dH < 0.1 and abs(H - D.entropy(np.array([0.6, 0.2, 0.2]))) < 4 * dH
    P = counts / counts.sum(1, keepdims=True)
    mi = get[("all", "mutual_information")]["mean"]
    want = float(D.entropy(P.mean(0))) - np.mean([float(D.entropy(x)) for x in P])
    assert mi == pytest.approx(want, abs=1e-6)
    assert 0 <= mi < 0.01                                  # same distribution after both prompts
    assert get[("all", "n_unique")]["mean"] == 3
