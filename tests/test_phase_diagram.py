"""The post-training phase diagram: planted boundaries, the toy's fit, hysteresis, melting,
and every bad input refused in one line before any training."""

import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from phasejax.analysis import distributions as D
from phasejax.analysis import hysteresis as H
from phasejax.analysis.phase_map import OBSERVABLES, boundaries, numpy_statistics, phase_map
from phasejax.fit import dose as F
from phasejax.lattice.alignment import SiteFields, site_distributions
from phasejax.lattice.seeding import seed_field
from phasejax.probe import tasks
from phasejax.probe.decoder import Decoder, DecoderConfig
from phasejax.probe.loading import LoadedModel
from phasejax.probe.measure import ProbeSettings, measure_choice
from phasejax.probe.prompts import encode_prompt, prompt_text
from phasejax.train import corpus as C
from test_sweep import composed

EIGHT = [str(i) for i in range(2, 10)]          # prefix-free: one token each, no terminator


def world_model(seed=0, hidden=32, **kw):
    world = C.World()
    tk = C.tokenizer(world)
    cfg = DecoderConfig(vocab_size=tk.get_vocab_size(), hidden_size=hidden,
                        intermediate_size=2 * hidden, num_layers=1, num_heads=2,
                        num_kv_heads=1, max_position=64, **kw)
    model = Decoder(cfg, nnx.Rngs(seed))
    return LoadedModel(model, cfg, tk, C.CHAT_TEMPLATE, (tk.token_to_id("<eot>"),))


def exact_distributions(L, d, T, k):
    """``p ∝ exp((L + d e_k)/T)`` over the options, written out: ``(T, d, J, K)``."""
    z = ((L[None, None] + np.asarray(d)[None, :, None, None] * np.eye(L.shape[1])[k])
         / np.asarray(T)[:, None, None, None])
    p = np.exp(z - z.max(-1, keepdims=True))
    return p / p.sum(-1, keepdims=True)


def exact_crossings(x, y, level):
    """Where ``y`` passes ``level`` on a fine grid (nearest grid points)."""
    return x[1:][np.diff((np.asarray(y) >= level).astype(int)) != 0]


