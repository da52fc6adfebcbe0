"""q-state Potts model: ``E = -J Σ_<ij> δ(s_i, s_j) - Σ_i h[s_i]``.

On the square lattice with ``J = 1`` the transition is at ``T_c = 1 / ln(1 + √q)``,
continuous for ``q <= 4`` and first order above.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from phasejax.lattice.model import CouplingModel, pytree_model, validate_coupling_arrays
from toy_models import register
from toy_models._geometry import lattice_for


@pytree_model
@dataclasses.dataclass(frozen=True)
class Potts(CouplingModel):
    """``q``-state Potts model: coupling ``W_r = J_r 1`` (identity: like tokens attract) and
    a field ``h`` on the tokens (:func:`make`)."""

    name = "potts"


@register("potts")
def make(L: int, q: int = 3, dim: int | None = None, J: float = 1.0, h=0.0,
         geometry: str = "hypercubic", R: int = 1) -> Potts:
    """Potts model; ``h`` is a scalar (field on token 0) or a length-``q`` field vector."""
    lat = lattice_for(geometry, L, dim, R)
    if not isinstance(q, (int, np.integer)) or q < 2:
        raise ValueError(f"number of tokens q={q!r} must be an integer >= 2")
    J = np.broadcast_to(np.asarray(J, np.float32), (lat.n_shells,))
    W = J[:, None, None] * np.eye(q, dtype=np.float32)
    h = np.asarray(h, np.float32)
    if h.ndim == 0:
        h = np.zeros(q, np.float32) + np.eye(q, dtype=np.float32)[0] * h
    W, h, _ = validate_coupling_arrays(lat, q, W, h)
    return Potts(lattice=lat, q=q, W=W, h=h)
