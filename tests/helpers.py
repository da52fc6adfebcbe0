"""Sampling helpers for exact-enumeration tests."""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from scipy import stats

from phasejax.exact import enumerate_boltzmann, state_index


def sample_states(model, sampler, T, *, n_chains=64, n_samples=400, thin=2, n_therm=50, seed=0):
    """Configurations visited by ``n_chains`` chains, ``thin`` steps apart: ``(K, *shape)``."""
    key = jax.random.key(seed)
    k_init, k_run = jax.random.split(key)
    if sampler.ensemble:
        T_arg = jnp.asarray(T, jnp.float32)
    else:
        T_arg = jnp.float32(T)
    states = jax.vmap(sampler.init, in_axes=(0, None))(jax.random.split(k_init, n_chains), model)
    step = jax.vmap(sampler.step, in_axes=(0, 0, None, None))

    @jax.jit
    def run(key, states):
        def one(states, k):
            for j in range(thin):
                states, _ = step(jax.random.split(jax.random.fold_in(k, j), n_chains), states,
                                 model, T_arg)
            return states, states.tokens

        states, _ = lax.scan(lambda s, k: (one(s, k)[0], None), states,
                             jax.random.split(jax.random.fold_in(key, 1), n_therm))
        _, toks = lax.scan(one, states, jax.random.split(key, n_samples))
        return toks

    toks = np.asarray(run(k_run, states))
    return toks.reshape(-1, *toks.shape[2:])


def chi_square_pvalue(model, tokens, T, min_expected=20.0):
    """p-value of visited-state counts against exact enumeration.

    States are sorted by expected count and merged, rarest first, into groups whose expected
    count reaches ``min_expected``, so that the chi-square approximation holds.
    """
    _, p = enumerate_boltzmann(model, T)
    idx = state_index(tokens, model.q)
    counts = np.bincount(idx, minlength=p.size).astype(float)
    expected = p * counts.sum()
    order = np.argsort(expected)
    group = np.zeros(p.size, np.int64)
    g, acc = 0, 0.0
    for i in order:
        group[i] = g
        acc += expected[i]
        if acc >= min_expected:
            g, acc = g + 1, 0.0
    if acc > 0 and g > 0:  # fold a small last group into the previous one
        group[group == g] = g - 1
    obs = np.bincount(group, weights=counts)
    exp = np.bincount(group, weights=expected)
    chi2 = ((obs - exp) ** 2 / exp).sum()
    return stats.chi2.sf(chi2, obs.size - 1), obs.size
