"""Free text as a lattice: the whole pipeline against a decoder whose text is a Markov chain.

A one-layer decoder whose attention and MLP outputs are zero predicts the next token from the
current one alone: its free generation is a Markov chain with transition matrix
``P_T(a → b) = softmax(ℓ(a)/T)_b``, read off the loaded model itself. Saved as an ordinary
Hugging Face folder and loaded through the normal path, generated from its BOS token, mapped
to states and measured, it must reproduce the exact ``C(Δt)``, ``τ(N)`` and ``ξ`` of that chain
(from the BOS start, so the non-stationary first steps are included exactly).
"""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from phasejax.analysis.sequences import sequence_statistics
from phasejax.probe.decoder import Decoder, DecoderConfig
from phasejax.probe.hf_writer import save_folder
from phasejax.probe.loading import load_model
from phasejax.text import generate as G
from phasejax.text import spins

V, D, Q = 6, 16, 2


def markov_folder(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    c = DecoderConfig(vocab_size=V, hidden_size=D, intermediate_size=8, num_layers=1,
                      num_heads=2, num_kv_heads=2, tie_embeddings=False, max_position=128,
                      norm_eps=1e-6)
    model = Decoder(c, nnx.Rngs(0))
    rng = np.random.default_rng(3)
    # token a embeds as the unit vector e_a: after the final RMS norm it is √D e_a, so the
    # logits of a are √D · lm_head[a] = L[a]; same parity is favoured (a sticky 2-state view)
    emb = np.zeros((V, D), np.float32)
    emb[np.arange(V), np.arange(V)] = 1.0
    L = 1.6 * (np.arange(V)[:, None] % 2 == np.arange(V)[None, :] % 2) + rng.normal(
        0, 0.4, (V, V))
    head = np.zeros((D, V), np.float32)
    head[:V] = L / np.sqrt(D)
    model.embed_tokens.embedding[...] = jnp.asarray(emb)
    model.lm_head.kernel[...] = jnp.asarray(head)
    layer = model.layers[0]
    layer.self_attn.o_proj.kernel[...] = 0.0
    layer.mlp.down_proj.kernel[...] = 0.0
    tk = Tokenizer(models.WordLevel({f"t{i}": i for i in range(V)}, unk_token="t0"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    folder = save_folder(model, tmp_path / "markov", tk)
    (folder / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "t0"}))
    return folder


def exact(P, start, N, q_of):
    """Exact C_aa(Δt) trace (open-chain estimator), τ(N) trace and ξ of the chain's states."""
    p = [P[start]]
    for _ in range(N - 1):
        p.append(p[-1] @ P)
    p = np.array(p)                                       # (N, V) distribution at each site
    onehot = np.eye(Q)[q_of]                              # (V, Q)
    mu = p @ onehot                                       # (N, Q)
    powers = [np.eye(len(P))]
    for _ in range(N):
        powers.append(powers[-1] @ P)
    cov = np.zeros((N, N, Q))                             # Cov(X_a(t), X_a(s)), a summed later
    for t in range(N):
        for s in range(t, N):
            joint = (p[t][:, None] * powers[s - t]) @ onehot   # (V, Q): P(y_t=i, y_s∈b)
            for a in range(Q):
                cov[t, s, a] = cov[s, t, a] = onehot[:, a] @ joint[:, a] - mu[t, a] * mu[s, a]
    C = np.array([np.mean([cov[t, t + d].sum() for t in range(N - d)]) for d in range(1, N)])
    tau = cov.sum(axis=(0, 1)).sum() / N
    k = 2 * np.pi / N
    phase = np.exp(-1j * k * (np.arange(N)[:, None] - np.arange(N)[None, :]))
    S0 = cov.sum() / N
    Sk = float(np.real((cov.sum(-1) * phase).sum()) / N)
    xi = np.sqrt(S0 / Sk - 1) / (2 * np.sin(k / 2))
    return C, tau, xi


@pytest.fixture(scope="module")
def markov(tmp_path_factory):
    folder = markov_folder(tmp_path_factory.mktemp("m"))
    lm = load_model(folder)
    logits = np.asarray(lm.model(jnp.arange(V, dtype=jnp.int32)[:, None]), np.float64)[:, 0]
    return folder, lm, logits


def test_the_decoder_is_a_markov_chain(markov):
    _, lm, logits = markov
    ctx = np.asarray(lm.model(jnp.asarray([[1, 4, 2, 3]], jnp.int32)), np.float64)[0]
    assert np.allclose(ctx, logits[[1, 4, 2, 3]], atol=1e-5)   # the context does not matter


@pytest.mark.parametrize("T", [0.6, 1.5])
def test_statistics_of_generated_text_equal_the_exact_chain(markov, tmp_path, T):
    folder, lm, logits = markov
    N, n = 48, 512
    spec = G.FreeGeneration(temperatures=(T,), n_tokens=N, n_sequences=n, chunk=256, seed=1,
                            end_of_text="site")     # every token of the chain may be drawn
    G.run(lm, spec, tmp_path / "gen", progress=False)
    (tokens,) = G.load(tmp_path / "gen", spec)
    sm = spins.spin_map("token_bucket", lm.tokenizer, q=Q)
    y = spins.to_sites(sm, tokens, N=N).states
    assert y.shape == (n, N)
    z = logits / T
    P = np.exp(z - z.max(1, keepdims=True))
    P /= P.sum(1, keepdims=True)
    C, tau, xi = exact(P, 0, N, np.arange(V) % Q)
    assert C[0] > 0.02                                   # a correlation worth measuring
    st = sequence_statistics(jax.random.key(0), y, q=Q, T=T, max_lag=12, n_boot=200)
    C_est = np.trace(st.correlation.value)
    C_err = np.sqrt(np.trace(st.correlation.error ** 2))
    zC = (C_est - C[:12]) / C_err
    assert np.all(np.abs(zC) < 4.5) and np.mean(zC ** 2) < 3
    assert abs(st.tau_trace.value - tau) < 4 * st.tau_trace.error
    assert abs(st.xi.value - xi) < 4 * st.xi.error
    # a wrong temperature's chain is told apart
    zw = logits / (2 * T)
    Pw = np.exp(zw - zw.max(1, keepdims=True))
    Pw /= Pw.sum(1, keepdims=True)
    Cw, tauw, _ = exact(Pw, 0, N, np.arange(V) % Q)
    assert np.abs((C_est - Cw[:12]) / C_err).max() > 5


def test_resumed_generation_is_bit_identical(markov, tmp_path):
    _, lm, _ = markov
    spec = G.FreeGeneration(temperatures=(0.8, 1.2), n_tokens=16, n_sequences=12, chunk=4,
                            seed=5)
    G.run(lm, spec, tmp_path / "a", progress=False)
    G.run(lm, spec, tmp_path / "b", progress=False)
    for f in sorted((tmp_path / "b").glob("T*_c*.npz"))[::2]:
        f.unlink()                                       # a killed run: some chunks missing
    before = {f.name: f.stat().st_mtime_ns for f in (tmp_path / "b").glob("T*_c*.npz")}
    G.run(lm, spec, tmp_path / "b", progress=False)
    for f in (tmp_path / "b").glob("T*_c*.npz"):
        if f.name in before:
            assert f.stat().st_mtime_ns == before[f.name]  # finished chunks untouched
    for a, b in zip(G.load(tmp_path / "a", spec), G.load(tmp_path / "b", spec)):
        assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="another generation setting"):
        G.run(lm, dataclasses.replace(spec, seed=6), tmp_path / "b", progress=False)


