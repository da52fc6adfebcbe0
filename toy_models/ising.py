"""Ising model: ``E = -J Σ_<ij> σ_i σ_j - h Σ_i σ_i`` with ``σ = 2 s - 1 ∈ {-1, +1}``.

Token 0 is spin down, token 1 spin up. On the square lattice (``J = 1``)
``T_c = 2 / ln(1 + √2) ≈ 2.269185`` (:data:`phasejax.lattice.exact.ISING_2D_TC`). As a token
lattice: ``W = J [[1, -1], [-1, 1]]``, ``h = (-h, h)`` per token; the Potts-like cluster coupling is
``K = 2J``.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from phasejax.lattice.model import CouplingModel, pytree_model, validate_coupling_arrays
from toy_models import register
from toy_models._geometry import lattice_for


@pytree_model
@dataclasses.dataclass(frozen=True)
class Ising(CouplingModel):
    """Two-token coupling model with an arithmetic single-flip energy change."""

    name = "ising"

    def delta_energy(self, s, t):
        """``ΔE`` of setting each site to ``t``: ``2σ_i(Σ_r J_r Σ_{j∈∂_r i} σ_j + h)`` where
        ``t ≠ s`` (a flip), 0 where ``t = s``; the general coupling sum on complete lattices
        and with per-site fields."""
        if self.lattice.kind == "complete" or self.h_site is not None:
            return super().delta_energy(s, t)
        J = self.W[:, 1, 1]
        field = self.h[1]
        sigma = 2 * s - 1  # int8, ±1
        local = jnp.float32(0.0)
        for shell in range(self.lattice.n_shells):
            nsum = jnp.zeros_like(sigma)
            for axis, shift, sh in self.lattice.directions:
                if sh == shell:
                    nsum = nsum + jnp.roll(sigma, -shift, axis) + jnp.roll(sigma, shift, axis)
            local = local + J[shell] * nsum.astype(jnp.float32)
        flip = 2.0 * sigma.astype(jnp.float32) * (local + field)
        return jnp.where(t == s, jnp.float32(0.0), flip)


@register("ising")
def make(L: int, dim: int | None = None, J: float = 1.0, h: float = 0.0,
         geometry: str = "hypercubic", R: int = 1) -> Ising:
    """Ising model with coupling ``J`` (one value, or one per chain range) and field ``h``;
    ``dim`` (default 2) for a hypercubic lattice, ``R`` for a chain."""
    lat = lattice_for(geometry, L, dim, R)
    J = np.broadcast_to(np.asarray(J, np.float32), (lat.n_shells,))
    W = J[:, None, None] * np.array([[1.0, -1.0], [-1.0, 1.0]], np.float32)
    W, field, _ = validate_coupling_arrays(lat, 2, W, [-h, h])
    return Ising(lattice=lat, q=2, W=W, h=field)
