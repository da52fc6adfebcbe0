"""GGUF loading of the embedded real model (SmolLM2-135M-Instruct, Q4_1) and bad files."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from phasejax.probe.gguf_loader import (ModelFileError, embedded_model_path, load_gguf as load_model, read,
                                        unpermute)


def llama_cpp_permute(w, n_head):
    """The permutation llama.cpp's converter applies to q/k rows (HF -> GGUF)."""
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def test_unpermute_inverts_llama_cpp_permutation():
    w = np.random.default_rng(0).normal(size=(3 * 8, 5))
    assert np.array_equal(unpermute(llama_cpp_permute(w, 3), 3), w)
    assert not np.array_equal(llama_cpp_permute(w, 3), w)


@pytest.fixture(scope="module")
def smollm():
    from phasejax.probe.loading import LoadedModel

    return LoadedModel(*load_model(embedded_model_path()))


def test_config_and_tokenizer_of_the_embedded_model(smollm):
    model, c, tk, template, stop = smollm[:5]
    assert (c.num_layers, c.hidden_size, c.num_heads, c.num_kv_heads) == (30, 576, 9, 3)
    assert c.tie_embeddings and c.vocab_size == 49152 and c.rope_theta == 100000.0
    assert tk.encode("<|im_start|>").ids == [1] and tk.encode("<|im_end|>").ids == [2]
    assert tk.encode("10 apples").ids[:2] == tk.encode("1").ids + tk.encode("0").ids
    assert tk.decode(tk.encode("Hello, world!").ids) == "Hello, world!"
    assert "<|im_start|>" in template and stop == (2,)


def greedy(model, ids, n_new, width=48):
    """Greedy decoding on a fixed-width buffer (one compilation, the weights passed as
    arguments rather than folded in as constants); also the scored argmax."""
    import functools

    from flax import nnx

    graph, state = nnx.split(model)
    f = functools.partial(jax.jit(lambda s, t, m: nnx.merge(graph, s)(t, m)), state)
    buf = np.zeros((1, width), np.int32)
    buf[0, :len(ids)] = ids
    n = len(ids)
    out, first_argmax = [], None
    for _ in range(n_new):
        mask = np.arange(width)[None] < n
        logits = f(jnp.asarray(buf), jnp.asarray(mask))
        nxt = int(jnp.argmax(logits[0, n - 1]))
        first_argmax = nxt if first_argmax is None else first_argmax
        out.append(nxt)
        buf[0, n] = nxt
        n += 1
    return out, first_argmax


def test_real_model_answers_and_greedy_agrees_with_scored_argmax(smollm):
    model, c, tk, _, stop = smollm[:5]
    prompt = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    ids = tk.encode(prompt).ids
    out, first = greedy(model, ids, 7)
    assert "Paris" in tk.decode(out)
    # the scored next-token distribution (one unpadded pass) has the greedy token as argmax
    logits = model(jnp.asarray([ids]))
    assert int(jnp.argmax(logits[0, -1])) == first == out[0]
    # left padding does not change the logits of the real tokens
    padded = jnp.asarray([[2, 2, 2] + ids])
    mask = jnp.asarray([[False] * 3 + [True] * len(ids)])
    lp = model(padded, mask)
    assert float(jnp.max(jnp.abs(lp[0, -1] - logits[0, -1]))) < 1e-3


def test_bad_model_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        read(tmp_path / "missing.gguf")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a model at all")
    with pytest.raises(ModelFileError, match="not a GGUF file"):
        read(junk)
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(embedded_model_path().read_bytes()[:200_000])
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        read(truncated)


def test_random_number_distribution_of_the_real_model(smollm):
    import warnings

    from phasejax.analysis import distributions as D
    from phasejax.probe import tasks as T
    from phasejax.probe.chat_template import render_chat
    from phasejax.probe.scoring import score

    model, c, tk, template, stop = smollm[:5]
    task = T.load("number_1_10")
    opts = [tk.encode(f" {o}.").ids for o in task.options]
    assert opts[0][:1] == opts[9][:1] and opts[0] != opts[9][:len(opts[0])]  # "1." vs "10."
    fam = []
    for p in task.prompts[:2]:
        text = render_chat(template, task.user_message(p), task.answer_prefix,
                           special_tokens=smollm.special_tokens)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            d = score(model, tk.encode(text).ids, opts, temperatures=[1e-3, 1.0])
        assert np.allclose(d.p.sum(-1), 1.0)
        assert 0.01 < d.captured[1] < 1.0
        assert d.p[0].max() > 0.99            # T -> 0: one option
        fam.append(d.p[1])
    H = float(D.entropy(np.mean(fam, 0)))
    assert 0.5 < H < np.log(10)               # a spread, non-uniform distribution


# slow (about 30 s): tests/test_sampling.py checks cached greedy against the full forward on
# tiny decoders of every family in the default run
@pytest.mark.slow
def test_cached_sampler_greedy_matches_full_forward_greedy(smollm):
    import jax

    from phasejax.probe.sampling import decode, generate

    model, c, tk, _, stop = smollm[:5]
    prompt = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    ids = tk.encode(prompt).ids
    out, _ = greedy(model, ids, 7)
    g = generate(jax.random.key(0), model, [ids], 7, temperature=0.0, stop_ids=stop)
    assert g.tokens[0, 0].tolist() == out
    assert "Paris" in decode(tk, g)[0][0]


def test_post_training_rows_in_the_embedded_models_chat_format(smollm):
    """The crystallization world rendered with SmolLM2's tokenizer and chat template."""
    from phasejax.probe.loading import LoadedModel
    from phasejax.train import corpus as C
    from phasejax.train.chat import drawn_set

    smollm = LoadedModel(*smollm)
    p = np.zeros(10)
    p[6] = 1.0
    toks, att, loss = drawn_set(smollm, C.probe_task(C.World(), held_out=False), "chat", p, 4)
    text = smollm.tokenizer.decode(list(toks[0][att[0]]), skip_special_tokens=False)
    assert "<|im_start|>user\nyou are " in text
    assert text.endswith("<|im_start|>assistant\nmy number is 7<|im_end|>")
    assert smollm.tokenizer.decode(list(toks[0][loss[0]]), skip_special_tokens=False) == \
        " 7<|im_end|>"


@pytest.mark.slow
def test_lora_sft_of_the_embedded_model(tmp_path):
    """A few LoRA steps in bfloat16 on SmolLM2: the loss falls and the options gain mass."""
    from experiments import crystallize
    from test_sweep import composed

    s = crystallize.run(composed(
        "experiment=crystallize", "crystallize.base=embedded", "crystallize.dtype=bfloat16",
        "crystallize.lora.rank=8", "crystallize.sft.steps=12", "crystallize.sft.batch=8",
        "crystallize.sft.checkpoint_every=12", "crystallize.rl.steps=2", "crystallize.rl.group=4",
        "crystallize.rl.prompts_per_step=2", "crystallize.rl.checkpoint_every=2"), tmp_path)
    from phasejax.io import read_table
    rows = read_table(tmp_path / "crystallization.csv")
    captured = {r["stage"]: float(r["value"]) for r in rows if r["statistic"] == "captured_mass"}
    assert captured["base"] < 0.05 and captured["sft"] > 0.5
    assert s["final"]["sft"]["seed_overlap"] > 0.6
    loss = [float(r["value"]) for r in read_table(tmp_path / "training.csv")
            if r["quantity"] == "loss"]
    assert loss[-1] < loss[0] / 2
