"""Counter-based random words generated inside the update kernels.

Drawing a full array of uniforms with ``jax.random`` materialises it in memory and, for a
lattice sweep, costs more than the update itself. Here the same generator JAX uses,
Threefry-2x32 with 20 rounds (Salmon et al., *Parallel random numbers: as easy as 1, 2, 3*,
SC11), is written as plain ``uint32`` arithmetic so that XLA fuses it into the kernel that
consumes the words. The stream is keyed by two words drawn from a JAX key, and the counter is
the flat index of the word, so results do not depend on sharding or batching.

The words are exact 32-bit uniforms; :func:`unit_float` maps one to a float32 uniform on
``[0, 1)`` with 24 random bits (every float32 multiple of ``2**-24``), the resolution of the
float32 acceptance probabilities it is compared with.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

_ROTATIONS = (13, 15, 26, 6, 17, 29, 16, 24)
_PARITY = 0x1BD11BDA


def _rotl(x, r):
    return (x << jnp.uint32(r)) | (x >> jnp.uint32(32 - r))


def threefry2x32(k0, k1, c0, c1, rounds: int = 20):
    """Threefry-2x32 block cipher of counters ``(c0, c1)`` under key ``(k0, k1)``.

    All arguments are ``uint32`` arrays (broadcastable); returns two ``uint32`` arrays.
    Bit-identical to the cipher behind ``jax.random``'s default generator.
    """
    k2 = k0 ^ k1 ^ jnp.uint32(_PARITY)
    ks = (k0, k1, k2)
    x0 = c0 + k0
    x1 = c1 + k1
    for r in range(rounds):
        x0 = x0 + x1
        x1 = _rotl(x1, _ROTATIONS[r % 8])
        x1 = x1 ^ x0
        if r % 4 == 3:
            i = r // 4 + 1
            x0 = x0 + ks[i % 3]
            x1 = x1 + ks[(i + 1) % 3] + jnp.uint32(i)
    return x0, x1


def key_words(key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Two ``uint32`` words that key a stream, derived from a JAX PRNG key."""
    w = jax.random.bits(key, (2,), jnp.uint32)
    return w[0], w[1]


def random_words(key: jax.Array, shape: tuple[int, ...], n: int = 1) -> jax.Array:
    """``n`` independent uniform ``uint32`` words per element of ``shape``.

    Returns an array of shape ``(n, *shape)``. One cipher call yields two words, so
    ``ceil(n * size / 2)`` calls are made, each keyed by ``key`` and counted by position.
    """
    k0, k1 = key_words(key)
    size = n * int(np.prod(shape))
    half = (size + 1) // 2
    ctr = jnp.arange(half, dtype=jnp.uint32)
    x0, x1 = threefry2x32(k0, k1, ctr, jnp.zeros_like(ctr))
    words = jnp.concatenate([x0, x1])[:size]
    return words.reshape((n, *shape))


def unit_float(words: jax.Array) -> jax.Array:
    """Uniform float32 on ``[0, 1)`` from the top 24 bits of ``uint32`` words."""
    return (words >> jnp.uint32(8)).astype(jnp.float32) * jnp.float32(2.0**-24)


def below(words: jax.Array, n: int) -> jax.Array:
    """Uniform integers in ``[0, n)`` (int32) from ``uint32`` words, ``n < 2**8``.

    Uses the top 24 bits: ``floor(u * n)`` with ``u`` a 24-bit uniform; the deviation from
    uniformity is below ``n / 2**24``, the float32 resolution of everything else.
    """
    return jnp.floor(unit_float(words) * jnp.float32(n)).astype(jnp.int32)