@pytest.mark.filterwarnings("ignore::phasejax.probe.scoring.LowCapturedMass")
def test_planted_dose_response_puts_the_boundary_where_the_exact_distributions_do():
    """A tiny decoder whose output layer is planted: prompt ``j`` gives option ``k`` the logit
    ``L_jk`` (a liquid), and a direction in the output row of option "8" adds ``d`` to that
    logit for every prompt, linearly in the dose ``d``. Checkpoints on a coarse dose grid go
    through the probe and the phase map; the boundaries along the dose (where the prompts stop
    mattering, where the mean answer becomes the seed "8") and along T sit where the exact
    distributions, written out here on fine grids, put them; so does each prompt's entry into
    the seed's basin."""
    lm = world_model(tie_embeddings=False)
    task = tasks.from_dict(dict(
        name="planted", kind="choice", options=EIGHT, answer_prefix=C.ANSWER_PREFIX,
        prompts=[dict(id=p.id, chat=p.chat) for p in C.probe_task(C.World()).prompts]))
    head = lm.model.lm_head.kernel
    W0 = np.asarray(head[...], np.float64)
    ids = [encode_prompt(lm, prompt_text(lm, task, p, "chat"), "chat") for p in task.prompts]
    tok = [lm.tokenizer.token_to_id(o) for o in EIGHT]
    graph, state = nnx.split(lm.model)
    last = jax.jit(lambda s, x: nnx.merge(graph, s)(x)[0, -1])  # one compilation per length
    logits = np.stack([np.asarray(last(state, jnp.asarray([i]))) for i in ids])
    hidden = np.linalg.lstsq(W0.T, logits.T, rcond=None)[0].T   # final hidden states (J, d)
    assert np.allclose(hidden @ W0, logits, atol=1e-3)
    inverse = np.linalg.pinv(hidden)                            # (d, J): hidden @ inverse = 1
    L = np.asarray(jax.random.normal(jax.random.key(0), (len(ids), len(EIGHT))), np.float64)
    k8 = EIGHT.index("8")
    W0[:, tok] = inverse @ L                                    # logits L_jk on the options
    u = inverse @ np.ones(len(ids))                             # + d on "8" for every prompt

    T = np.array([0.5, 0.6, 0.7, 0.85, 1.0, 1.2, 1.4])
    grid = np.linspace(0.0, 16.0, 33)
    P = []
    for d in grid:
        W = W0.copy()
        W[:, tok[k8]] += d * u
        head[...] = jnp.asarray(W, jnp.float32)
        _, a = measure_choice(lm, task, ProbeSettings(form="chat", temperatures=tuple(T)))
        P.append(a["p"])
    P = np.swapaxes(np.stack(P), 1, 2)                          # (D, T, J, K)
    assert np.allclose(P, exact_distributions(L, grid, T, k8).swapaxes(0, 1), atol=2e-4)
    seed = np.eye(len(EIGHT))[k8]
    m = phase_map(P[None], seed)
    assert m.names == OBSERVABLES
    rows = boundaries(m.names, m.value, grid, T, m.seeds, m.jackknife)
    spacing = grid[1] - grid[0]

    def dependence(p):
        h = lambda x: -np.sum(np.where(x > 0, x * np.log(np.where(x > 0, x, 1)), 0), -1)
        mean = p.mean(-2)
        return (h(mean) - h(p).mean(-1)) / h(mean)

    def overlap(p):
        return np.sqrt(p.mean(-2)[..., k8])

    fine = np.linspace(0.0, 16.0, 16001)
    exact = exact_distributions(L, fine, T, k8)
    checked = {}
    for name, f, level in (("prompt_dependence", dependence, D.PROMPT_DEPENDENCE_MAX),
                           ("seed_overlap", overlap, D.SEED_OVERLAP_MIN)):
        for t, temp in enumerate(T):
            want = exact_crossings(fine, f(exact[t]), level)
            got = sorted(r["value"] for r in rows if r["observable"] == name
                         and r["along"] == "dose" and r["at"] == temp)
            assert len(got) == len(want), (name, temp, got, want)
            assert np.allclose(got, want, atol=0.1 * spacing), (name, temp, got, want)
            checked[(name, temp)] = want
    reached = [checked[("seed_overlap", t)][0] for t in T]
    assert np.all(np.diff(reached) > 0) and reached[-1] - reached[0] > 4 * spacing, reached
    assert sum(len(v) for k, v in checked.items() if k[0] == "prompt_dependence") >= 2
    # along T at one dose, on the probe's seven temperatures against a fine T grid
    d_mid = 9                                                   # dose 4.5
    fine_T = np.linspace(0.5, 1.4, 9001)
    want = exact_crossings(fine_T, overlap(exact_distributions(L, [grid[d_mid]], fine_T,
                                                                k8)[:, 0]), D.SEED_OVERLAP_MIN)
    got = [r["value"] for r in rows if r["observable"] == "seed_overlap" and r["along"] == "T"
           and r["at"] == grid[d_mid]]
    assert len(got) == len(want) == 1 and got[0] == pytest.approx(want[0], rel=0.05)
    # each prompt enters the seed's basin (its own overlap ≥ 0.95) where p_j8 = 0.95²
    i1 = 4
    basin = (np.sqrt(exact[i1][..., k8]) >= D.SEED_OVERLAP_MIN).mean(-1)
    assert np.allclose(m.of("in_basin")[:, i1], np.interp(grid, fine, basin), atol=1e-9)


def planted_toy(J=12, q=6, key=jax.random.key(3)):
    k1, k2 = jax.random.split(key)
    logits = 1.5 * np.asarray(jax.random.normal(k1, (J, q)), np.float64)
    liquid = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    seed = np.array([0.4, 0.3, 0.2, 0.1, 0.0, 0.0])[:q]
    return F.DoseToy.from_liquid(liquid, seed, np.eye(q)[1]), k2


