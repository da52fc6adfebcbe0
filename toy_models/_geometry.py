"""Lattice construction shared by the model factories."""

from phasejax.lattice import Lattice


def lattice_for(geometry: str, L: int, dim: int = 2, R: int = 1) -> Lattice:
    """``geometry`` is ``"hypercubic"``, ``"chain"`` or ``"complete"`` (mean field)."""
    if geometry == "hypercubic":
        return Lattice("hypercubic", L, dim)
    if geometry == "chain":
        return Lattice("chain", L, 1, R)
    if geometry == "complete":
        return Lattice("complete", L, 0)
    raise ValueError(f"unknown geometry {geometry!r}; expected 'hypercubic', 'chain' or 'complete'")