def test_a_run_split_into_parts_gives_the_same_sequences(markov, tmp_path):
    """Parts generated separately (as on several machines), gathered into one folder, give the
    sequences of one run; chunks hold compact compressed ids."""
    import shutil

    _, lm, _ = markov
    spec = G.FreeGeneration(temperatures=(0.8, 1.2), n_tokens=16, n_sequences=12, chunk=4,
                            seed=5)
    lines = []
    G.run(lm, spec, tmp_path / "one", progress=False, report=lines.append)
    # without a terminal every chunk reports a line (a batch job's log shows progress)
    assert len(lines) == 6 and lines[-1].startswith("generated chunk 6 of 6 (T = 1.2"), lines
    for p in range(3):
        G.run(lm, spec, tmp_path / f"part{p}", progress=False, part=(p, 3))
    gathered = tmp_path / "gathered"
    gathered.mkdir()
    for p in range(3):
        for f in (tmp_path / f"part{p}").glob("*"):
            if not (gathered / f.name).exists():
                shutil.copy(f, gathered / f.name)
    for a, b in zip(G.load(tmp_path / "one", spec), G.load(gathered, spec)):
        assert np.array_equal(a, b)
    with np.load(next((tmp_path / "one").glob("T*_c*.npz"))) as z:
        assert z["tokens"].dtype == np.uint16
    assert len(list((tmp_path / "part1").glob("T*_c*.npz"))) == 2    # chunk 1 of each T


