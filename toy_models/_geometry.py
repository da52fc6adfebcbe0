"""Lattice construction shared by the model factories."""

from __future__ import annotations

from phasejax.lattice.geometry import Lattice

GEOMETRIES = {"hypercubic": 2, "chain": 1, "complete": 0}   # geometry -> its dimension


def lattice_for(geometry: str, L: int, dim: int | None = None, R: int = 1) -> Lattice:
    """``geometry`` is ``"hypercubic"`` (``dim`` 1–3, default 2), ``"chain"`` (range ``R``) or
    ``"complete"`` (mean field).

    A parameter that the geometry does not have is refused rather than ignored: ``R`` other
    than 1 off a chain, ``dim`` other than the chain's 1 or the complete graph's 0.
    """
    if geometry not in GEOMETRIES:
        raise ValueError(f"unknown geometry {geometry!r}; expected one of {sorted(GEOMETRIES)}")
    if geometry != "chain" and R != 1:
        raise ValueError(f"R={R} (coupling range) applies to geometry='chain' only; this "
                         f"lattice is geometry={geometry!r}")
    if geometry != "hypercubic" and dim is not None and dim != GEOMETRIES[geometry]:
        raise ValueError(f"dim={dim} does not apply to geometry={geometry!r} (its dimension is "
                         f"{GEOMETRIES[geometry]}); dim chooses a hypercubic lattice's")
    if geometry == "hypercubic":
        return Lattice("hypercubic", L, 2 if dim is None else dim)
    if geometry == "chain":
        return Lattice("chain", L, 1, R)
    return Lattice("complete", L, 0)
