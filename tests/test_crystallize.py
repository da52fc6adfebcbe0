"""Crystallization on CPU: liquid after pretraining, nucleated after SFT, settled after RL."""

from pathlib import Path

import jax
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
    training = read_table(out / "training.csv")
    rewards = [float(r["value"]) for r in training if r["quantity"] == "reward"]
    assert rewards[-1] > rewards[0]
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
    log = train(whole, jax.random.key(0), toks, att, mask, **kw)
    again = Decoder(cfg, nnx.Rngs(0))
    log2 = train(again, jax.random.key(0), toks, att, mask, **kw)
    assert np.array_equal(log.loss, log2.loss)                # same seed, same numbers
    assert log.loss[-1] < log.loss[0]
    part = Decoder(cfg, nnx.Rngs(0))
    train(part, jax.random.key(0), toks, att, mask, **{**kw, "steps": 20},
          folder=tmp_path / "ck")                             # "killed" after step 20
    resumed = Decoder(cfg, nnx.Rngs(0))
    notes = []
    train(resumed, jax.random.key(0), toks, att, mask, **kw, folder=tmp_path / "ck",
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
    from phasejax.probe.measure import encode_options, encode_prompt, prompt_text

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


def test_killed_run_resumes_from_its_checkpoints(run):
    """Lose the last SFT checkpoint and all of RL; the rerun resumes and ends where the
    uninterrupted run ended (runs last: it rewrites the fixture's folder)."""
    import shutil

    from experiments import crystallize

    out, first = run
    shutil.rmtree(out / "checkpoints" / "rl")
    shutil.rmtree(out / "checkpoints" / "sft" / "step_000100")
    again = crystallize.run(composed("experiment=crystallize", *SMALL), out)
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
    _, _, adapters, to_params = parametrize(base, lora)
    for a, b in zip(jax.tree.leaves(to_params(adapters)),
                    jax.tree.leaves(nnx.state(base, nnx.Param))):
        assert np.array_equal(a, b)
    assert len(adapters) == 4                       # q, k, v, o of the one layer
    kw = dict(steps=24, batch=16, lr=1e-2, log_every=8, lora=lora)

    def params(m):
        return jax.tree.leaves(nnx.state(m, nnx.Param))

    plain = Decoder(cfg, nnx.Rngs(0))
    log = train(plain, jax.random.key(1), toks, att, mask, **kw)
    assert log.loss[-1] < log.loss[0] - 0.3
    saved = Decoder(cfg, nnx.Rngs(0))
    train(saved, jax.random.key(1), toks, att, mask, **kw, checkpoint_every=4,
          folder=tmp_path / "a")
    assert all(np.allclose(x, y, atol=1e-6) for x, y in zip(params(plain), params(saved)))
    part = Decoder(cfg, nnx.Rngs(0))
    train(part, jax.random.key(1), toks, att, mask, **{**kw, "steps": 12}, checkpoint_every=4,
          folder=tmp_path / "b")
    resumed = Decoder(cfg, nnx.Rngs(0))                # the base again, as after a restart
    train(resumed, jax.random.key(1), toks, att, mask, **kw, checkpoint_every=4,
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
    from phasejax.train.chat import encoded_task
    from phasejax.train.rl import grpo

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
    log = grpo(lm.model, nnx.clone(lm.model), jax.random.key(0), prompts, options, q, steps=40,
               group=16, prompts_per_step=8, beta=0.0, lr=1e-3, target=True)
    assert before > 0.3 and tv() < 0.08, (before, tv())
    assert log.reward[-1] > log.reward[0]                 # −KL(π‖q) rises toward 0
    with pytest.raises(ValueError, match="sum to 1"):
        grpo(lm.model, lm.model, jax.random.key(0), prompts, options, 2 * q, steps=1,
             target=True)


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


def test_main_job_follows_the_crystallization_chain_through_the_toys_plane(run, tmp_path):
    """Fitted toy per checkpoint: the pretrained model sits at high field disorder (liquid),
    SFT and RL at almost none; the toy's I(prompt; answer) tracks the model's."""
    from experiments import main_job

    out, _ = run
    ck = out / "checkpoints"
    chain = [ck / "pretrain" / "step_000400", ck / "sft" / "step_000100", ck / "rl" / "step_000016"]
    s = main_job.run(composed("task=crystal_number", "lm=chain", "probe=quick", "probe.prompts=null",
                              "lm.checkpoints=[" + ",".join(map(str, chain)) + "]",
                              "run.n_therm=10", "run.n_measure=40", "run.n_replicas=2",
                              "temperatures.num=3", "run.progress=false"), tmp_path)
    pre, sft, rl = s["fits"]
    assert [f["model"] for f in s["fits"]] == ["step_000400", "step_000100", "step_000016"]
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
    assert [n for n, _ in chain_from(cfg)] == ["step_000400", "step_000050", "step_000200"]
    (ck / "rl" / "step_000050").mkdir(exist_ok=True)      # an empty folder: names only
    cfg = composed("lm=chain", f"lm.checkpoints=[{ck / 'sft' / 'step_000050'},"
                               f"{ck / 'rl' / 'step_000050'}]")
    assert [n for n, _ in chain_from(cfg)] == ["sft/step_000050", "rl/step_000050"]
    (ck / "rl" / "step_000050").rmdir()
