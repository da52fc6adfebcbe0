"""Exact answer distributions: normalisation, temperature limits, option checks."""

import warnings

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from phasejax.probe import tasks as T
from phasejax.probe.decoder import Decoder, DecoderConfig
from phasejax.probe.chat_template import render_chat
from phasejax.probe.scoring import LowCapturedMass, score


@pytest.fixture(scope="module")
def tiny():
    c = DecoderConfig(vocab_size=11, hidden_size=16, intermediate_size=32, num_layers=2,
                    num_heads=4, num_kv_heads=2)
    return Decoder(c, nnx.Rngs(3))


def test_all_single_tokens_capture_all_mass(tiny):
    d = score(tiny, [1, 2, 3], [[v] for v in range(11)], temperatures=[0.3, 1.0, 5.0])
    assert np.allclose(d.captured, 1.0, atol=1e-6)
    logits = np.asarray(tiny(jnp.asarray([[1, 2, 3]])))[0, -1]
    for i, t in enumerate([0.3, 1.0, 5.0]):
        z = np.exp((logits - logits.max()) / t)
        assert np.allclose(d.p[i], z / z.sum(), atol=1e-6)


def test_multi_token_options_are_products_of_conditionals(tiny):
    opts = [[4, 5], [4, 6], [7]]
    d = score(tiny, [1, 2], opts)
    full = np.asarray(tiny(jnp.asarray([[1, 2, 4]])))[0]
    p1 = np.exp(full - full.max(-1, keepdims=True))
    p1 /= p1.sum(-1, keepdims=True)
    want = [p1[1, 4] * p1[2, 5], p1[1, 4] * p1[2, 6], p1[1, 7]]
    assert np.allclose(np.exp(d.log_prob[0]), want, rtol=1e-5)
    assert d.captured[0] == pytest.approx(sum(want), rel=1e-5)


def test_temperature_limits(tiny):
    opts = [[v, 10] for v in range(10)]          # equal-length paths
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LowCapturedMass)
        d = score(tiny, [1, 2, 3], opts, temperatures=[1e-3, 1e4])
    cold, hot = d.p
    assert cold.max() > 0.999                   # T -> 0: the greedy option
    assert np.allclose(hot, 0.1, atol=1e-3)     # T -> inf: uniform over paths


def test_bad_options_and_low_mass_warning(tiny):
    with pytest.raises(ValueError, match="token prefix"):
        score(tiny, [1], [[3], [3, 4]])
    with pytest.raises(ValueError, match="context"):
        score(tiny, list(range(10)), [[1], [2]], max_length=8)
    with pytest.warns(LowCapturedMass):
        score(tiny, [1, 2], [[1, 2, 3, 4, 5, 6], [2, 3, 4, 5, 6, 7]])


def test_chat_rendering_with_prefill():
    tmpl = ("{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}</s>{% endfor %}"
            "{% if add_generation_prompt %}<s>assistant: {% endif %}")
    text = render_chat(tmpl, "Pick a number.", "My number is")
    assert text == "<s>user: Pick a number.</s><s>assistant: My number is"
    task = T.load("number_1_10")
    assert task.answers("chat")[0] == " 1" + T.END_OF_TURN


def test_batched_prompts_share_the_prefix_and_match_one_by_one(tiny):
    from phasejax.probe.scoring import score_prompts

    prompts = [[1, 2, 3], [4], [5, 6, 7, 8, 9, 1, 2], [3, 3]]
    opts = [[4, 5], [4, 6], [7], [8, 9, 10]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LowCapturedMass)
        batched = score_prompts(tiny, prompts, opts, temperatures=[0.5, 2.0], max_rows=8)
        for p, d in zip(prompts, batched):
            for k, o in enumerate(opts):   # full-sequence forward, no cache, no padding
                full = np.asarray(tiny(jnp.asarray([p + o])))[0].astype(np.float64)
                for i, t in enumerate([0.5, 2.0]):
                    z = full / t
                    lz = z - np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1,
                                    keepdims=True)) - z.max(-1, keepdims=True)
                    want = sum(lz[len(p) - 1 + j, tok] for j, tok in enumerate(o))
                    assert d.log_prob[i, k] == pytest.approx(want, abs=1e-4)
