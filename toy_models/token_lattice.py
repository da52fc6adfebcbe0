"""General token lattice: any symmetric ``q×q`` coupling ``W`` (per range on a chain), a field
``h`` on every token and an optional per-site field ``h_site[i, s]`` (the "prompt field").

``E(s) = -Σ_r Σ_<ij>_r W_r[s_i, s_j] - Σ_i h[s_i] - Σ_i h_site[i, s_i]``.
"""

from __future__ import annotations

import numpy as np

from phasejax.lattice.model import CouplingModel, validate_coupling_arrays
from toy_models import register
from toy_models._geometry import lattice_for


@register("token_lattice")
def make(L: int, q: int, W, h=None, h_site=None, dim: int | None = None,
         geometry: str = "chain", R: int = 1) -> CouplingModel:
    """Token lattice from explicit arrays (lists are accepted, as a YAML config gives them):
    ``h`` the ``(q,)`` field on every token, ``h_site`` the ``(*shape, q)`` per-site field."""
    lat = lattice_for(geometry, L, dim, R)
    h = np.zeros(q, np.float32) if h is None else h
    W, h, h_site = validate_coupling_arrays(lat, q, W, h, h_site)
    return CouplingModel(lattice=lat, q=q, W=W, h=h, h_site=h_site)
