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

**Sources.** Which generator is fastest depends on the backend, so the kernels take a
``source``:

* ``"fused"`` — the Threefry arithmetic above, fused by XLA into the kernel that consumes the
  words: nothing is written to memory. Fastest on CPUs, where a materialised array of uniforms
  costs more than the update itself.
* ``"bulk"`` — ``jax.random.bits``: the words are generated as one array, then read.
* ``"philox"`` — XLA's native ``RngBitGenerator`` with the Philox-4x32 algorithm (Salmon et al.),
  one array as well; on GPUs it is a dedicated kernel.

:func:`resolve_source` turns ``"auto"`` into the source of the default backend, once, when a
kernel is traced (:data:`BACKEND_SOURCES`). Every source gives the same numbers for the same key
on the same backend; sources differ from each other, and ``"philox"`` from one backend to
another (XLA's generator is backend-specific), which changes samples but not their statistics.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

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


SOURCES = ("fused", "bulk", "philox")
# The source "auto" resolves to, per backend. CPU: measured (benchmarks/bench_samplers.py);
# GPU and TPU: the generator the naive kernel uses, which beat the fused words on an H200
# (docs/scaling_out.md) -- benchmarks/gpu_check.sh measures every source there.
BACKEND_SOURCES = {"cpu": "fused", "gpu": "bulk", "tpu": "bulk"}


def platform() -> str:
    """The default backend's platform: ``"cpu"``, ``"gpu"`` (CUDA or ROCm) or ``"tpu"``."""
    name = jax.default_backend()
    return "gpu" if name in ("cuda", "rocm", "gpu") else name


def resolve_source(source: str) -> str:
    """``source`` checked; ``"auto"`` becomes the default backend's (:data:`BACKEND_SOURCES`)."""
    if source == "auto":
        return BACKEND_SOURCES.get(platform(), "fused")
    if source not in SOURCES:
        raise ValueError(f"rng={source!r}; expected 'auto' or one of {SOURCES}")
    return source


def random_words(key: jax.Array, shape: tuple[int, ...], n: int = 1,
                 source: str = "fused") -> jax.Array:
    """``n`` independent uniform ``uint32`` words per element of ``shape``.

    Returns an array of shape ``(n, *shape)``. With the ``"fused"`` source one cipher call
    yields two words, so ``ceil(n * size / 2)`` calls are made, each keyed by ``key`` and
    counted by position; ``"bulk"`` and ``"philox"`` draw the array in one generator call.
    """
    if source != "fused":
        return _generated(key, (n, *shape), source)
    k0, k1 = key_words(key)
    size = n * int(np.prod(shape))
    half = (size + 1) // 2
    ctr = jnp.arange(half, dtype=jnp.uint32)
    x0, x1 = threefry2x32(k0, k1, ctr, jnp.zeros_like(ctr))
    words = jnp.concatenate([x0, x1])[:size]
    return words.reshape((n, *shape))


def random_planes(key: jax.Array, shape: tuple[int, ...], n: int,
                  source: str = "fused") -> tuple[jax.Array, ...]:
    """``n`` independent arrays of uniform ``uint32`` words, each of shape ``shape``.

    With the ``"fused"`` source, plane ``2m`` and ``2m + 1`` are the two outputs of one cipher
    call on counter ``(position, m)``, so a kernel that consumes them element by element
    computes each call once, in registers, and nothing is stored.
    """
    if source != "fused":
        words = _generated(key, (n, *shape), source)
        return tuple(words[j] for j in range(n))
    kw = key_words(key)
    ctr = jnp.arange(int(np.prod(shape)), dtype=jnp.uint32).reshape(shape)
    planes = []
    for m in range((n + 1) // 2):
        planes.extend(plane_pair(kw, ctr, m))
    return tuple(planes[:n])


def plane_pair(kw: tuple[jax.Array, jax.Array], positions: jax.Array, m: int):
    """Planes ``2m`` and ``2m + 1`` of :func:`random_planes` (``"fused"``, keyed by
    ``kw = key_words(key)``) at the flat ``positions`` only (``uint32``, any shape)."""
    return threefry2x32(kw[0], kw[1], positions, jnp.full_like(positions, m))


def _generated(key, shape, source):
    if source == "bulk":
        return jax.random.bits(key, shape, jnp.uint32)
    if source == "philox":
        seed = jax.random.bits(key, (4,), jnp.uint32)
        return lax.rng_bit_generator(seed, shape, jnp.uint32,
                                     algorithm=lax.RandomAlgorithm.RNG_PHILOX)[1]
    raise ValueError(f"unknown random source {source!r}; expected one of {SOURCES}")


def unit_float(words: jax.Array) -> jax.Array:
    """Uniform float32 on ``[0, 1)`` from the top 24 bits of ``uint32`` words."""
    return (words >> jnp.uint32(8)).astype(jnp.float32) * jnp.float32(2.0**-24)


def below(words: jax.Array, n: int) -> jax.Array:
    """Uniform integers in ``[0, n)`` (int32) from ``uint32`` words, ``n < 2**8``.

    Uses the top 24 bits: ``floor(u * n)`` with ``u`` a 24-bit uniform; the deviation from
    uniformity is below ``n / 2**24``, the float32 resolution of everything else.
    """
    return jnp.floor(unit_float(words) * jnp.float32(n)).astype(jnp.int32)
