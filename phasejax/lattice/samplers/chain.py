"""Independent samples of the open Potts chain in a field, at any length.

The toy the curve fit uses (:mod:`phasejax.fit.curvefit`) is an open chain
``E(s) = −J Σ_i δ(s_i, s_{i+1}) − a Σ_i f[s_i]``; its observables are exact by enumeration up to
``q^N ≈ 2·10⁶`` sequences. Beyond that it is *sampled*: the chain is a Markov random field with
the ``q × q`` transfer matrix ``M(s, s') = exp(J δ(s, s')/T) exp(a f[s']/T)``, so backward
messages ``β_i = M β_{i+1}`` (normalised each step) give the exact conditional
``P(s_{i+1} | s_i) ∝ M(s_i, s_{i+1}) β_{i+1}(s_{i+1})`` and every draw is an independent,
exactly distributed sequence — no thermalisation, no autocorrelation, ``O(N q²)`` per draw.
The samples feed the same multiple-histogram reweighting and finite-size scaling as the lattice
simulations (:mod:`phasejax.analysis.fss`). (The lattice Monte Carlo of
:mod:`phasejax.lattice.driver` runs on periodic chains; the fitted toy has open ends like a
generated sequence, hence this sampler.)
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np



@partial(jax.jit, static_argnames=("N", "n"))
def _sample(key, J, field, T, N: int, n: int):
    q = field.shape[0]
    site = field / T                                            # log φ(s)
    bond = J / T * jnp.eye(q)                                   # log ψ(s, s')

    def backward(log_beta, _):                                  # β_i(s) = Σ ψ φ β_{i+1}
        nxt = jax.nn.logsumexp(bond + (site + log_beta)[None, :], axis=1)
        nxt = nxt - jax.nn.logsumexp(nxt)
        return nxt, nxt

    _, betas = jax.lax.scan(backward, jnp.zeros(q), None, length=N - 1)
    betas = jnp.concatenate([betas[::-1], jnp.zeros((1, q))])   # β_1 … β_N (β_N = 1)
    k0, k1 = jax.random.split(key)
    s0 = jax.random.categorical(k0, site + betas[0], shape=(n,))

    def forward(s, inp):
        k, log_beta = inp
        logits = bond[s] + (site + log_beta)[None, :]
        nxt = jax.random.categorical(k, logits)
        return nxt, nxt

    keys = jax.random.split(k1, N - 1)
    _, rest = jax.lax.scan(forward, s0, (keys, betas[1:]))
    return jnp.concatenate([s0[None], rest]).T                 # (n, N)


def sample_chain(key, J: float, field, T: float, N: int, n: int) -> np.ndarray:
    """``(n, N)`` independent sequences of the open chain with site field ``field`` (``q``,
    already multiplied by ``a``) and coupling ``J`` at temperature ``T``."""
    field = jnp.asarray(field, jnp.float32)
    if N < 1 or n < 1 or T <= 0:
        raise ValueError(f"need N >= 1, n >= 1 and T > 0; got N={N}, n={n}, T={T}")
    if N == 1:
        return np.asarray(jax.random.categorical(key, field / T, shape=(n, 1)))
    return np.asarray(_sample(key, jnp.float32(J), field, jnp.float32(T), N, n))


def chain_energy(s: np.ndarray, J: float, field) -> np.ndarray:
    """Energy of each sequence (rows of ``s``)."""
    f = np.asarray(field, float)
    return -J * (s[:, 1:] == s[:, :-1]).sum(1) - f[s].sum(1)
