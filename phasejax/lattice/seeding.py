"""Seeds: pinned nuclei, seed fields toward a distribution, and random initial states.

* :func:`ball_mask` — sites within a radius of a centre (periodic distances; a disk in 2D),
  or a square/cube with ``shape="box"``; with :func:`place_seed` it builds seeded initial
  states, and as ``frozen`` in :func:`phasejax.lattice.anneal.anneal` it pins them until a
  release time.
* :func:`seed_field` — the field ``h(s) = λ ln p₀(s)`` on every token: with energy ``-h(s)`` per site the
  single-site Boltzmann factor is ``p₀(s)^{λ/T}``, so at ``λ = T`` and no couplings every site
  is distributed exactly as ``p₀``.
* :func:`sample_tokens` — every site drawn independently from a token distribution.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

SEED_FLOOR = 1e-6  # p₀ below this counts as "off the seed's support"


def ball_mask(lattice_shape, radius: float, center=None, shape: str = "ball") -> np.ndarray:
    """Boolean mask of sites within ``radius`` of ``center`` (default: the middle)."""
    dims = tuple(lattice_shape)
    if radius < 0:
        raise ValueError(f"seed radius={radius} must be >= 0")
    c = np.array([d // 2 for d in dims] if center is None else center, float)
    if c.size != len(dims):
        raise ValueError(f"seed center {center} has {c.size} coordinates; lattice has {len(dims)}")
    grids = np.indices(dims).astype(float)
    d = [np.abs(g - ci) for g, ci in zip(grids, c)]
    d = [np.minimum(di, n - di) for di, n in zip(d, dims)]   # periodic distance
    if shape == "ball":
        return np.sqrt(sum(di**2 for di in d)) <= radius
    if shape == "box":
        return np.all(np.stack(d) <= radius, axis=0)
    raise ValueError(f"seed shape {shape!r}; expected 'ball' or 'box'")


def place_seed(tokens, mask, token: int) -> np.ndarray:
    """``tokens`` with ``token`` written on ``mask`` (``tokens`` may be a scalar background)."""
    base = np.broadcast_to(np.asarray(tokens, np.int8), np.shape(mask)).copy()
    base[np.asarray(mask, bool)] = token
    return base


def seed_field(p0, strength: float) -> jnp.ndarray:
    """``λ ln p₀`` as a field on every token (``p₀`` floored at ``SEED_FLOOR`` and renormalised)."""
    p0 = np.asarray(p0, np.float64)
    if p0.ndim != 1 or np.any(p0 < 0) or p0.sum() <= 0:
        raise ValueError(f"seed distribution must be a non-negative vector; got {p0}")
    p0 = np.maximum(p0 / p0.sum(), SEED_FLOOR)
    return jnp.asarray(strength * np.log(p0 / p0.sum()), jnp.float32)


def sample_tokens(key, shape, p) -> jax.Array:
    """Tokens drawn independently at every site from the distribution ``p``."""
    p = jnp.asarray(p, jnp.float32)
    return jax.random.categorical(key, jnp.log(p), shape=tuple(shape)).astype(jnp.int8)
