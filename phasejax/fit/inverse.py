"""Inverse Potts problem on a chain: fit couplings ``W_r`` and bias ``b`` to token sequences.

For sequences ``s`` of ``N`` tokens in ``{0..q-1}`` at temperature ``T``, the chain model
``E(s) = −Σ_r Σ_i W_r[s_i, s_{i+r}] − Σ_i b[s_i]`` (``W_r`` symmetric, ``r = 1..R``) is only
identified through ``J_r = W_r / T`` and ``h = b / T``. Pseudo-likelihood replaces the
intractable likelihood by the product of single-site conditionals

.. math:: \\ln p(s_i = a \\mid s_{\\setminus i}) = h_a + Σ_r (J_r[a, s_{i+r}] + J_r[a, s_{i−r}])
          − \\ln Σ_c \\exp(\\,\\cdot\\,)_c ,

which is convex in ``(J, h)``; with an L2 penalty it has one optimum, found here with optax's
L-BFGS (as in direct-coupling analysis). Neighbours beyond the ends are absent for open chains
(language-model output) and wrap around for rings (the toy lattice). Potts parameters have a
gauge freedom (``J_r[a, b] + f(a)`` traded against ``h``); results are reported in the
zero-sum gauge, ``Σ_a J_r[a, b] = Σ_b J_r[a, b] = 0``, ``Σ_a h_a = 0`` (exact for rings).
Error bars: bootstrap over sequences.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from phasejax.analysis.stats import numpy_rng
import optax


class ChainFit(NamedTuple):
    """Couplings and bias of a chain fitted by pseudo-likelihood, in units of ``T``."""

    J: np.ndarray          # (R, q, q) couplings W_r / T, zero-sum gauge
    h: np.ndarray          # (q,) bias b / T, zero-sum gauge
    J_err: np.ndarray      # (R, q, q) bootstrap standard errors
    h_err: np.ndarray      # (q,)
    neg_log_pl: float      # mean negative log pseudo-likelihood per site at the optimum
    n_sequences: int
    periodic: bool
    l2: float


def _unpack(theta, R, q):
    A = theta[:R * q * q].reshape(R, q, q)
    return 0.5 * (A + jnp.swapaxes(A, 1, 2)), theta[R * q * q:]


def _local_fields(J, h, seqs, periodic: bool):
    """``(S, N, q)`` conditional log-weights of every token at every site."""
    S, N = seqs.shape
    R, q = J.shape[0], h.shape[0]
    out = jnp.broadcast_to(h, (S, N, q))
    for r in range(R):
        for shift in (r + 1, -(r + 1)):
            nb = jnp.roll(seqs, -shift, axis=1)                    # s_{i+shift}
            contrib = J[r][:, nb]                                  # (q, S, N)
            contrib = jnp.moveaxis(contrib, 0, -1)
            if not periodic:
                idx = jnp.arange(N) + shift
                valid = (idx >= 0) & (idx < N)
                contrib = jnp.where(valid[None, :, None], contrib, 0.0)
            out = out + contrib
    return out


def neg_log_pseudo_likelihood(J, h, seqs, periodic: bool = False):
    """Mean of ``−ln p(s_i | s_∖i)`` over sequences and sites."""
    f = _local_fields(J, h, seqs, periodic)
    logp = jnp.take_along_axis(f, seqs[..., None], -1)[..., 0] - jax.nn.logsumexp(f, -1)
    return -jnp.mean(logp)


def zero_sum_gauge(J, h):
    """Move row/column means of each ``J_r`` into the bias, then centre the bias."""
    J = np.asarray(J, np.float64)
    h = np.asarray(h, np.float64).copy()
    row = J.mean(2, keepdims=True)
    col = J.mean(1, keepdims=True)
    tot = J.mean((1, 2), keepdims=True)
    h += (row[..., 0] + col[:, 0, :] - 2 * tot[..., 0]).sum(0)
    return J - row - col + tot, h - h.mean()


@partial(jax.jit, static_argnames=("R", "q", "periodic", "steps"))
def _fit_one(seqs, l2, *, R, q, periodic, steps):
    n_theta = R * q * q + q
    opt = optax.lbfgs()

    def loss(theta):
        J, h = _unpack(theta, R, q)
        return neg_log_pseudo_likelihood(J, h, seqs, periodic) + l2 * jnp.sum(theta**2)

    value_and_grad = optax.value_and_grad_from_state(loss)

    def body(carry, _):
        theta, state = carry
        value, grad = value_and_grad(theta, state=state)
        updates, state = opt.update(grad, state, theta, value=value, grad=grad, value_fn=loss)
        return (optax.apply_updates(theta, updates), state), value

    theta0 = jnp.zeros(n_theta, jnp.float32)
    (theta, _), values = jax.lax.scan(body, (theta0, opt.init(theta0)), None, length=steps)
    J, h = _unpack(theta, R, q)
    return J, h, values[-1]


def fit_couplings(key, seqs, q: int, R: int = 1, periodic: bool = False, l2: float = 1e-4,
                  n_boot: int = 20, steps: int = 100) -> ChainFit:
    """Pseudo-likelihood fit of ``(J_r, h)`` to ``seqs`` ``(S, N)``, with bootstrap errors over
    sequences drawn with the JAX PRNG ``key``."""
    seqs = np.asarray(seqs)
    if seqs.ndim != 2 or seqs.shape[0] < 2:
        raise ValueError(f"need a (sequences, length) array with at least 2 rows; got "
                         f"shape {seqs.shape}")
    if seqs.min() < 0 or seqs.max() >= q:
        raise ValueError(f"tokens must lie in 0..{q - 1}; got {seqs.min()}..{seqs.max()}")
    if not 1 <= R < seqs.shape[1]:
        raise ValueError(f"range R={R} must be in 1..{seqs.shape[1] - 1} for length "
                         f"{seqs.shape[1]}")
    rng = numpy_rng(key)
    picks = [np.arange(len(seqs))] + [rng.integers(0, len(seqs), len(seqs))
                                      for _ in range(n_boot)]
    fits, values = [], []
    for p in picks:       # one compilation serves every resample (same shapes)
        Jb, hb, v = _fit_one(jnp.asarray(seqs[p], jnp.int32), jnp.float32(l2), R=R, q=q,
                             periodic=periodic, steps=steps)
        fits.append(zero_sum_gauge(Jb, hb))
        values.append(float(v))
    J, h = fits[0]
    value = values[0]
    boots_J = [f[0] for f in fits[1:]]
    boots_h = [f[1] for f in fits[1:]]
    J_err = np.std(boots_J, 0, ddof=1) if n_boot > 1 else np.full_like(J, np.nan)
    h_err = np.std(boots_h, 0, ddof=1) if n_boot > 1 else np.full_like(h, np.nan)
    return ChainFit(J, h, J_err, h_err, value, len(seqs), periodic, l2)
