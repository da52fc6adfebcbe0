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


def test_stop_class_event_is_exact_and_is_what_sampling_produces(tiny):
    """``" 1"`` then any stop token vs ``" 1" "0"`` then any stop token: disjoint events even
    though one option is a token prefix of the other; the exact probabilities equal the
    products of conditionals and the frequencies of sampled continuations."""
    import jax

    from phasejax.probe.sampling import generate
    from phasejax.probe.scoring import score_prompts

    stop = np.zeros(11, bool)
    stop[[0, 8, 9, 10]] = True                        # tokens that end an answer
    opts = [[3], [3, 4], [5]]                          # [3] is a token prefix of [3, 4]
    with pytest.raises(ValueError, match="token prefix"):
        score(tiny, [1, 2], [[3], [3, 8]], stop_mask=stop)   # 8 stops: not disjoint
    T = [0.7, 1.0, 2.0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LowCapturedMass)
        (d,) = score_prompts(tiny, [[1, 2]], opts, T, stop_mask=stop)
    for i, t in enumerate(T):
        def probs(ids):
            z = np.asarray(tiny(jnp.asarray([ids])), np.float64)[0] / t
            z = np.exp(z - z.max(-1, keepdims=True))
            return z / z.sum(-1, keepdims=True)
        a, b = probs([1, 2, 3, 4]), probs([1, 2, 5])
        want = [a[1, 3] * a[2, stop].sum(), a[1, 3] * a[2, 4] * a[3, stop].sum(),
                b[1, 5] * b[2, stop].sum()]
        assert np.allclose(np.exp(d.log_prob[i]), want, rtol=1e-4)
    # sampled: the first tokens of 40,000 continuations at T = 1
    n = 40_000
    g = generate(jax.random.key(0), tiny, [[1, 2]], 3, temperature=1.0, n_samples=n,
                 max_rows=n)
    t = g.tokens[0]
    hits = [np.mean((t[:, 0] == 3) & stop[t[:, 1]]),
            np.mean((t[:, 0] == 3) & (t[:, 1] == 4) & stop[t[:, 2]]),
            np.mean((t[:, 0] == 5) & stop[t[:, 1]])]
    p = np.exp(d.log_prob[1])
    assert np.all(np.abs(np.array(hits) - p) < 4 * np.sqrt(p * (1 - p) / n) + 1e-4)


def test_stop_class_of_a_byte_level_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    from phasejax.probe.scoring import stop_class

    vocab = {w: i for i, w in enumerate(["7", "0", "th", ".", "Ġapples", "<eot>", "!"])}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<eot>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tk.add_special_tokens(["<eot>"])
    tk.decoder = decoders.ByteLevel()
    assert stop_class(tk).tolist() == [False, False, False, True, True, True, True]