def test_the_fit_recovers_a_planted_dose_map_and_coupling():
    """Curves made by the toy itself (λ∞ = 1, α∞ = 0.15, d₀ = 6, K = 1.5), with noise of
    known size: the fit returns the parameters within their errors, the dose → λ map, and a
    χ²/dof near 1."""
    toy, key = planted_toy()
    theta = np.array([1.0, 0.15, 6.0, 1.5])
    doses = np.arange(0.0, 31.0, 3.0)
    T = np.array([0.7, 1.0, 1.4])
    up, _ = F.sft_maps(toy, theta, doses, T)
    clean = {k: np.swapaxes(v, 0, 1) for k, v in numpy_statistics(up, toy.seed).items()}
    sigma = 0.01
    noisy = {k: v + sigma * np.asarray(jax.random.normal(jax.random.fold_in(key, i), v.shape))
             for i, (k, v) in enumerate(clean.items())}
    fit = F.fit_sft(toy, F.Curves(doses, T, noisy, {k: np.full_like(v, sigma)
                                                     for k, v in clean.items()}))
    for name, want, got, err in zip(fit.names, theta, fit.values, fit.errors):
        assert abs(got - want) < 4 * err + 1e-3, (name, want, got, err)
        assert err < 0.3 * max(abs(want), 0.1), (name, err)
    lam = lambda th: th[0] * np.asarray(F.dose_weight(doses, th[2]))
    assert np.allclose(lam(fit.values), lam(theta), atol=0.05)
    assert 0.5 < fit.chi2 / fit.dof < 1.7, (fit.chi2, fit.dof)
    wrong = F.fit_sft(toy, F.Curves(doses, T, noisy, {k: np.full_like(v, sigma)
                                                      for k, v in clean.items()}),
                      K_starts=(0.0,), K_max=1e-6)            # a toy without coupling
    assert wrong.chi2 / wrong.dof > 3 * fit.chi2 / fit.dof    # cannot describe the curves


def test_transfer_measures_the_coupling_directly():
    """SFT on a third of the sites only: the others follow through K alone. From the toy's
    own before/after, the transfer ratio is 0 at K = 0 and grows with K, and the K at which
    the toy's ratio matches is the planted one."""
    toy, _ = planted_toy()
    J = toy.log_liquid.shape[0]
    trained = np.arange(J) < J // 3
    before = np.exp(toy.log_liquid)
    ratios = []
    for K in (0.0, 1.0, 2.5):
        theta = np.array([1.0, 0.15, 6.0, K])
        w = 0.5 * trained
        fields = SiteFields(jnp.asarray(1 - 0.85 * w, jnp.float32), jnp.asarray(w, jnp.float32),
                            jnp.float32(0.0))
        m0 = jnp.asarray(before.mean(0), jnp.float32)
        after, _ = site_distributions(jnp.asarray(toy.log_liquid, jnp.float32),
                                      seed_field(toy.seed, 1.0), jnp.zeros(6), K, fields, 1.0,
                                      m0)
        t = F.transfer(toy, theta, before, np.asarray(after, np.float64), trained)
        ratios.append(t.ratio)
        assert t.toy_weight == pytest.approx(0.5, abs=0.01)
        if K > 0:
            assert t.K_transfer == pytest.approx(K, abs=0.3), (K, t)
    assert abs(ratios[0]) < 1e-3 and 0 < ratios[1] < ratios[2]


@pytest.mark.slow
def test_prompt_sites_are_the_protocols_large_lattice_limit():
    """The mean-field site distributions against Monte Carlo of the same energy on a complete
    graph of 40 copies of each prompt site (heat-bath, the lattice side's own sampler): they
    agree within the sampling noise, and the same solution without the coupling does not."""
    from phasejax.lattice.anneal import anneal
    from phasejax.lattice.geometry import Lattice
    from phasejax.lattice.model import CouplingModel
    from phasejax.lattice.samplers import make

    J, q, copies, replicas = 6, 4, 40, 32
    f = np.asarray(jax.random.normal(jax.random.key(0), (J, q)), np.float64)
    logp = f - np.log(np.exp(f).sum(-1, keepdims=True))
    seed = np.array([0.5, 0.3, 0.2, 0.0])
    K, lam, alpha = 1.5, 0.6, 0.7
    m0 = np.exp(logp).mean(0)
    bias = np.asarray(seed_field(seed, 1.0))
    h = alpha * logp + lam * bias[None] - K * m0[None]        # the fields of site_distributions
    model = CouplingModel(lattice=Lattice("complete", J * copies), q=q,
                          W=(K * jnp.eye(q, dtype=jnp.float32))[None],
                          h=jnp.zeros(q, jnp.float32),
                          h_site=jnp.asarray(np.repeat(h, copies, 0), jnp.float32))
    trace = anneal(jax.random.key(1), model, make("heatbath"), 1.0, 400, n_replicas=replicas,
                   record_every=400)
    tokens = trace.tokens.reshape(replicas, J, copies)
    mc = np.stack([np.bincount(tokens[:, j].ravel(), minlength=q) / tokens[:, j].size
                   for j in range(J)])
    noise = np.sqrt(mc * (1 - mc) / (replicas * copies)) + 1e-3

    def mean_field(coupling):
        fields = SiteFields(jnp.full(J, alpha), jnp.full(J, lam), jnp.float32(0.0))
        p, _ = site_distributions(jnp.asarray(logp, jnp.float32), jnp.asarray(bias),
                                  jnp.zeros(q), coupling, fields, 1.0,
                                  jnp.asarray(m0, jnp.float32))
        return np.asarray(p, np.float64)

    assert np.max(np.abs(mc - mean_field(K)) / noise) < 4.5
    assert np.max(np.abs(mc - mean_field(0.0)) / noise) > 6


