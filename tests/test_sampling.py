"""Generation: reproducibility, greedy and filtering limits, and sampled vs exact frequencies."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from scipy import stats

from phasejax.probe.decoder import Decoder, DecoderConfig
from phasejax.probe.sampling import filter_logits, generate, match_options
from phasejax.probe.scoring import LowCapturedMass, score_prompts


@pytest.fixture(scope="module")
def tiny():
    c = DecoderConfig(vocab_size=11, hidden_size=16, intermediate_size=32, num_layers=2,
                      num_heads=4, num_kv_heads=2, max_position=64)
    return Decoder(c, nnx.Rngs(3))


PROMPTS = [[1, 2, 3], [4], [5, 6, 7, 8, 9]]


def test_sampled_frequencies_match_exact_distribution(tiny):
    """Chi-square over options + 'anything else', per prompt, at two temperatures."""
    opts = [[v] for v in range(4)] + [[4, v] for v in range(5, 8)] + [[8, 9, 10]]
    n = 4000
    for T in (1.0, 2.0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LowCapturedMass)
            exact = score_prompts(tiny, PROMPTS, opts, temperatures=[T])
        g = generate(jax.random.key(11), tiny, PROMPTS, 3, temperature=T, n_samples=n)
        hits = match_options(g.tokens, opts)
        for d, h in zip(exact, hits):
            p = np.append(np.exp(d.log_prob[0]), 1 - d.captured[0])
            counts = np.bincount(np.where(h < 0, len(opts), h), minlength=len(opts) + 1)
            small = p * n < 5            # pool rare outcomes into one bin
            obs = np.append(counts[~small], counts[small].sum())
            exp = np.append(p[~small], p[small].sum()) * n
            assert (~small).sum() >= 6        # two-token paths among them
            pval = stats.chisquare(obs, exp).pvalue
            assert pval > 1e-3, (T, counts, p * n)


def test_same_key_same_tokens_and_greedy_limits(tiny):
    a = generate(jax.random.key(0), tiny, PROMPTS, 5, n_samples=2)
    b = generate(jax.random.key(0), tiny, PROMPTS, 5, n_samples=2)
    c = generate(jax.random.key(1), tiny, PROMPTS, 5, n_samples=2)
    assert np.array_equal(a.tokens, b.tokens) and not np.array_equal(a.tokens, c.tokens)
    greedy = generate(jax.random.key(0), tiny, PROMPTS, 5, temperature=0.0, n_samples=2)
    top1 = generate(jax.random.key(5), tiny, PROMPTS, 5, top_k=1, n_samples=2)
    nucleus = generate(jax.random.key(6), tiny, PROMPTS, 5, top_p=1e-6, n_samples=2)
    for g in (top1, nucleus):
        assert np.array_equal(g.tokens, greedy.tokens)
    forward = jax.jit(lambda t, m: tiny(t, m))
    for p, rows in zip(PROMPTS, greedy.tokens):   # greedy = argmax of the full forward
        seq = list(p)
        for _ in range(5):
            buf = np.zeros((1, 16), np.int32)
            buf[0, :len(seq)] = seq
            logits = forward(jnp.asarray(buf), jnp.asarray(np.arange(16)[None] < len(seq)))
            seq.append(int(np.argmax(np.asarray(logits)[0, len(seq) - 1])))
        assert rows[0].tolist() == seq[len(p):]


def test_filter_keeps_top_k_and_nucleus():
    logits = jnp.asarray([[2.0, 1.0, 0.5, -1.0, 3.0]])
    kept = np.isfinite(np.asarray(filter_logits(logits, 1.0, top_k=2)))[0]
    assert kept.tolist() == [True, False, False, False, True]
    p = np.exp([2.0, 1.0, 0.5, -1.0, 3.0])
    p /= p.sum()                                    # sorted: 3.0 (0.61), 2.0 (0.22), ...
    kept = np.isfinite(np.asarray(filter_logits(logits, 1.0, top_p=0.7)))[0]
    assert kept.tolist() == [True, False, False, False, True]
    kept = np.isfinite(np.asarray(filter_logits(logits, 1.0, top_p=0.9)))[0]
    assert kept.sum() == 3 and p[[4, 0, 1]].sum() >= 0.9 > p[[4, 0]].sum()


def test_stop_tokens_end_rows(tiny):
    g = generate(jax.random.key(2), tiny, PROMPTS, 6, temperature=2.0, n_samples=50,
                 stop_ids=[10], pad_id=0)
    for rows, lens, fin in zip(g.tokens, g.length, g.finished):
        for row, n, f in zip(rows, lens, fin):
            stops = np.flatnonzero(row == 10)
            if f:
                assert stops[0] == n - 1 and np.all(row[n:] == 0)
            else:
                assert n == 6 and stops.size == 0
    assert g.finished.any() and not g.finished.all()


def test_bad_sampling_arguments(tiny):
    with pytest.raises(ValueError, match="context"):
        generate(jax.random.key(0), tiny, [list(range(60))], 10)
    with pytest.raises(ValueError, match="top_p"):
        generate(jax.random.key(0), tiny, PROMPTS, 2, top_p=0.0)
