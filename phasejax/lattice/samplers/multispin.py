"""Multispin coding: checkerboard updates of two-token (Ising-like) models, 32 sites per word.

**Layout.** A periodic ``L^d`` lattice (``d = 2, 3``, ``L`` even) is cut along axis 0 into
``S`` strips of ``H = L / S`` rows, ``S`` the largest divisor of ``L / 2`` up to 32. Bit ``b`` of
word ``w[i, j, …]`` holds the token of site ``(i + b H, j, …)``. A site's neighbours along axes
``1 … d-1`` then sit at the same bit of the neighbouring word, and along axis 0 too, except at the
strip edges, where the neighbour is in the next strip: one bit over, a rotation by one of the word
on the other side. ``H`` is even, so a word's ``S`` sites share one checkerboard colour
(``(i + j + …) mod 2``); the words of each colour are stored as a separate plane with the last
axis halved, ``P_c[i, …, k] = w[i, …, 2k + π_c]``, ``π_c = (i + j + … + c) mod 2``. The
neighbours of ``P_c[i, …, k]`` along the last axis are ``P_{1-c}[i, …, k]`` and
``P_{1-c}[i, …, k ± 1]`` (``+`` where ``π_c = 1``), along every other axis the words with the same
``k``. So every neighbour of 32 sites is one word, reached by a roll of the other plane.

**Update.** ``u_j = P ⊕ N_j`` marks the sites whose ``j``-th neighbour holds the other token; a
tree of bitwise full adders counts them, ``k`` in binary, per bit lane. The site's class
``(s, k)`` fixes the flip energy ``ΔE[s, k]`` (:meth:`~phasejax.lattice.model.EnergyModel.flip_energies`,
fields included) and the flip probability ``p = min(1, e^{−βΔE})`` (Metropolis) or
``1 / (1 + e^{βΔE})`` (heat-bath, which for two tokens is a flip with that probability).

**Exact acceptance from random bits.** The scalar kernels accept when ``u < p`` with ``u`` a
24-bit uniform, ``u = m / 2^24``; equivalently ``m < T`` with ``T = ⌈p 2^24⌉``. Here ``m`` is
bit-sliced: bit ``23 − l`` of lane ``b``'s ``m`` is bit ``b`` of the ``l``-th random word, so 24
independent uniform words give 32 independent 24-bit uniforms. ``m < T`` is decided most
significant bit first: ``lt |= eq ∧ t_l ∧ ¬r_l``, ``eq ∧= ¬(t_l ⊕ r_l)``, where ``t_l`` holds bit
``23 − l`` of each lane's own threshold, selected from its class with bit masks. ``T = 2^24``
(``p = 1``) is a separate "always" mask. The acceptance probability of every site is therefore
``⌈p 2^24⌉ / 2^24``, exactly that of the scalar kernels, with one random number per site.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from phasejax.lattice.model import NotIsingLike
from phasejax.lattice.random import random_planes

LEVELS = 24               # bits of each site's uniform, the resolution of float32 probabilities
WORD_BITS = 32
RULES = ("metropolis", "heatbath")
_ONES = np.uint32(0xFFFFFFFF)


class Layout(NamedTuple):
    """Static multispin layout of a hypercubic lattice."""

    shape: tuple[int, ...]   # lattice shape (L,) * d
    bits: int                # S: sites per word (strips along axis 0)
    rows: int                # H = L / S: rows per strip (even)

    @property
    def plane_shape(self) -> tuple[int, ...]:
        """Shape of one colour's plane of words: ``(H, L, …, L / 2)``."""
        return (self.rows, *self.shape[1:-1], self.shape[-1] // 2)


def layout(lattice) -> Optional[Layout]:
    """The layout of ``lattice``, or ``None`` when it has none (not a 2D/3D hypercubic lattice
    of even ``L``)."""
    if lattice.kind != "hypercubic" or lattice.dim not in (2, 3) or lattice.L % 2:
        return None
    L = lattice.L
    S = max(s for s in range(1, WORD_BITS + 1) if L % (2 * s) == 0)
    return Layout(lattice.shape, S, L // S)


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
def _odd(lay: Layout) -> np.ndarray:
    """``π_0``: whether plane 0's word ``[i, …, k]`` holds column ``2k + 1``, shape
    ``(H, L, …, 1)``."""
    lead = np.indices(lay.plane_shape[:-1]).sum(0) % 2 == 1
    return lead[..., None]


def _shifts(lay: Layout, ndim: int) -> jax.Array:
    return jnp.arange(lay.bits, dtype=jnp.uint32).reshape((lay.bits,) + (1,) * ndim)


def pack(lay: Layout, tokens: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Tokens (0/1 or bool, shape ``lay.shape``) → the two colour planes of ``uint32`` words."""
    t = tokens.astype(jnp.uint32).reshape((lay.bits, lay.rows) + lay.shape[1:])
    word = lax.reduce(t << _shifts(lay, len(lay.shape)), jnp.uint32(0), lax.bitwise_or, (0,))
    pair = word.reshape(word.shape[:-1] + (lay.shape[-1] // 2, 2))
    even, odd = pair[..., 0], pair[..., 1]
    pi = jnp.asarray(_odd(lay))
    return jnp.where(pi, odd, even), jnp.where(pi, even, odd)


def unpack(lay: Layout, p0: jax.Array, p1: jax.Array) -> jax.Array:
    """The two colour planes → int8 tokens of shape ``lay.shape`` (inverse of :func:`pack`).

    Each column parity is unpacked on its own and the two are interleaved at the end, which
    XLA:CPU vectorises better than unpacking interleaved words.
    """
    pi = jnp.asarray(_odd(lay))
    shifts = _shifts(lay, len(lay.shape))
    columns = [((w[None] >> shifts) & jnp.uint32(1)).astype(jnp.int8)
               for w in (jnp.where(pi, p1, p0), jnp.where(pi, p0, p1))]   # even, odd
    return jnp.stack(columns, -1).reshape(lay.shape)


# ----------------------------------------------------------------------------- bit arithmetic
def _rotr(x, S):
    """Bit ``b`` ← bit ``b + 1`` (mod ``S``) of words whose bits above ``S`` are clear."""
    if S == WORD_BITS:
        return (x >> jnp.uint32(1)) | (x << jnp.uint32(S - 1))
    return (x >> jnp.uint32(1)) | ((x & jnp.uint32(1)) << jnp.uint32(S - 1))


def _rotl(x, S):
    """Bit ``b`` ← bit ``b − 1`` (mod ``S``) of words whose bits above ``S`` are clear."""
    if S == WORD_BITS:
        return (x << jnp.uint32(1)) | (x >> jnp.uint32(S - 1))
    return ((x << jnp.uint32(1)) & jnp.uint32((1 << S) - 1)) | (x >> jnp.uint32(S - 1))


def neighbour_words(q: jax.Array, odd: jax.Array, S: int) -> list[jax.Array]:
    """The ``2d`` neighbour words of every word of a plane, from the other colour's plane ``q``.

    ``odd`` (bool, shape ``(H, …, 1)``) marks the rows where the plane being updated holds the
    odd columns (its last-axis neighbours are ``k`` and ``k + 1``, else ``k − 1`` and ``k``).
    """
    last = q.ndim - 1
    nb = [jnp.concatenate([q[1:], _rotr(q[:1], S)], 0),      # axis 0, + 1 (next strip: bit b+1)
          jnp.concatenate([_rotl(q[-1:], S), q[:-1]], 0)]    # axis 0, − 1
    for axis in range(1, last):
        nb += [jnp.roll(q, -1, axis), jnp.roll(q, 1, axis)]
    nb += [q, jnp.where(odd, jnp.roll(q, -1, last), jnp.roll(q, 1, last))]
    return nb


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
    """Bit-sliced thresholds of every class ``(s, k)`` (rows of ``flip_energies``).

    Returns ``(bits, always)``: ``bits[l, c]`` is all ones where bit ``23 − l`` of
    ``T_c = ⌈p_c 2^24⌉`` is set, else zero, shape ``(24, n_classes)``; ``always[c]`` is all ones
    where ``T_c = 2^24`` (``p_c = 1``), shape ``(n_classes,)``.
    """
    x = -beta * flip_energies.reshape(-1)
    if rule == "metropolis":
        p = jnp.exp(x)
    elif rule == "heatbath":
        p = jax.nn.sigmoid(x)
    else:
        raise ValueError(f"rule={rule!r}; expected one of {RULES}")
    scale = jnp.float32(2.0**LEVELS)
    T = jnp.ceil(jnp.minimum(p, jnp.float32(1.0)) * scale).astype(jnp.int32)
    ones, zero = jnp.uint32(_ONES), jnp.uint32(0)
    always = jnp.where(T >= (1 << LEVELS), ones, zero)
    place = jnp.arange(LEVELS - 1, -1, -1, dtype=jnp.int32)[:, None]
    bits = jnp.where(((T[None, :] >> place) & 1) == 1, ones, zero)
    # materialised: fused into the word loop, XLA would recompute every threshold per word
    return lax.optimization_barrier((bits, always))


def _class_masks(p, digits, z):
    """Lanes of each class ``(s, k)``: ``s = 0`` for ``k = 0 … z``, then ``s = 1``."""
    count = [_equals(digits, v) for v in range(z + 1)]
    return [c & ~p for c in count] + [c & p for c in count]


def _select(classes, row):
    """Per lane, the entry of ``row`` (one all-ones-or-zero mask per class) of its class."""
    t = classes[0] & row[0]
    for c in range(1, len(classes)):
        t = t | (classes[c] & row[c])
    return t


def _compare(classes, bits, lt, eq, levels):
    """Advance the bit-serial comparison ``m < T`` over ``levels``: ``(level, random word)``."""
    for l, r in levels:
        t = _select(classes, bits[l])
        x = t ^ r
        lt = lt | (eq & x & t)
        eq = eq & ~x
    return lt, eq


def half_sweep(key, p: jax.Array, q: jax.Array, odd: jax.Array, bits, always, *, S: int,
               source: str, keep: Optional[jax.Array] = None) -> jax.Array:
    """Update every site of plane ``p`` (one colour) given the other colour's plane ``q``.

    ``bits``/``always`` from :func:`thresholds`; ``keep`` marks sites allowed to change (not
    frozen). Returns the new plane.
    """
    unlike = [p ^ n for n in neighbour_words(q, odd, S)]
    classes = _class_masks(p, bit_count(unlike), len(unlike))
    lt, _ = _compare(classes, bits, jnp.zeros_like(p), ~jnp.zeros_like(p),
                     enumerate(random_planes(key, p.shape, LEVELS, source)))
    flip = _select(classes, always) | lt
    if keep is not None:
        flip = flip & keep
    if S < WORD_BITS:
        flip = flip & jnp.uint32((1 << S) - 1)
    return p ^ flip


def _popcount(x):
    return jnp.sum(lax.population_count(x).astype(jnp.int32))


def sweep(key, lay: Layout, planes, bits, always, *, source: str, keep=None):
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
        a2 = half_sweep(keys[i], a, b, odd, bits, always, S=lay.bits, source=source,
                        keep=keep_a)
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