def test_the_end_of_text_policy_masks_special_tokens(markov, tmp_path):
    """Under end_of_text=mask no special token is ever sampled (t0, the config's BOS token,
    which the chain favours); under site it is sampled and is a site."""
    folder, lm, _ = markov
    for policy, present in (("mask", False), ("site", True)):
        spec = G.FreeGeneration(temperatures=(1.0,), n_tokens=32, n_sequences=64, chunk=64,
                                seed=2, end_of_text=policy)
        G.run(lm, spec, tmp_path / policy, progress=False)
        (tokens,) = G.load(tmp_path / policy, spec)
        assert G.banned_ids(lm, spec).tolist() == ([0] if policy == "mask" else [])
        assert bool(np.isin(tokens, [0]).any()) == present, policy
        sites = spins.to_sites(spins.spin_map("token_class", lm.tokenizer), tokens, N=32)
        assert sites.kept.all()


def test_the_job_refuses_text_too_short_for_its_sizes(markov, tmp_path):
    """A mapping whose sites run out before the largest size in more than 5 % of the sequences
    is refused in one line naming the temperature and size, before any statistic."""
    from experiments import text_criticality
    from test_sweep import composed

    folder, _, _ = markov
    cfg = composed(*TINY, f"lm.path={folder}", "criticality.temperatures=[1.0,2.0]",
                   "criticality.spins=[{name:whitespace,sizes:[16,64,128]}]")
    with pytest.raises(ValueError, match=r"T=1: only .* of the sequences reach N=128 "
                                         r"characters \(criticality.min_kept=0.95\)"):
        text_criticality.run(cfg, tmp_path)
    assert not (tmp_path / "statistics.csv").exists()


def test_bad_generation_settings_fail_before_generating(markov, tmp_path):
    _, lm, _ = markov
    base = G.FreeGeneration(temperatures=(1.0,), n_tokens=16, n_sequences=4, chunk=4)
    for bad, msg in ((dict(temperatures=(0.0, 1.0)), "> 0"),
                     (dict(n_tokens=500), "context"),
                     (dict(start="chat", text="hi"), "no chat template"),
                     (dict(start="text"), "neutral prompt")):
        with pytest.raises(ValueError, match=msg):
            G.run(lm, dataclasses.replace(base, **bad), tmp_path / "x", progress=False)
    assert not list((tmp_path).glob("x/T*"))
    nobos = lm._replace(special_tokens={})
    with pytest.raises(ValueError, match="beginning-of-sequence"):
        G.check(nobos, base)
    with pytest.raises(ValueError, match="q >= 2"):
        spins.spin_map("token_bucket", lm.tokenizer, q=1)


# ----------------------------------------------------------------------------- the job
J2, H2, T_JOB = 1.6, 0.3, (0.5, 1.0, 2.0)


