"""Lattice sites as bits of ``uint32`` words, and exact Bernoulli bits from random words.

**Strips.** A periodic lattice of shape ``(L, …)`` is cut along axis 0 into ``S ≤ 32`` strips of
``H = L / S`` rows; bit ``b`` of word ``w[i, …]`` holds site ``(i + b H, …)``. The neighbour of a
site along any axis but 0 is the same bit of the neighbouring word (a roll of the word array);
along axis 0 too, except across a strip edge, where it is one bit over in the word on the other
side of the array (a rotation by one bit). So every neighbour of ``S`` sites is one word, and one
bitwise operation acts on ``S`` sites at once.

**Exact Bernoulli bits.** The scalar kernels accept when ``u < p`` with ``u = m / 2^24`` a 24-bit
uniform, i.e. ``m < T`` with ``T = ⌈p 2^24⌉``. Here ``m`` is bit-sliced: bit ``23 − l`` of lane
``b``'s ``m`` is bit ``b`` of the ``l``-th random word, so 24 independent uniform words give 32
independent 24-bit uniforms. ``m < T`` is decided most significant bit first,
``lt |= eq ∧ t_l ∧ ¬r_l``, ``eq ∧= ¬(t_l ⊕ r_l)``, where ``t_l`` holds bit ``23 − l`` of each
lane's threshold; ``T = 2^24`` (``p = 1``) is a separate "always" mask. Each lane's bit is 1 with
probability ``⌈p 2^24⌉ / 2^24`` exactly, that of the float32 comparison ``u < p``.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from phasejax.lattice.random import random_planes

WORD_BITS = 32
LEVELS = 24               # bits of each uniform: the resolution of float32 probabilities
_ONES = np.uint32(0xFFFFFFFF)


class Strips(NamedTuple):
    """Static strip layout of a lattice of shape ``shape``."""

    shape: tuple[int, ...]   # lattice shape
    bits: int                # S: sites per word (strips along axis 0)
    rows: int                # H = L / S: rows per strip

    @property
    def word_shape(self) -> tuple[int, ...]:
        """Shape of the word array: ``(H, *shape[1:])``."""
        return (self.rows, *self.shape[1:])


def strips(shape: tuple[int, ...], even_rows: bool = False) -> Optional[Strips]:
    """The layout with the most sites per word (``S`` the largest divisor of ``L`` up to 32,
    with ``H`` even when ``even_rows``), or ``None`` when ``even_rows`` and ``L`` is odd."""
    L = shape[0]
    step = 2 if even_rows else 1
    if L % step:
        return None
    S = max(s for s in range(1, WORD_BITS + 1) if L % (step * s) == 0)
    return Strips(tuple(shape), S, L // S)


def _shifts(st: Strips, ndim: int) -> jax.Array:
    return jnp.arange(st.bits, dtype=jnp.uint32).reshape((st.bits,) + (1,) * ndim)


def pack(st: Strips, x: jax.Array) -> jax.Array:
    """0/1 (or bool) array of shape ``(L, *rest)`` → words of shape ``(H, *rest)``; ``rest`` may
    be any trailing shape."""
    t = x.astype(jnp.uint32).reshape((st.bits, st.rows) + x.shape[1:])
    return jax.lax.reduce(t << _shifts(st, x.ndim), jnp.uint32(0), jax.lax.bitwise_or, (0,))


def unpack(st: Strips, w: jax.Array, dtype=jnp.int8) -> jax.Array:
    """Words of shape ``(H, *rest)`` → 0/1 array of shape ``(L, *rest)`` (inverse of
    :func:`pack`)."""
    bits = ((w[None] >> _shifts(st, w.ndim)) & jnp.uint32(1)).astype(dtype)
    return bits.reshape((st.bits * st.rows,) + w.shape[1:])


def mask(st: Strips) -> Optional[jax.Array]:
    """The bits that hold sites, or ``None`` when all 32 do."""
    return None if st.bits == WORD_BITS else jnp.uint32((1 << st.bits) - 1)


def rotate_down(x: jax.Array, S: int) -> jax.Array:
    """Bit ``b`` ← bit ``b + 1`` (mod ``S``) of words whose bits from ``S`` up are clear."""
    if S == WORD_BITS:
        return (x >> jnp.uint32(1)) | (x << jnp.uint32(S - 1))
    return (x >> jnp.uint32(1)) | ((x & jnp.uint32(1)) << jnp.uint32(S - 1))


def rotate_up(x: jax.Array, S: int) -> jax.Array:
    """Bit ``b`` ← bit ``b − 1`` (mod ``S``) of words whose bits from ``S`` up are clear."""
    if S == WORD_BITS:
        return (x << jnp.uint32(1)) | (x >> jnp.uint32(S - 1))
    return ((x << jnp.uint32(1)) & jnp.uint32((1 << S) - 1)) | (x >> jnp.uint32(S - 1))


def shift(st: Strips, w: jax.Array, axis: int, sign: int) -> jax.Array:
    """Words holding, for every site ``x``, the bit of site ``x + sign·e_axis`` (periodic)."""
    if axis == 0:
        if sign > 0:
            return jnp.concatenate([w[1:], rotate_down(w[:1], st.bits)], 0)
        return jnp.concatenate([rotate_up(w[-1:], st.bits), w[:-1]], 0)
    return jnp.roll(w, -sign, axis)


# ----------------------------------------------------------------------------- Bernoulli bits
def thresholds(p: jax.Array):
    """Bit-sliced thresholds of probabilities ``p`` (float32, shape ``(n,)``).

    Returns ``(bits, always)``: ``bits[l, c]`` is all ones where bit ``23 − l`` of
    ``T_c = ⌈p_c 2^24⌉`` is set, else zero, shape ``(24, n)``; ``always[c]`` is all ones where
    ``T_c = 2^24`` (``p_c ≥ 1``), shape ``(n,)``.
    """
    T = jnp.ceil(jnp.clip(p, 0.0, 1.0) * jnp.float32(2.0**LEVELS)).astype(jnp.int32)
    ones, zero = jnp.uint32(_ONES), jnp.uint32(0)
    always = jnp.where(T >= (1 << LEVELS), ones, zero)
    place = jnp.arange(LEVELS - 1, -1, -1, dtype=jnp.int32)[:, None]
    bits = jnp.where(((T[None, :] >> place) & 1) == 1, ones, zero)
    return bits, always


def select(classes: list, row) -> jax.Array:
    """Per lane, the entry of ``row`` (one all-ones-or-zero mask per class) of its class;
    ``classes`` are disjoint lane masks."""
    t = classes[0] & row[0]
    for c in range(1, len(classes)):
        t = t | (classes[c] & row[c])
    return t


def below_threshold(classes: list, bits, always, words) -> jax.Array:
    """Lanes whose 24-bit uniform (bit-sliced in ``words``, most significant first) is below its
    class's threshold, or whose class is ``always``: the exact Bernoulli bits of the classes'
    probabilities."""
    lt = jnp.zeros_like(classes[0])
    eq = ~lt
    for l, r in enumerate(words):
        t = select(classes, bits[l])
        x = t ^ r
        lt = lt | (eq & x & t)
        eq = eq & ~x
    return select(classes, always) | lt


def bernoulli(key: jax.Array, shape: tuple[int, ...], p: jax.Array,
              source: str = "fused") -> jax.Array:
    """``uint32`` words of shape ``shape`` whose bits are independently 1 with probability
    ``⌈p 2^24⌉ / 2^24`` (``p`` a float32 scalar), from 24 random words per word."""
    bits, always = thresholds(jnp.reshape(p, (1,)))
    every = ~jnp.zeros(shape, jnp.uint32)
    return below_threshold([every], bits, always, random_planes(key, shape, LEVELS, source))
