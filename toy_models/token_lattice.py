"""General token lattice: any symmetric ``q×q`` coupling ``W`` (per range on a chain), a
per-token bias ``b`` and an optional per-site field ``h_i(s)`` (the "prompt field").

``E(s) = -Σ_r Σ_<ij>_r W_r[s_i, s_j] - Σ_i b[s_i] - Σ_i h_i[s_i]``.
"""

from __future__ import annotations

import numpy as np

from phasejax.lattice.model import CouplingModel, validate_coupling_arrays
from toy_models import register
from toy_models._geometry import lattice_for


@register("token_lattice")
def make(L: int, q: int, W, b=None, h=None, dim: int | None = None, geometry: str = "chain",
         R: int = 1) -> CouplingModel:
    """Token lattice from explicit arrays (lists are accepted, as a YAML config gives them)."""
    lat = lattice_for(geometry, L, dim, R)
    b = np.zeros(q, np.float32) if b is None else b
    W, b, h = validate_coupling_arrays(lat, q, W, b, h)
    return CouplingModel(lattice=lat, q=q, W=W, b=b, h=h)