def lumpable_folder(tmp_path):
    """A decoder whose text, read as token parity, is *exactly* a two-state Markov chain:
    logits ``J δ(par a, par b) + h par b`` depend on the parities alone, so the parity of the
    next token depends on the parity of the current one only (calibration.MarkovChain)."""
    folder = markov_folder(tmp_path)
    lm = load_model(folder)
    par = np.arange(V) % 2
    L = J2 * (par[:, None] == par[None, :]) + H2 * par[None, :]
    model = lm.model
    model.lm_head.kernel[...] = jnp.asarray(np.vstack([L / np.sqrt(D),
                                                       np.zeros((D - V, V))]), jnp.float32)
    from phasejax.probe.hf_writer import save_folder as save
    from tokenizers import Tokenizer

    tk = Tokenizer.from_file(str(folder / "tokenizer.json"))
    out = save(model, tmp_path / "lumpable", tk)
    (out / "tokenizer_config.json").write_text((folder / "tokenizer_config.json").read_text())
    return out


TINY = ("experiment=text_criticality", "lm=folder",
        f"criticality.temperatures=[{','.join(map(str, T_JOB))}]",
        "criticality.n_tokens=32", "criticality.n_sequences=128", "criticality.chunk=128",
        "criticality.spins=[{name:token_bucket,sizes:[8,16,32],params:{q:2}}]",
        "criticality.bootstrap=100", "criticality.toy.n_therm=30",
        "criticality.toy.n_measure=100", "criticality.toy.n_replicas=4",
        "criticality.toy.fit_bootstrap=4", "run.progress=false")


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    from experiments import text_criticality
    from phasejax.io import read_table
    from test_sweep import composed

    folder = lumpable_folder(tmp_path_factory.mktemp("lump"))
    out = tmp_path_factory.mktemp("job")
    text_criticality.run(composed(*TINY, f"lm.path={folder}"), out)
    return out, {f: read_table(out / f) for f in ("statistics.csv", "fss.csv", "toy_fit.csv",
                                                  "correlation.csv")}


def test_a_markov_decoder_through_the_whole_job_names_no_transition(job):
    from experiments import text_criticality
    from phasejax.analysis.scaling import TRANSITION_METHODS

    out, t = job
    for f in text_criticality.RESULT_FILES:
        assert (out / f).is_file(), f
    fss = t["fss.csv"]
    tc = [r for r in fss if r["quantity"] == "T_c"]
    assert {(r["side"], r["method"]) for r in tc} == {(s, m) for s in ("model", "toy")
                                                      for m in TRANSITION_METHODS}
    for r in tc:                                  # a chain without a transition: none, and why
        assert np.isnan(float(r["value"])) and len(r["reason"]) > 20, r
    for r in tc:           # text's decisions carry their measured rates at 128 → 96 sequences
        if r["side"] == "model":
            assert r["rates_n"] == 96 and r["fp_rate"] == 0.0 and 0 < r["fp_upper95"] < 0.05
            assert not r["power"] >= 0.9 and "not resolved" in r["reason"], r
        else:
            assert r["rates_n"] == "" and "not resolved" not in r["reason"], r
    bridge = next(r for r in fss if r["method"] == "bridge")
    assert bridge["rates_n"] == 96 and bridge["fp_rate"] == 0.0 and "of 400" in bridge["rates"]
    onset = [r for r in fss if r["method"] == "tau_slope"]
    assert onset and all(r["quantity"] == "T_onset" for r in onset)
    decay = [r for r in fss if r["method"] == "decay" and r["side"] == "model"]
    assert len(decay) == len(T_JOB)
    for r in decay:                               # exponential correlations: no power law
        assert r["reason"].startswith("no power law preferred"), r
    kept = next(r for r in fss if r["method"] == "selection")
    assert float(kept["value"]) == 1.0 and "end_of_text=mask" in kept["reason"]


@pytest.mark.parametrize("T", T_JOB)
def test_the_job_measures_the_exact_chain(job, T):
    from phasejax.lattice.calibration import MarkovChain

    _, t = job
    # end_of_text=mask bans t0 (the config's BOS): two tokens of parity 0 and three of
    # parity 1 remain, a field T ln n on each parity
    chain = MarkovChain(J2, (T * np.log(2), H2 + T * np.log(3)), start=0)
    got = {(int(r["L"]), r["observable"]): (float(r["mean"]), float(r["stderr"]))
           for r in t["statistics.csv"] if r["side"] == "model" and float(r["T"]) == T}
    z = []
    for N in (8, 16, 32):
        want = chain.exact_moments(T, N)
        for obs in ("tau", "binder_connected", "susceptibility"):
            v, e = got[(N, obs)]
            z.append((v - want[obs]) / e)
    assert np.max(np.abs(z)) < 4.5 and np.mean(np.square(z)) < 3, np.round(z, 2)
    half = MarkovChain(J2, (T / 2 * np.log(2), H2 + T / 2 * np.log(3)), start=0)
    wrong = [(got[(N, "tau")][0] - half.exact_moments(T / 2, N)["tau"]) / got[(N, "tau")][1]
             for N in (8, 16, 32)]                        # the chain at half the temperature
    assert np.mean(np.square(wrong)) > 25, np.round(wrong, 2)


