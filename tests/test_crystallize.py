"""Crystallization on CPU: liquid after pretraining, nucleated after SFT, settled after RL."""

import jax
import numpy as np
import pytest
from flax import nnx
from omegaconf import OmegaConf

from phasejax.io import read_table
from phasejax.probe.decoder import Decoder, DecoderConfig
from phasejax.train import corpus as C
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
    with pytest.raises(ValueError, match="seed distribution must be 10 probabilities"):
        C.sft_documents(C.World(), [0.5, 0.5], 10)
    with pytest.raises(ValueError, match="no reply marker"):
        encode(C.tokenizer(C.World()), ["hello world"], 8, reply_after=3)


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
