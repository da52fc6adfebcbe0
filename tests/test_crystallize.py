"""Crystallization on CPU: liquid after pretraining, nucleated after SFT, settled after RL."""

import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from omegaconf import OmegaConf

from phasejax.io import read_table
from phasejax.probe.decoder import Decoder, DecoderConfig
from phasejax.train import corpus as C
from phasejax.train.chat import drawn_set, read_records
from phasejax.train.loop import encode, train
from test_sweep import composed

SMALL = ["crystallize.pretrain.steps=400", "crystallize.pretrain.checkpoint_every=200",
         "crystallize.sft.steps=100", "crystallize.sft.checkpoint_every=50",
         "crystallize.rl.steps=16", "crystallize.rl.checkpoint_every=8"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from experiments import crystallize

    out = tmp_path_factory.mktemp("crystal")
    summary = crystallize.run(composed("experiment=crystallize", *SMALL), out)
    return out, summary


def test_liquid_then_nucleated_then_settled(run):
    out, s = run
    pre, sft, rl = s["final"]["pretrain"], s["final"]["sft"], s["final"]["rl"]
    assert pre["phase"] == "liquid" and pre["mutual_information"] > 0.2
    assert pre["n_distinct"] >= 3
    assert sft["phase"] == "nucleated"
    assert sft["mutual_information"] < pre["mutual_information"] / 20
    assert sft["seed_overlap"] > 0.95
    assert rl["support_retention"] > 0.95                     # stays on the seed's options
    assert rl["js_to_seed"] > sft["js_to_seed"] + 0.05        # while the distribution moves
    table = read_table(out / "crystallization.csv")
    assert {r["stage"] for r in table} == {"init", "pretrain", "sft", "rl"}
    # the logged reward (share of answers "8": each point a mean over log_every steps ×
    # prompts × group answers, binomial error) rises: weighted least-squares slope > 4σ
    training = [r for r in read_table(out / "training.csv") if r["quantity"] == "reward"]
    rl_cfg = s["config"]["rl"]
    n = max(1, rl_cfg["checkpoint_every"] // 2) * rl_cfg["prompts_per_step"] * rl_cfg["group"]
    step = np.array([float(r["step"]) for r in training])
    share = np.array([float(r["value"]) for r in training])
    assert len(step) >= 4 and np.all((0 <= share) & (share <= 1))
    w = n / np.maximum(share * (1 - share), 1 / n)               # 1 / σ²
    x = step - (w * step).sum() / w.sum()
    slope, slope_err = (w * x * share).sum() / (w * x * x).sum(), (w * x * x).sum() ** -0.5
    assert slope > 4 * slope_err, (step, share, slope, slope_err)
    assert (out / "crystallization.png").stat().st_size > 50_000


def test_checkpoints_reload_in_the_probe(run):
    from phasejax.probe.loading import load_model

    out, _ = run
    lm = load_model(out / "checkpoints" / "sft" / "step_000100")
    assert lm.stop_ids == (lm.tokenizer.token_to_id("<eot>"),)
    assert lm.config.num_layers == 2


def test_killed_training_resumes_bit_identically(tmp_path):
    world = C.World()
    tk = C.tokenizer(world)
    cfg = DecoderConfig(vocab_size=tk.get_vocab_size(), hidden_size=32, intermediate_size=64,
                        num_layers=1, num_heads=2, num_kv_heads=1, max_position=64)
    toks, att, mask = encode(tk, C.pretraining_documents(world, 200, 0), 32)
    kw = dict(steps=30, batch=16, checkpoint_every=10, log_every=10)
    whole = Decoder(cfg, nnx.Rngs(0))
    log = train(jax.random.key(0), whole, toks, att, mask, **kw)
    assert log.loss[-1] < log.loss[0]
    # (a run that were not a function of its seed would fail the comparison below too)
    part = Decoder(cfg, nnx.Rngs(0))
    train(jax.random.key(0), part, toks, att, mask, **{**kw, "steps": 20},
          folder=tmp_path / "ck")                             # "killed" after step 20
    resumed = Decoder(cfg, nnx.Rngs(0))
    notes = []
    train(jax.random.key(0), resumed, toks, att, mask, **kw, folder=tmp_path / "ck",
          progress=notes.append)
    assert any("resumed from step_000020" in n for n in notes)
    a = jax.tree.leaves(nnx.state(whole, nnx.Param))
    b = jax.tree.leaves(nnx.state(resumed, nnx.Param))
    assert all(np.allclose(x, y, atol=1e-6) for x, y in zip(a, b))


def test_bad_configuration_fails_before_training(tmp_path):
    from experiments import crystallize

    with pytest.raises(ValueError, match="seed_convention 'mystery'"):
        crystallize.run(composed("experiment=crystallize", "crystallize.seed_convention=mystery"),
                        tmp_path)
    cfg = composed("experiment=crystallize")
    OmegaConf.update(cfg, "crystallize.reward", {"11": 1.0}, merge=False)
    with pytest.raises(ValueError, match=r"reward names options \['11'\]"):
        crystallize.run(cfg, tmp_path)
    assert not list(tmp_path.iterdir())
    for override, message in (
            ("crystallize.seed_convention=[0.5,0.5]", "seed_convention must be 10 probabilities"),
            ("+crystallize.reward.3=0.5", r"reward_kind=target needs a distribution"),
            ("crystallize.reward_kind=mystery", "reward_kind='mystery'"),
            ("crystallize.pretrain.steps=0", "pretrain.steps must be >= 1"),
            ("crystallize.lora.targets=[attn]", r"LoRA targets \['attn'\]"),
            ("crystallize.dtype=float16", "dtype 'float16'"),
            (f"crystallize.base={tmp_path / 'nowhere'}", "no model file or folder"),
            (f"crystallize.chain=[{tmp_path / 'nowhere'}]", "no model file or folder"),
            (f"crystallize.sft.data={tmp_path / 'none.jsonl'}", "SFT file .* not found")):
        with pytest.raises(ValueError, match=message):
            crystallize.run(composed("experiment=crystallize", "crystallize.lora.rank=4",
                                     "crystallize.reward_kind=target", override), tmp_path)
    assert not list(tmp_path.iterdir())


def test_sft_file_is_checked_whole_before_training(tmp_path):
    from experiments import crystallize

    good = tmp_path / "good.jsonl"
    good.write_text('{"user": "pick a number", "answer": "4"}\n\n'
                    '{"user": "any number?", "answer": 6}\n')
    task = C.probe_task(C.World(), held_out=False)
    assert read_records(good, task) == [("pick a number", "4"), ("any number?", "6")]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"user": "pick", "answer": "4"}\nnot json\n{"user": "x", "answer": "11"}\n'
                   '{"answer": "3"}\n')
    with pytest.raises(ValueError, match=r"line 2: JSONDecodeError.*line 3: .*'11' is not an "
                                         r"option.*line 4: KeyError"):
        read_records(bad, task)
    with pytest.raises(ValueError, match="does not parse"):
        crystallize.run(composed("experiment=crystallize", f"crystallize.sft.data={bad}"),
                        tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_sft_rows_are_what_the_probe_scores():
    """A row is the probe's prompt followed by one option's tokens; loss on the option only."""
    from phasejax.probe.loading import LoadedModel
    from phasejax.probe.prompts import encode_options, encode_prompt, prompt_text

    world = C.World()
    tk = C.tokenizer(world)
    lm = LoadedModel(None, None, tk, C.CHAT_TEMPLATE, (tk.token_to_id("<eot>"),))
    task = C.probe_task(world, held_out=False)
    p = np.zeros(10)
    p[6] = 1.0
    toks, att, loss = drawn_set(lm, task, "chat", p, 50, seed=3)
    options = encode_options(lm, task, "chat")
    prompts = {tuple(encode_prompt(lm, prompt_text(lm, task, q, "chat"), "chat"))
               for q in task.prompts}
    for t, a, w in zip(toks, att, loss):
        n = int(a.sum())
        assert list(t[w]) == options[6] and w[n - len(options[6]):n].all()
        assert tuple(t[:n - len(options[6])]) in prompts
    assert tk.decode(list(toks[0][loss[0]]), skip_special_tokens=False) == "7 <eot>"
    with pytest.raises(ValueError, match="seed distribution must be 10 probabilities"):
        drawn_set(lm, task, "chat", [0.5, 0.5], 10)


def test_killed_run_resumes_from_its_checkpoints(run, tmp_path):
    """Lose the last SFT checkpoint and all of RL; the rerun resumes and ends where the
    uninterrupted run ended. It works on a copy: the fixture's folder stays as the other tests
    expect it, whatever order they run in."""
    import shutil

    from experiments import crystallize

    fixture, first = run
    files = {p: p.stat().st_mtime_ns for p in fixture.rglob("*") if p.is_file()}
    out = tmp_path / "crystal"
    shutil.copytree(fixture, out)
    shutil.rmtree(out / "checkpoints" / "rl")
    shutil.rmtree(out / "checkpoints" / "sft" / "step_000100")
    again = crystallize.run(composed("experiment=crystallize", *SMALL), out)
    assert {p: p.stat().st_mtime_ns for p in fixture.rglob("*") if p.is_file()} == files
    for stage in ("pretrain", "sft", "rl"):
        a, b = first["final"][stage], again["final"][stage]
        assert a["phase"] == b["phase"] and a["step"] == b["step"]
        for k, v in a.items():
            if isinstance(v, float):
                assert b[k] == pytest.approx(v, rel=1e-4, abs=1e-6), (stage, k)
    table = read_table(out / "crystallization.csv")
    steps = {s: sorted({int(r["step"]) for r in table if r["stage"] == s})
             for s in ("pretrain", "sft", "rl")}
    assert steps == {"pretrain": [200, 400], "sft": [50, 100], "rl": [8, 16]}


def test_lora_starts_at_the_base_and_checkpoints_do_not_compound(tmp_path):
    """B = 0 reproduces the base; writing merged checkpoints mid-run changes nothing; a killed
    LoRA run resumes to the same adapters."""
    from phasejax.train.lora import LoRA, parametrize

    world = C.World()
    tk = C.tokenizer(world)
    cfg = DecoderConfig(vocab_size=tk.get_vocab_size(), hidden_size=32, intermediate_size=64,
                        num_layers=1, num_heads=2, num_kv_heads=1, max_position=64)
    toks, att, mask = encode(tk, C.pretraining_documents(world, 200, 0), 32)
    lora = LoRA(rank=2, alpha=4.0)
    base = Decoder(cfg, nnx.Rngs(0))
    _, _, adapters, to_params = parametrize(jax.random.key(0), base, lora)
    for a, b in zip(jax.tree.leaves(to_params(adapters)),
                    jax.tree.leaves(nnx.state(base, nnx.Param))):
        assert np.array_equal(a, b)
    assert len(adapters) == 4                       # q, k, v, o of the one layer
    kw = dict(steps=24, batch=16, lr=1e-2, log_every=8, lora=lora)

    def params(m):
        return jax.tree.leaves(nnx.state(m, nnx.Param))

    plain = Decoder(cfg, nnx.Rngs(0))
    log = train(jax.random.key(1), plain, toks, att, mask, **kw)
    assert log.loss[-1] < log.loss[0] - 0.3
    saved = Decoder(cfg, nnx.Rngs(0))
    train(jax.random.key(1), saved, toks, att, mask, **kw, checkpoint_every=4,
          folder=tmp_path / "a")
    assert all(np.allclose(x, y, atol=1e-6) for x, y in zip(params(plain), params(saved)))
    part = Decoder(cfg, nnx.Rngs(0))
    train(jax.random.key(1), part, toks, att, mask, **{**kw, "steps": 12}, checkpoint_every=4,
          folder=tmp_path / "b")
    resumed = Decoder(cfg, nnx.Rngs(0))                # the base again, as after a restart
    train(jax.random.key(1), resumed, toks, att, mask, **kw, checkpoint_every=4,
          folder=tmp_path / "b")
    assert all(np.allclose(x, y, atol=1e-6) for x, y in zip(params(plain), params(resumed)))
    untouched = params(Decoder(cfg, nnx.Rngs(0)))     # only the targeted kernels moved
    moved = {jax.tree_util.keystr(p) for (p, x), y in zip(
        jax.tree_util.tree_flatten_with_path(nnx.state(plain, nnx.Param))[0], untouched)
        if not np.array_equal(x, y)}
    assert moved and all(any(t in m for t in lora.targets) for m in moved)


def test_post_trains_a_loaded_folder_with_lora_in_bfloat16(run, tmp_path):
    """The pretrained checkpoint, loaded from disk as any model would be, nucleates under LoRA
    SFT in bfloat16 and settles under RL."""
    from experiments import crystallize
    from phasejax.probe.loading import load_model

    out, _ = run
    base = out / "checkpoints" / "pretrain" / "step_000400"
    s = crystallize.run(composed(
        "experiment=crystallize", f"crystallize.base={base}", "crystallize.dtype=bfloat16",
        "crystallize.lora.rank=4", "crystallize.sft.steps=80", "crystallize.sft.lr=3e-3",
        "crystallize.sft.checkpoint_every=40", "crystallize.rl.steps=16",
        "crystallize.rl.checkpoint_every=8", "crystallize.rl.lr=1e-3"), tmp_path)
    assert set(s["final"]) == {"sft", "rl"} and s["device"].startswith(jax.default_backend())
    first = read_table(tmp_path / "crystallization.csv")[0]
    assert first["stage"] == "base"
    assert s["final"]["sft"]["phase"] == "nucleated" and s["final"]["sft"]["seed_overlap"] > 0.95
    assert s["final"]["rl"]["support_retention"] > 0.95
    assert s["final"]["rl"]["js_to_seed"] > s["final"]["sft"]["js_to_seed"]
    assert s["trainable_parameters"] < 0.1 * sum(
        x.size for x in jax.tree.leaves(nnx.state(load_model(base).model, nnx.Param)))
    lm = load_model(tmp_path / "checkpoints" / "rl" / "step_000016", "bfloat16")
    assert lm.chat_template == C.CHAT_TEMPLATE


def test_rl_matches_a_target_distribution(run):
    """reward = ln q(a) − ln π(a|x): the exact answer distribution moves onto the target."""
    from phasejax.probe.loading import load_model
    from phasejax.probe.measure import ProbeSettings, measure_choice
    from phasejax.probe.scoring import score_prompts
    from phasejax.train.chat import encoded_task
    from phasejax.train.rl import TARGET_FLOOR, grpo

    out, _ = run
    lm = load_model(out / "checkpoints" / "sft" / "step_000100")
    task = C.probe_task(C.World(), held_out=False)
    q = np.zeros(10)
    q[[1, 3]] = 0.5, 0.5                                  # "2" and "4", both in the seed's support

    def tv():
        _, a = measure_choice(lm, task, ProbeSettings(form="chat", temperatures=(1.0,)))
        return 0.5 * np.abs(a["p"][:, 0] - q).sum(-1).max()

    before = tv()
    prompts, options = encoded_task(lm, task, "chat")

    def expected_reward():
        """E_π[ln q(a) − ln π(a|x)] = −KL(π‖q) over the options, exactly, and the mass π puts
        outside them, averaged over the training prompts."""
        out = []
        for d in score_prompts(lm.model, prompts, options):
            pi = np.exp(d.log_prob[0])
            out.append([(pi * (np.log(np.maximum(q, TARGET_FLOOR)) - np.log(pi))).sum(),
                        1 - pi.sum()])
        return np.mean(out, 0)

    start, _ = expected_reward()
    log = grpo(jax.random.key(0), lm.model, nnx.clone(lm.model), prompts, options, q, steps=40,
               group=16, prompts_per_step=8, beta=0.0, lr=1e-3, target=True)
    assert before > 0.3 and tv() < 0.08, (before, tv())
    end, outside = expected_reward()
    assert start < -1.0 and end > -0.02, (start, end)          # −KL(π‖q) rises to ≈ 0
    # the logged (sampled) reward: the second half's windows, averaged with their scatter, are
    # far above the start and agree with the exact end, up to the answers outside the options
    # (reward ln 10⁻⁶ − ln π(a|x)), which move the mean by about their mass × ln 10⁶
    late = log.reward[len(log.reward) // 2:]
    late_mean, late_err = late.mean(), late.std(ddof=1) / np.sqrt(late.size)
    assert late_mean - 4 * late_err > start, (late, start)
    assert abs(late_mean - end) < 4 * late_err + outside * np.log(1 / TARGET_FLOOR), (
        late, end, outside)
    with pytest.raises(ValueError, match="sum to 1"):
        grpo(jax.random.key(0), lm.model, lm.model, prompts, options, 2 * q, steps=1,
             target=True)


def tiny_world_model(seed=0, **kw):
    """A one-layer decoder over the crystallization world's tokenizer, and that world's
    training prompts and options as the probe encodes them."""
    from phasejax.probe.loading import LoadedModel
    from phasejax.train.chat import encoded_task

    world = C.World()
    tk = C.tokenizer(world)
    cfg = DecoderConfig(vocab_size=tk.get_vocab_size(), hidden_size=32, intermediate_size=64,
                        num_layers=1, num_heads=2, num_kv_heads=1, max_position=64, **kw)
    model = Decoder(cfg, nnx.Rngs(seed))
    lm = LoadedModel(model, cfg, tk, C.CHAT_TEMPLATE, (tk.token_to_id("<eot>"),))
    prompts, options = encoded_task(lm, C.probe_task(world, held_out=False), "chat")
    return model, cfg, prompts, options


def test_rl_log_probabilities_are_the_probes_exact_scores():
    """ln π(a|x) of the rows GRPO trains on equals score() of the same prompt and option: the
    answer mask starts at the answer's first token (an off-by-one would cancel in the group
    baseline and go unseen)."""
    from phasejax.probe.scoring import LowCapturedMass, score
    from phasejax.train.rl import pack_answers, sequence_log_prob

    model, _, prompts, options = tiny_world_model()
    chosen = [prompts[0], prompts[3], prompts[0][2:]]            # different lengths: left padding
    answers = options[:3] + [[7], [9, 11, 13]]                  # and answers of other lengths
    plen = max(map(len, chosen))
    width = max(map(len, answers))
    rows = [(p, a) for p in chosen for a in answers]
    toks, mask = pack_answers([p for p, _ in rows], [a for _, a in rows], plen, width)
    assert toks.shape == (len(rows), plen + width)
    got = np.asarray(sequence_log_prob(model, jnp.asarray(toks), jnp.asarray(mask), plen))
    for i, p in enumerate(chosen):
        with warnings.catch_warnings():                           # an untrained model's
            warnings.simplefilter("ignore", LowCapturedMass)      # options hold little mass
            want = score(model, p, answers, max_length=64).log_prob[0]
        assert np.allclose(got[i * len(answers):(i + 1) * len(answers)], want, atol=2e-4), (
            i, got, want)


def test_first_rl_step_follows_the_exact_gradient_with_a_kl_penalty(monkeypatch):
    """β > 0, policy ≠ reference: one GRPO step moves every weight by −lr·g/(|g| + ε) (Adam's
    first step) with g the gradient of −mean(A·ln π) + β·mean(e^Δ − Δ − 1) written here from
    the docstring — plain forward passes over unpadded prompt ⊕ answer, the group baseline by
    hand — on the answers the step drew (recorded, not mocked)."""
    from phasejax.train import rl

    reference, cfg, prompts, options = tiny_world_model(tie_embeddings=False)
    policy = Decoder(cfg, nnx.Rngs(0))
    k = policy.lm_head.kernel
    k[...] = k[...] + 0.5 * jax.random.normal(jax.random.key(5), k.shape)
    drawn = []

    generate = rl.generate

    def recording(*args, **kwargs):                               # (key, model, prompts, …)
        g = generate(*args, **kwargs)
        drawn.append((args[2], g))
        return g

    monkeypatch.setattr(rl, "generate", recording)
    # every token an option (a random policy rarely writes the task's), one two-token option
    options = [list(options[0])] + [[v] for v in range(cfg.vocab_size)]
    reward = np.cos(np.arange(len(options)))
    group, beta, lr = 8, 0.5, 1e-3
    graph, params, rest = nnx.split(nnx.clone(policy), nnx.Param, ...)   # the weights before
    rl.grpo(jax.random.key(0), policy, reference, prompts[:3], options, reward, steps=1,
            group=group, prompts_per_step=2, beta=beta, lr=lr, reward_other=-2.0)
    ((batch, g),) = drawn
    seqs = [(list(p), [int(t) for t in g.tokens[b, j, :g.length[b, j]]])
            for b, p in enumerate(batch) for j in range(group)]
    r = np.array([next((reward[i] for i, o in enumerate(options) if a[:len(o)] == list(o)),
                       -2.0) for _, a in seqs])
    assert len(set(r.tolist())) > 1                               # advantages are not all 0
    A = jnp.asarray((r.reshape(-1, group) - r.reshape(-1, group).mean(1, keepdims=True))
                    .reshape(-1), jnp.float32)

    def log_probs(m):
        """Σ_t ln softmax(ℓ_{t−1})[a_t] over each answer: one unpadded pass per group."""
        out = []
        for b in range(len(batch)):
            p, answers = seqs[b * group][0], [a for _, a in seqs[b * group:(b + 1) * group]]
            n, w = len(p), len(answers[0])
            assert all(len(a) == w for a in answers)              # no stop token: full width
            x = jnp.asarray([p + a for a in answers], jnp.int32)
            lp = jax.nn.log_softmax(m(x)[:, n - 1:n - 1 + w], -1)
            out.append(jnp.take_along_axis(lp, x[:, n:, None], -1)[..., 0].sum(-1))
        return jnp.concatenate(out)

    ref = log_probs(reference)

    def loss(params, beta):
        lp = log_probs(nnx.merge(graph, params, rest))
        d = ref - lp
        return -jnp.mean(A * lp) + beta * jnp.mean(jnp.exp(d) - d - 1.0)

    gradient = jax.jit(jax.grad(loss))
    grad = jax.tree.leaves(gradient(params, jnp.float32(beta)))
    plain = jax.tree.leaves(gradient(params, jnp.float32(0.0)))
    moved = [np.asarray(b) - np.asarray(a) for a, b in
             zip(jax.tree.leaves(params), jax.tree.leaves(nnx.state(policy, nnx.Param)))]
    clear = flips = n = 0
    for d, gr, g0 in zip(moved, grad, plain):
        gr, g0 = np.asarray(gr), np.asarray(g0)
        big = np.abs(gr) > 1e-6                  # float32 noise in g is ≪ Adam's ε = 1e-8
        adam = -lr * gr / (np.abs(gr) + 1e-8)
        assert np.allclose(d[big], adam[big], rtol=0, atol=1e-3 * lr)
        assert np.all(np.abs(d) <= lr * (1 + 1e-3))             # float32 rounding of w + Δ
        clear, n = clear + big.sum(), n + gr.size
        flips += (big & (np.sign(gr) != np.sign(g0))).sum()
    assert clear > 0.5 * n                                        # most weights are checked
    assert flips > 0.01 * n                                       # and the penalty matters


def test_bad_model_fails_before_training(tmp_path):
    from experiments import crystallize
    from phasejax.probe.loading import ModelFileError

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "llama"}')   # complete for transformers
    with pytest.raises(ModelFileError, match="broken: no model.safetensors"):
        crystallize.run(composed("experiment=crystallize", f"crystallize.base={broken}"),
                        tmp_path / "a")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf file at all")
    with pytest.raises(ModelFileError, match="junk.gguf"):
        crystallize.run(composed("experiment=crystallize", f"crystallize.base={junk}"),
                        tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_post_trains_a_gpt2_folder_in_completion_form(tmp_path):
    """Any family the probe loads can be post-trained and saved: a tiny GPT-2 (no chat
    template) runs SFT and RL in completion form and its checkpoints reload."""
    from experiments import crystallize
    from phasejax.probe.loading import load_model

    gpt2 = Path(__file__).parent / "parity" / "gpt2"
    s = crystallize.run(composed(
        "experiment=crystallize", f"crystallize.base={gpt2}", "crystallize.form=completion",
        "crystallize.sft.steps=4", "crystallize.sft.batch=8", "crystallize.sft.checkpoint_every=4",
        "crystallize.rl.steps=2", "crystallize.rl.group=4", "crystallize.rl.prompts_per_step=2",
        "crystallize.rl.checkpoint_every=2"), tmp_path)
    assert s["form"] == "completion" and set(s["final"]) == {"sft", "rl"}
    lm = load_model(tmp_path / "checkpoints" / "rl" / "step_000002")
    assert lm.config == load_model(gpt2).config


def test_chain_mode_measures_an_existing_series(run, tmp_path):
    from experiments import crystallize

    out, _ = run
    ck = out / "checkpoints"
    chain = [ck / "pretrain" / "step_000400", ck / "sft" / "step_000100", ck / "rl" / "step_000016"]
    s = crystallize.run(composed("experiment=crystallize",
                                 "crystallize.chain=[" + ",".join(map(str, chain)) + "]"), tmp_path)
    phases = [r["phase"] for r in s["final"].values()]
    assert phases == ["liquid", "nucleated", "settled"]
    assert (tmp_path / "crystallization.png").stat().st_size > 20_000


def test_crystal_task_file_is_the_worlds_probe_task():
    from phasejax.probe import tasks

    import dataclasses

    task = dataclasses.replace(tasks.load("crystal_number"), description="")
    assert task == C.probe_task(C.World(), held_out=True)


# the world's models have no BOS and a context of 64: free text from a neutral word
WORLD_TEXT = ("criticality.start=text", "criticality.text=the", "criticality.n_tokens=48",
              "criticality.n_sequences=16", "criticality.chunk=16",
              "criticality.spins=[{name:token_class,sizes:[12,24,48]}]",
              "criticality.toy.n_therm=20", "criticality.toy.n_measure=40",
              "criticality.toy.fit_bootstrap=2",
              "criticality.bootstrap=20")


def test_main_job_follows_the_crystallization_chain_through_the_toys_plane(run, tmp_path):
    """Fitted toy per checkpoint: the pretrained model sits at high field disorder (liquid),
    SFT and RL at almost none; the toy's I(prompt; answer) tracks the model's."""
    from experiments import main_job

    out, _ = run
    ck = out / "checkpoints"
    chain = [ck / "pretrain" / "step_000400", ck / "sft" / "step_000100", ck / "rl" / "step_000016"]
    s = main_job.run(composed("task=crystal_number", "lm=chain", "probe=quick", "probe.prompts=null",
                              "lm.checkpoints=[" + ",".join(map(str, chain)) + "]",
                              "run.progress=false", *WORLD_TEXT,
                              "criticality.toy.simulate=false"), tmp_path)
    pre, sft, rl = s["fits"]
    assert [f["model"] for f in s["fits"]] == ["pretrain/step_000400", "sft/step_000100",
                                               "rl/step_000016"]
    assert pre["toy"]["disorder"] > 5 * sft["toy"]["disorder"]
    assert pre["toy"]["disorder"] > 5 * rl["toy"]["disorder"]
    for f in s["fits"]:
        assert f["toy"]["mutual_information"] == pytest.approx(f["model_mutual_information"],
                                                               abs=0.02)
        assert f["tscale"] == pytest.approx(1.0, abs=0.05)   # one-token options: Boltzmann
    assert (tmp_path / "chain.png").stat().st_size > 50_000


def test_chain_names_stay_apart_when_folder_names_repeat(run):
    from experiments.probe import chain_from

    out, _ = run
    ck = out / "checkpoints"
    paths = [ck / "pretrain" / "step_000400", ck / "sft" / "step_000050",
             ck / "pretrain" / "step_000200"]
    cfg = composed("lm=chain", "lm.checkpoints=[" + ",".join(map(str, paths)) + "]")
    assert [n for n, _ in chain_from(cfg)] == ["pretrain/step_000400", "sft/step_000050",
                                               "pretrain/step_000200"]
    (ck / "rl" / "step_000050").mkdir(exist_ok=True)      # an empty folder: names only
    cfg = composed("lm=chain", f"lm.checkpoints=[{ck / 'sft' / 'step_000050'},"
                               f"{ck / 'rl' / 'step_000050'}]")
    assert [n for n, _ in chain_from(cfg)] == ["sft/step_000050", "rl/step_000050"]
    (ck / "rl" / "step_000050").rmdir()