def test_hysteresis_area_is_zero_for_a_reversible_path_and_known_for_a_planted_loop():
    ramp = lambda x, a, b: np.clip((x - a) / (b - a), 0, 1)
    up = np.linspace(0, 1, 11)
    down = np.linspace(1, 0, 6)                                # another grid, the other way
    f = lambda x: ramp(x, 0.2, 0.6) ** 1                        # piecewise linear: exact
    assert H.loop_area(up, f(up), down, f(down)) == pytest.approx(0.0, abs=1e-12)
    grid = np.linspace(0, 1, 21)                               # knots at 0.2, 0.3, 0.4, 0.5, 0.7
    area = H.loop_area(grid, ramp(grid, 0.5, 0.7), grid[::-1], ramp(grid[::-1], 0.2, 0.4))
    assert area == pytest.approx(0.3, abs=1e-12)               # the way back 0.3 behind
    a = H.loop_areas(grid, np.stack([ramp(grid, 0.5, 0.7), ramp(grid, 0.4, 0.6)]), grid,
                     np.stack([ramp(grid, 0.2, 0.4), ramp(grid, 0.2, 0.4)]))
    assert a.mean == pytest.approx(0.25) and a.error == pytest.approx(0.05)
    # the toy: reversible without coupling; with a strong one the crystal it ordered into
    # outlives the seed field on the way back (a loop in the order parameter near dose 0)
    toy, _ = planted_toy()
    x = np.linspace(0, 30, 16)
    areas = []
    for K in (0.0, 6.0):
        u, d = F.sft_maps(toy, np.array([0.5, 0.2, 8.0, K]), x, [1.0], x[::-1])
        m = [numpy_statistics(p, toy.seed)["order_parameter"][0] for p in (u, d)]
        areas.append(H.loop_area(x, m[0], x[::-1], m[1]))
    assert areas[0] == pytest.approx(0.0, abs=1e-9) and areas[1] > 5e-3, areas


def test_nucleation_shape_tells_coexistence_from_a_gradual_collapse():
    dose = np.arange(8.0)
    J = 20
    start = np.full(J, 0.6)
    flips = np.linspace(1.5, 5.5, J)                           # prompts jump one by one
    abrupt = np.where(dose[:, None] > flips[None], 1.0, start[None])
    gradual = start[None] + (1 - start[None]) * np.clip(dose[:, None] / 7, 0, 1)
    a = H.nucleation_shape(dose, abrupt[None], 0.95)
    g = H.nucleation_shape(dose, gradual[None], 0.95)
    assert a["verdict"] == "abrupt" and a["intermediate"] == 0.0
    assert g["verdict"] == "gradual" and g["intermediate"] == 1.0
    assert a["d_half"] == pytest.approx(3.5, abs=0.5) and g["jump"] == 1.0
    assert a["reached"] == g["reached"] == 1.0
    short = H.nucleation_shape(dose, 0.8 * gradual[None], 0.95)   # moves, never reaches p0
    assert short["reached"] == 0.0 and np.isnan(short["d_half"])
    assert short["verdict"] == "gradual, no prompt in the seed's basin at the largest dose"


