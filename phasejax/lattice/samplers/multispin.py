"""Multispin coding: checkerboard updates of two-token (Ising-like) models, 32 sites per word.

**Strips.** A periodic ``L^d`` lattice (``d = 2, 3``, ``L`` even) is packed in strips along axis
0 (:mod:`phasejax.lattice.bitlattice`): bit ``b`` of word ``w[i, j, …]`` holds site
``(i + b H, j, …)``, with ``S ≤ 32`` sites per word and ``H = L / S`` rows per strip, ``H`` even.
So a word's ``S`` sites share one checkerboard colour (``(i + j + …) mod 2``), and the words of
each colour are stored as a separate plane with the last axis halved,
``P_c[i, …, k] = w[i, …, 2k + π_c]``, ``π_c = (i + j + … + c) mod 2``. The neighbours of
``P_c[i, …, k]`` along the last axis are ``P_{1-c}[i, …, k]`` and ``P_{1-c}[i, …, k ± 1]``
(``+`` where ``π_c = 1``), along every other axis the other plane's words with the same ``k``
(rotated by a bit across strip edges). Every neighbour of 32 sites is one word.

**Update.** ``u_j = P ⊕ N_j`` marks the sites whose ``j``-th neighbour holds the other token; a
tree of bitwise full adders counts them, ``k`` in binary, per bit lane. The site's class
``(s, k)`` fixes the flip energy ``ΔE[s, k]`` (:meth:`~phasejax.lattice.model.EnergyModel.flip_energies`,
fields included) and the flip probability ``p = min(1, e^{−βΔE})`` (Metropolis) or
``1 / (1 + e^{βΔE})`` (heat-bath, which for two tokens is a flip with that probability). The flip
itself is an exact Bernoulli bit of that probability built from 24 random words per word
(:func:`phasejax.lattice.bitlattice.below_threshold`): each site is accepted with probability
``⌈p 2^24⌉ / 2^24``, exactly as in the scalar kernels, from one 24-bit uniform per site.
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from phasejax.lattice import bitlattice
from phasejax.lattice.bitlattice import LEVELS, Strips
from phasejax.lattice.model import NotIsingLike
from phasejax.lattice.random import random_planes

RULES = ("metropolis", "heatbath")


def layout(lattice) -> Optional[Strips]:
    """The strip layout of ``lattice`` (``H`` even), or ``None`` when it has none (not a 2D/3D
    hypercubic lattice of even ``L``)."""
    if lattice.kind != "hypercubic" or lattice.dim not in (2, 3) or lattice.L % 2:
        return None
    return bitlattice.strips(lattice.shape, even_rows=True)


def plane_shape(lay: Strips) -> tuple[int, ...]:
    """Shape of one colour's plane of words: ``(H, L, …, L / 2)``."""
    return (lay.rows, *lay.shape[1:-1], lay.shape[-1] // 2)


def unsupported(model) -> Optional[str]:
    """Why ``model`` cannot run on the multispin kernel, or ``None`` when it can."""
    if layout(model.lattice) is None:
        lat = model.lattice
        return (f"a multispin kernel needs a 2D or 3D hypercubic lattice of even L; got "
                f"{lat.kind!r}, dim={lat.dim}, L={lat.L}")
    try:
        model.flip_energies()
    except NotIsingLike as err:
        return str(err)
    return None


# ----------------------------------------------------------------------------- packing
def _odd(lay: Strips) -> np.ndarray:
    """``π_0``: whether plane 0's word ``[i, …, k]`` holds column ``2k + 1``, shape
    ``(H, L, …, 1)``."""
    lead = np.indices(plane_shape(lay)[:-1]).sum(0) % 2 == 1
    return lead[..., None]


def pack(lay: Strips, tokens: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Tokens (0/1 or bool, shape ``lay.shape``) → the two colour planes of ``uint32`` words."""
    word = bitlattice.pack(lay, tokens)
    pair = word.reshape(word.shape[:-1] + (lay.shape[-1] // 2, 2))
    even, odd = pair[..., 0], pair[..., 1]
    pi = jnp.asarray(_odd(lay))
    return jnp.where(pi, odd, even), jnp.where(pi, even, odd)


def unpack(lay: Strips, p0: jax.Array, p1: jax.Array) -> jax.Array:
    """The two colour planes → int8 tokens of shape ``lay.shape`` (inverse of :func:`pack`).

    Each column parity is unpacked on its own and the two are interleaved at the end, which
    XLA:CPU vectorises better than unpacking interleaved words.
    """
    pi = jnp.asarray(_odd(lay))
    columns = [bitlattice.unpack(lay, w) for w in (jnp.where(pi, p1, p0), jnp.where(pi, p0, p1))]
    return jnp.stack(columns, -1).reshape(lay.shape)


# ----------------------------------------------------------------------------- bit arithmetic
def neighbour_words(lay: Strips, q: jax.Array, odd: jax.Array) -> list[jax.Array]:
    """The ``2d`` neighbour words of every word of a plane, from the other colour's plane ``q``.

    ``odd`` (bool, shape ``(H, …, 1)``) marks the rows where the plane being updated holds the
    odd columns (its last-axis neighbours are ``k`` and ``k + 1``, else ``k − 1`` and ``k``).
    Every other axis is a plain (strip-aware) shift of ``q``.
    """
    last = q.ndim - 1
    nb = [bitlattice.shift(lay, q, axis, sign) for axis in range(last) for sign in (1, -1)]
    return nb + [q, jnp.where(odd, jnp.roll(q, -1, last), jnp.roll(q, 1, last))]


def bit_count(bits: list[jax.Array]) -> list[jax.Array]:
    """Per bit lane, the number of set bits among ``bits``, as binary digits (LSB first), by a
    tree of full adders (sum ``a ⊕ b ⊕ c``, carry ``ab ∨ c(a ⊕ b)``)."""
    columns = [list(bits)]
    digits = []
    w = 0
    while w < len(columns):
        col = columns[w]
        while len(col) > 1:
            if len(columns) == w + 1:
                columns.append([])
            if len(col) >= 3:
                a, b, c = col.pop(), col.pop(), col.pop()
                t = a ^ b
                col.insert(0, t ^ c)
                columns[w + 1].append((a & b) | (c & t))
            else:
                a, b = col.pop(), col.pop()
                col.insert(0, a ^ b)
                columns[w + 1].append(a & b)
        digits.append(col[0] if col else None)
        w += 1
    return [d for d in digits if d is not None]


def _equals(digits: list[jax.Array], v: int) -> jax.Array:
    """Lanes whose binary count (``digits``) equals ``v``."""
    out = None
    for j, d in enumerate(digits):
        term = d if (v >> j) & 1 else ~d
        out = term if out is None else out & term
    return out


# ----------------------------------------------------------------------------- the update
def thresholds(flip_energies: jax.Array, beta: jax.Array, rule: str):
    """Bit-sliced thresholds (:func:`phasejax.lattice.bitlattice.thresholds`) of the flip
    probability of every class ``(s, k)``, in the order of ``flip_energies.reshape(-1)``."""
    x = -beta * flip_energies.reshape(-1)
    if rule == "metropolis":
        p = jnp.exp(x)
    elif rule == "heatbath":
        p = jax.nn.sigmoid(x)
    else:
        raise ValueError(f"rule={rule!r}; expected one of {RULES}")
    return bitlattice.thresholds(p)


def _class_masks(p, digits, z):
    """Lanes of each class ``(s, k)``: ``s = 0`` for ``k = 0 … z``, then ``s = 1``."""
    count = [_equals(digits, v) for v in range(z + 1)]
    return [c & ~p for c in count] + [c & p for c in count]


def half_sweep(key, lay: Strips, p: jax.Array, q: jax.Array, odd: jax.Array, bits, always, *,
               source: str, keep: Optional[jax.Array] = None) -> jax.Array:
    """Update every site of plane ``p`` (one colour) given the other colour's plane ``q``.

    ``bits``/``always`` from :func:`thresholds`; ``keep`` marks sites allowed to change (not
    frozen). Returns the new plane.
    """
    unlike = [p ^ n for n in neighbour_words(lay, q, odd)]
    classes = _class_masks(p, bit_count(unlike), len(unlike))
    flip = bitlattice.below_threshold(classes, bits, always,
                                      random_planes(key, p.shape, LEVELS, source))
    if keep is not None:
        flip = flip & keep
    if bitlattice.mask(lay) is not None:
        flip = flip & bitlattice.mask(lay)
    return p ^ flip


def _popcount(x):
    return jnp.sum(lax.population_count(x).astype(jnp.int32))


def sweep(key, lay: Strips, planes, bits, always, *, source: str, keep=None):
    """One checkerboard sweep of both planes, the first colour chosen at random.

    Returns ``((p0, p1), n_changed)``.

    The two colours run as the two iterations of a loop, so each updated plane is written to
    memory once: XLA:CPU would otherwise fuse the bitwise update into every consumer of its
    result (the other colour's neighbours, the count, the unpacking into 32 tokens per word)
    and recompute it per element read (optimisation barriers do not survive its pipeline).
    """
    k_order, k_colours = jax.random.split(key)
    first = jax.random.bernoulli(k_order)           # True: colour 1 goes first
    keys = jax.random.split(k_colours, 2)
    p0, p1 = planes
    a, b = jnp.where(first, p1, p0), jnp.where(first, p0, p1)
    odd = jnp.asarray(_odd(lay)) ^ first
    if keep is None:
        keep = (None, None)
    else:
        keep = (jnp.where(first, keep[1], keep[0]), jnp.where(first, keep[0], keep[1]))

    def colour(i, carry):
        a, b, odd, keep_a, keep_b = carry
        a2 = half_sweep(keys[i], lay, a, b, odd, bits, always, source=source, keep=keep_a)
        return b, a2, ~odd, keep_b, keep_a

    a2, b2, _, _, _ = lax.fori_loop(0, 2, colour, (a, b, odd, *keep))
    changed = _popcount(a2 ^ a) + _popcount(b2 ^ b)
    return (jnp.where(first, b2, a2), jnp.where(first, a2, b2)), changed


def step(key, tokens: jax.Array, model, temperature, *, rule: str, source: str,
         frozen: Optional[jax.Array] = None):
    """One sweep of ``model`` from ``tokens``: ``(new tokens, number of sites changed)``.

    ``rule`` is ``"metropolis"`` or ``"heatbath"``; ``frozen`` (bool, lattice shape) marks
    sites that keep their tokens.
    """
    lay = layout(model.lattice)
    if lay is None or unsupported(model) is not None:
        raise ValueError(unsupported(model))
    beta = 1.0 / jnp.asarray(temperature, jnp.float32)
    bits, always = thresholds(model.flip_energies(), beta, rule)
    keep = None
    if frozen is not None:
        keep = tuple(~f for f in pack(lay, frozen))
    planes, changed = sweep(key, lay, pack(lay, tokens), bits, always, source=source, keep=keep)
    return unpack(lay, *planes), changed


def steps(key, tokens: jax.Array, model, temperature, n: int, *, rule: str, source: str,
          frozen: Optional[jax.Array] = None):
    """``n`` sweeps from ``tokens`` in one call, packed once and unpacked once: ``(new tokens,
    sites changed summed over the sweeps)``. Sweep ``j`` uses ``fold_in(key, j)``."""
    lay = layout(model.lattice)
    if lay is None or unsupported(model) is not None:
        raise ValueError(unsupported(model))
    beta = 1.0 / jnp.asarray(temperature, jnp.float32)
    bits, always = thresholds(model.flip_energies(), beta, rule)
    keep = None if frozen is None else tuple(~f for f in pack(lay, frozen))

    def body(j, carry):
        planes, changed = carry
        planes, c = sweep(jax.random.fold_in(key, j), lay, planes, bits, always,
                          source=source, keep=keep)
        return planes, changed + c

    planes, changed = lax.fori_loop(0, n, body, (pack(lay, tokens), jnp.int32(0)))
    return unpack(lay, *planes), changed
