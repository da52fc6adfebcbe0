"""Inverse Potts fit: parameters of a known toy chain are recovered within their error bars."""

import jax
import numpy as np
import pytest

import toy_models
from helpers import sample_states
from phasejax.fit.inverse import fit_couplings, neg_log_pseudo_likelihood, zero_sum_gauge
from phasejax.lattice import samplers

W = np.array([[[0.8, -0.2, 0.1], [-0.2, 0.5, -0.3], [0.1, -0.3, 0.6]],
              [[0.2, 0.0, -0.1], [0.0, -0.2, 0.1], [-0.1, 0.1, 0.3]]], np.float32)
B = np.array([0.3, 0.0, -0.3], np.float32)


@pytest.mark.slow
def test_recovers_range_two_couplings_and_bias_of_a_ring():
    q, N, T = 3, 12, 1.5
    model = toy_models.make("token_lattice", L=N, q=q, W=W, h=B, R=2)
    seqs = sample_states(model, samplers.make("heatbath"), T, n_chains=64, n_samples=100,
                         thin=3)
    fit = fit_couplings(jax.random.key(0), seqs, q, R=2, periodic=True, n_boot=8)
    J_true, h_true = zero_sum_gauge(W / T, B / T)
    zJ = (fit.J - J_true) / fit.J_err
    zh = (fit.h - h_true) / fit.h_err
    assert np.all(np.abs(zJ) < 4.5) and np.all(np.abs(zh) < 4.5), (zJ, zh)
    assert fit.J_err.max() < 0.05                           # the test has resolving power
    assert np.abs(J_true).max() > 10 * fit.J_err.max()
    # a wrong model (no range-2 couplings) fits measurably worse
    short = fit_couplings(jax.random.key(0), seqs, q, R=1, periodic=True, n_boot=0)
    assert short.neg_log_pl > fit.neg_log_pl + 1e-3


def test_independent_tokens_give_zero_couplings_and_log_frequency_bias():
    rng = np.random.default_rng(0)
    p = np.array([0.5, 0.3, 0.2])
    seqs = rng.choice(3, size=(4000, 10), p=p)
    fit = fit_couplings(jax.random.key(0), seqs, 3, R=1, periodic=False, n_boot=8)
    assert np.all(np.abs(fit.J) < 4.5 * fit.J_err + 1e-3)
    want = np.log(p) - np.log(p).mean()
    assert np.all(np.abs(fit.h - want) < 4.5 * fit.h_err + 1e-3)


def test_gauge_leaves_the_pseudo_likelihood_unchanged():
    rng = np.random.default_rng(1)
    A = rng.normal(size=(2, 3, 3))
    J = (A + A.transpose(0, 2, 1)) / 2
    h = rng.normal(size=3)
    seqs = rng.integers(0, 3, size=(50, 9))
    Jg, hg = zero_sum_gauge(J, h)
    assert np.allclose(Jg.sum(1), 0, atol=1e-12) and np.allclose(Jg.sum(2), 0, atol=1e-12)
    a = float(neg_log_pseudo_likelihood(J.astype(np.float32), h.astype(np.float32), seqs, True))
    b = float(neg_log_pseudo_likelihood(Jg.astype(np.float32), hg.astype(np.float32), seqs, True))
    assert a == pytest.approx(b, rel=1e-5)


def test_bad_sequences():
    with pytest.raises(ValueError, match="tokens must lie"):
        fit_couplings(jax.random.key(0), np.array([[0, 1, 5], [1, 0, 0]]), 3)
    with pytest.raises(ValueError, match="range R"):
        fit_couplings(jax.random.key(0), np.zeros((4, 3), int), 2, R=3)