@pytest.mark.parametrize("T", T_JOB)
def test_the_fitted_toy_with_the_texts_boundaries_agrees_with_the_chain(job, T):
    _, t = job
    fit = next(r for r in t["toy_fit.csv"] if float(r["T"]) == T)
    # pseudo-likelihood recovers the chain's coupling in units of T (Potts δ form)
    assert abs(float(fit["A"]) - J2 / T) < 4 * float(fit["A_err"]) + 0.05 * J2 / T
    stats = t["statistics.csv"]
    get = lambda side, obs: {int(r["L"]): (float(r["mean"]), float(r["stderr"]))
                             for r in stats if r["side"] == side and r["observable"] == obs
                             and float(r["T"]) == T}
    model, toy = get("model", "tau"), get("toy", "tau")
    for N in (8, 16, 32):
        (a, ea), (b, eb) = model[N], toy[N]
        assert abs(a - b) < 4 * np.hypot(ea, eb), (N, a, b)
    corr = lambda side: {int(r["lag"]): (float(r["mean"]), float(r["stderr"]))
                         for r in t["correlation.csv"] if r["side"] == side
                         and r["observable"] == "C_1_1" and float(r["T"]) == T}
    cm, ct = corr("model"), corr("toy")
    zc = [(cm[d][0] - ct[d][0]) / np.hypot(cm[d][1], ct[d][1]) for d in range(1, 9)]
    assert np.max(np.abs(zc)) < 4.5, np.round(zc, 2)


@pytest.mark.parametrize("override,message", [
    ("criticality.spins=[]", "criticality.spins is empty"),
    ("criticality.spins=[{name:nonsense,sizes:[8,16]}]", "unknown or repeated"),
    ("criticality.spins=[{name:token_bucket,sizes:[8,64]}]", "exceed n_tokens"),
    ("criticality.temperatures=[0.0,1.0]", "temperatures"),
    ("criticality.end_of_text=drop", "end_of_text"),
    ("criticality.min_kept=1.5", "min_kept"),
    ("criticality.part=[2,2]", "part"),
    ("criticality.start=middle", "start"),
    ("criticality.toy.fit_bootstrap=1", "fit_bootstrap=1 must be >= 2"),
])
def test_bad_settings_fail_before_any_model_is_loaded(override, message, tmp_path):
    from experiments import text_criticality
    from test_sweep import composed

    cfg = composed(*TINY, "lm.path=/nonexistent/model", override)
    with pytest.raises(ValueError, match=message):
        text_criticality.run(cfg, tmp_path)
    assert not any(tmp_path.iterdir())


def test_the_figure_titles_carry_each_decisions_measured_rates():
    from phasejax.plot.text import _tc_text

    row = dict(side="model", model="m", mapping="w", quantity="T_c", T="")
    fss = [dict(row, method="binder_crossing", value=float("nan"), error=float("nan"),
                power=0.05, fp_upper95=0.015),
           dict(row, method="chi_peak", value=1.02, error=0.03, power=0.9, fp_upper95=0.015,
                cover_1sigma=0.25),
           dict(row, method="xi_crossing", value=float("nan"), error=float("nan"))]
    text = _tc_text(fss, "model", "m", "w")
    assert "U₄] = none (power 5%)" in text
    assert "χ] = 1.02 ± 0.03 (false + ≤ 1.5%, ±1σ held the truth in 25%)" in text
    assert "ξ/N] = none" in text and "ξ/N] = none (" not in text