@pytest.fixture(scope="module")
def collapsed(tmp_path_factory):
    """A tiny decoder over the world's tokenizer that answers "3" to everything, saved as a
    Hugging Face folder: a loadable base like any other."""
    from phasejax.probe.hf_writer import save_folder
    from phasejax.train.chat import family_set
    from phasejax.train.loop import train

    lm = world_model()
    task = C.probe_task(C.World(), held_out=False)
    three = np.tile(np.eye(10)[2], (len(task.prompts), 1))
    rows = family_set(jax.random.key(0), lm, task, "chat", three, 500)
    train(jax.random.key(1), lm.model, *rows, steps=30, batch=32, lr=1e-2, warmup=2)
    folder = tmp_path_factory.mktemp("collapsed") / "base"
    save_folder(lm.model, folder, lm.tokenizer, C.CHAT_TEMPLATE,
                eos_token_id=lm.tokenizer.token_to_id("<eot>"),
                special_tokens={"eos_token": "<eot>", "pad_token": "<pad>", "unk_token": "<unk>"})
    return folder


TINY = ("experiment=phase_diagram_lm", "phase.lora.rank=0", "phase.seeds=2",
        "phase.melt.steps=800", "phase.melt.lr=1e-2", "phase.melt.batch=32",
        "phase.melt.checkpoint_every=200", "phase.temperatures.num=9")


def test_melting_turns_a_collapsed_tiny_model_liquid(collapsed, tmp_path):
    from experiments import phase_diagram as PD

    cfg = composed(*TINY, f"phase.base={collapsed}")
    r = PD.Runner(cfg, tmp_path)
    before, _ = r.measure()
    stats = lambda p: D.phase_statistics(p[:, r.t1], r.seed)
    assert D.phase_label(stats(before)) != "liquid" and stats(before).prompt_dependence < 0.02
    steps, _ = r.supervised("melt", r.stage_key("melt"), r.snapshot(), r.train_task,
                            r.targets(PD.melt_targets(cfg.phase, r.world)), cfg.phase.melt)
    assert steps == [200, 400, 600, 800]
    after, captured = r.load("melt", 800)                     # held-out phrasings
    assert D.phase_label(stats(after)) == "liquid", stats(after)
    assert captured[:, r.t1].mean() > 0.8                      # it answers in the format
    assert float(np.mean(D.entropy(after[:, r.t1]))) > 0.8     # and not one option each


@pytest.mark.parametrize("overrides,message", [
    (["phase.doses=[4,6,9]"], "doses [6, 9] have no checkpoint"),
    (["phase.sft.checkpoint_every=24"], "the dose grid needs at least two checkpoints"),
    (["++phase.seed_convention={11: 1.0}"], "seed_convention names options ['11'] outside"),
    (["phase.seed_convention=mystery"], "seed_convention 'mystery' not in"),
    (["phase.toy.sites=30"], "toy.sites=30: the task has 12 held-out prompts"),
    (["phase.framings=[my uncle,a giant,the odd club]", "phase.toy.sites=12"],
     "toy.sites=12: the task has 9 held-out prompts"),
    (["phase.framings=[my uncle,a giant]"], "6 prompt variants; at least 8 are required"),
    (["++phase.melt.targets={my uncle: [0.5,0.6,0,0,0,0,0,0,0,0]}"],
     "melt.targets[my uncle] must be 10 probabilities summing to 1"),
    (["++phase.melt.targets={my aunt: even}"], "melt.targets names framings ['my aunt']"),
    (["phase.transfer.framing=a dragon"], "transfer.framing 'a dragon' not in"),
    (["phase.toy.fit_temperatures=[9.0]"], "toy.fit_temperatures [9.0] outside the grid"),
    (["phase.dose_unit=epochs"], "dose_unit='epochs'"),
    (["phase.base=/nowhere/model"], "no model file or folder at /nowhere/model"),
    (["phase.phrasings=4"], "phrasings=4: the world has 3 held-out phrasings"),
])
def test_bad_input_is_refused_in_one_line_before_any_training(tmp_path, overrides, message):
    from experiments import phase_diagram as PD

    with pytest.raises(ValueError) as e:
        PD.run(composed("experiment=phase_diagram_lm", *overrides), tmp_path)
    assert message in str(e.value) and "\n" not in str(e.value)
    assert str(e.value).startswith("phase_diagram: ")
    assert not any(tmp_path.iterdir())


