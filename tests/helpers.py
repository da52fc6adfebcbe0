"""Sampling helpers for exact-enumeration tests."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from scipy import stats

from phasejax.lattice.exact import enumerate_boltzmann, state_index


def cases(rows, ids, slow=()):
    """``pytest.param`` per row of a parametrize table with its id; ids in ``slow`` run only with
    ``-m slow``."""
    ids = list(ids)
    unknown = set(slow) - set(ids)
    assert not unknown, f"slow ids not in the table: {sorted(unknown)}"
    return [pytest.param(*r, id=i, marks=[pytest.mark.slow] if i in slow else [])
            for r, i in zip(rows, ids)]


def sample_states(model, sampler, T, *, n_chains=64, n_samples=400, thin=2, n_therm=50, seed=0):
    """Configurations visited by ``n_chains`` chains, ``thin`` steps apart: ``(K, *shape)``.

    ``n_therm`` sweeps of ``thin`` steps are discarded first. The step is compiled once: one
    scan runs every step, its keys laid out in advance (the same keys, in the same order, as a
    nested loop over sweeps and their ``thin`` steps would derive).
    """
    key = jax.random.key(seed)
    k_init, k_run = jax.random.split(key)
    if sampler.ensemble:
        T_arg = jnp.asarray(T, jnp.float32)
    else:
        T_arg = jnp.float32(T)
    states = jax.vmap(sampler.init, in_axes=(0, None))(jax.random.split(k_init, n_chains), model)
    step = jax.vmap(sampler.step, in_axes=(0, 0, None, None))

    def step_keys(sweep_keys):   # (n_sweeps,) -> (n_sweeps * thin, n_chains)
        per = jax.vmap(lambda k: jnp.stack([jax.random.split(jax.random.fold_in(k, j), n_chains)
                                            for j in range(thin)]))(sweep_keys)
        return per.reshape(-1, n_chains)

    @jax.jit
    def run(key, states):
        keys = jnp.concatenate([
            step_keys(jax.random.split(jax.random.fold_in(key, 1), n_therm)),
            step_keys(jax.random.split(key, n_samples))])

        def body(states, ks):
            states, _ = step(ks, states, model, T_arg)
            return states, states.tokens

        _, toks = lax.scan(body, states, keys)
        return toks[n_therm * thin + thin - 1::thin]

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


def ising_2d_magnetisation_distribution(L: int, T: float) -> np.ndarray:
    """Exact ``P(n_up)``, ``n_up = 0..L²``, of the periodic ``L × L`` Ising model (``J = 1``).

    Column transfer matrix with the number of up spins carried along: ``A[s₀, n, s]`` sums the
    weights of the first columns that start in state ``s₀``, end in ``s`` and hold ``n`` up
    spins; the trace closes the ring. Cost ``L · 4^L · (L² + 1) · 2^L``: about a second at
    ``L = 8`` (a 2^{L²}-term enumeration beyond ``L = 5``).
    """
    beta = 1.0 / T
    S = np.arange(2**L)
    spins = 1 - 2 * ((S[:, None] >> np.arange(L)) & 1)            # (2^L, L) column states
    n_up = (spins > 0).sum(1)
    e_column = -(spins * np.roll(spins, -1, 1)).sum(1)              # bonds inside a column
    e_between = -(spins @ spins.T)                                  # bonds to the next column
    step = np.exp(-beta * (e_between + e_column[None, :]))
    N = L * L
    A = np.zeros((2**L, N + 1, 2**L))
    A[S, n_up, S] = np.exp(-beta * e_column)
    for _ in range(L - 1):
        B = (A.reshape(-1, 2**L) @ step).reshape(A.shape)
        A = np.zeros_like(B)
        for k in range(L + 1):                                      # the new column adds k ups
            cols = n_up == k
            A[:, k:, cols] = B[:, :N + 1 - k, cols]
        A /= A.max()
    Z_n = np.einsum("anb,ba->n", A, np.exp(-beta * e_between))
    return Z_n / Z_n.sum()


def ising_2d_binder(L: int, T: float) -> float:
    """Exact Binder cumulant ``U₄ = 1 − ⟨m⁴⟩/(3⟨m²⟩²)`` of the periodic ``L × L`` Ising model."""
    p = ising_2d_magnetisation_distribution(L, T)
    m = np.abs(2 * np.arange(L * L + 1) - L * L) / (L * L)
    return float(1 - (p @ m**4) / (3 * (p @ m**2) ** 2))


def ising_3x3x3_counts() -> np.ndarray:
    """Exact number of configurations of the periodic 3×3×3 Ising lattice with ``b`` broken
    bonds and ``u`` up spins, ``(82, 28)``; ``E = −(81 − 2b)``, ``M = 2u − 27``.

    All 2²⁷ states as bit patterns (spin ``(i, j, k)`` is bit ``9i + 3j + k``): the neighbour
    pattern along an axis of stride ``s`` moves the bits with coordinate 0, 1 down by ``s`` and
    those with coordinate 2 up by ``2s``; broken bonds are the set bits of ``x XOR neighbour``.
    Half the states are enumerated (spin 26 down) and the spin flip gives the rest. ~1 s.
    """
    masks = []
    for s in (1, 3, 9):
        coord = (np.arange(27) // s) % 3
        masks.append((s, np.uint32(sum(1 << p for p in range(27) if coord[p] < 2)),
                      np.uint32(sum(1 << p for p in range(27) if coord[p] == 2))))
    counts = np.zeros(82 * 28, np.int64)
    chunk = 1 << 22
    for start in range(0, 1 << 26, chunk):
        x = np.arange(start, start + chunk, dtype=np.uint32)
        broken = np.zeros(chunk, np.int64)
        for s, low, high in masks:
            y = ((x >> np.uint32(s)) & low) | ((x << np.uint32(2 * s)) & high)
            broken += np.bitwise_count(x ^ y)
        counts += np.bincount(broken * 28 + np.bitwise_count(x), minlength=82 * 28)
    counts = counts.reshape(82, 28)
    return counts + counts[:, ::-1]