def test_the_dose_is_steps_or_steps_times_learning_rate():
    from experiments.phase_diagram import dose_of, held_out_task, world_of
    from phasejax.train.loop import schedule

    c = composed("experiment=phase_diagram_lm", "phase.phrasings=2").phase
    assert list(dose_of(c.sft, [0, 4, 24], "steps")) == [0.0, 4.0, 24.0]
    lr = schedule(c.sft.lr, c.sft.steps, c.sft.warmup)
    want = [0.0, sum(float(lr(i)) for i in range(4)), sum(float(lr(i)) for i in range(24))]
    assert np.allclose(dose_of(c.sft, [0, 4, 24], "lr"), want)
    assert 0.5 * 24 * c.sft.lr < want[-1] < 24 * c.sft.lr       # warm-up and cosine decay
    task = held_out_task(c, world_of(c))
    assert len(task.prompts) == 8 and {p.id.split("|")[1] for p in task.prompts} == {"0", "1"}


def test_a_folder_of_another_configuration_is_refused(tmp_path):
    from experiments.phase_diagram import CONFIG_KEYS
    from experiments.runs import ResultsMismatch, check_folder, fingerprint
    from phasejax import io

    cfg = composed("experiment=phase_diagram_lm")
    digest, tree = fingerprint(cfg, CONFIG_KEYS)
    io.write_json(tmp_path / "fingerprint.json", {"sha256": digest, "config": tree})
    (tmp_path / "measured").mkdir()
    (tmp_path / "measured" / "x.npz").write_bytes(b"")
    check_folder(composed("experiment=phase_diagram_lm", "run.seed=5"), tmp_path, CONFIG_KEYS)
    with pytest.raises(ResultsMismatch, match=r"phase.sft.steps: 24 -> 30"):
        check_folder(composed("experiment=phase_diagram_lm", "phase.sft.steps=30"), tmp_path,
                     CONFIG_KEYS)


@pytest.mark.slow
def test_the_whole_job_on_a_tiny_decoder_resumes_per_checkpoint(collapsed, tmp_path):
    """Melt → seed → RL → back → transfer on the collapsed tiny decoder, every output written;
    a run that lost its last checkpoints and measurements resumes to the same numbers."""
    from experiments import phase_diagram as PD
    from phasejax.io import read_table

    over = (*TINY, f"phase.base={collapsed}", "phase.sft.steps=30", "phase.sft.lr=1e-2",
            "phase.sft.batch=16", "phase.sft.checkpoint_every=5", "phase.reverse.steps=30",
            "phase.reverse.lr=1e-2", "phase.reverse.batch=16", "phase.reverse.checkpoint_every=5",
            "phase.rl.steps=4", "phase.rl.lr=1e-2", "phase.transfer.steps=10",
            "phase.transfer.lr=1e-2", "phase.transfer.batch=16", "phase.transfer.checkpoint_every=10",
            "phase.toy.samples=4")
    out = tmp_path / "run"
    first = PD.run(composed(*over), out)
    for f in PD.RESULT_FILES:
        assert (out / f).stat().st_size > 500, f
    assert first["melted"]["phase"] == "liquid"
    table = read_table(out / "phase_diagram.csv")
    assert {r["side"] for r in table} == {"model", "toy"}
    assert {r["stage"] for r in table} == {"sft", "rl", "reverse"}
    assert len({r["T"] for r in table}) == 9
    bounds = read_table(out / "boundaries.csv")
    assert {b["side"] for b in bounds} == {"model", "toy"}
    again = tmp_path / "again"
    shutil.copytree(out, again)
    for f in PD.RESULT_FILES:
        (again / f).unlink()
    shutil.rmtree(again / "checkpoints" / "reverse" / "seed_1" / "step_000030")
    (again / "measured" / "reverse" / "seed_1" / "step_000030.npz").unlink()
    shutil.rmtree(again / "checkpoints" / "rl" / "seed_1")
    shutil.rmtree(again / "measured" / "rl" / "seed_1")
    second = PD.run(composed(*over), again)
    for k in ("fit_sft", "fit_rl", "transfer", "hysteresis"):
        assert json.dumps(second[k], sort_keys=True) == json.dumps(first[k], sort_keys=True) or \
            np.allclose(np.array(list(_floats(second[k]))), np.array(list(_floats(first[k]))),
                        rtol=1e-3, atol=1e-5), k


def _floats(tree):
    if isinstance(tree, dict):
        for k in sorted(tree):
            yield from _floats(tree[k])
    elif isinstance(tree, (list, tuple)):
        for v in tree:
            yield from _floats(v)
    elif isinstance(tree, (int, float)):
        yield float(tree)
