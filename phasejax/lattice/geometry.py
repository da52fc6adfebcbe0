"""Lattice geometries: which sites interact, and how the sites are coloured.

A lattice is static structure (hashable, a compile-time constant). Three kinds:

* ``hypercubic``: periodic ``L^d`` grid, ``d = 1, 2, 3``, nearest neighbours (one bond shell).
* ``chain``: periodic 1D ring of ``L`` sites where site ``i`` couples to ``i ± r`` for
  ``r = 1..R``; bond shell ``r - 1`` carries the range-``r`` coupling (sequence-like models).
* ``complete``: ``L`` sites, every pair coupled (mean field, Curie–Weiss); one shell.

Tokens are stored as an integer array of shape :attr:`Lattice.shape`. Neighbours of
hypercubic and chain lattices are reached with ``jnp.roll`` along static shifts, so kernels
never gather through index tables on the hot path.

A *colouring* assigns each site a colour such that no two interacting sites share one; all
sites of one colour can then be updated in parallel (checkerboard updates). Even hypercubic
lattices use the two-colour parity; other sparse lattices use a greedy colouring; the complete
graph needs one colour per site.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

KINDS = ("hypercubic", "chain", "complete")


@dataclasses.dataclass(frozen=True)
class Lattice:
    """Static description of a lattice.

    Attributes:
      kind: one of ``"hypercubic"``, ``"chain"``, ``"complete"``.
      L: linear size (number of sites for ``chain`` and ``complete``).
      dim: spatial dimension (``1`` for ``chain``, ``0`` for ``complete``).
      R: coupling range of a ``chain`` (number of bond shells); ``1`` otherwise.
    """

    kind: str
    L: int
    dim: int = 1
    R: int = 1

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"lattice kind {self.kind!r} is not one of {KINDS}")
        if not isinstance(self.L, (int, np.integer)) or self.L < 2:
            raise ValueError(f"lattice size L={self.L!r} must be an integer >= 2")
        if self.kind == "hypercubic" and self.dim not in (1, 2, 3):
            raise ValueError(f"hypercubic dimension dim={self.dim!r} must be 1, 2 or 3")
        if self.kind == "chain":
            if not (isinstance(self.R, (int, np.integer)) and 1 <= self.R):
                raise ValueError(f"chain range R={self.R!r} must be an integer >= 1")
            if 2 * self.R >= self.L:
                raise ValueError(
                    f"chain range R={self.R} needs L > 2R (got L={self.L}): a site would "
                    "meet the same neighbour twice around the ring")

    # ----------------------------------------------------------------- shape
    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the token array."""
        if self.kind == "hypercubic":
            return (self.L,) * self.dim
        return (self.L,)

    @property
    def n_sites(self) -> int:
        """Number of sites ``N = Π shape``."""
        return int(np.prod(self.shape))

    @property
    def n_shells(self) -> int:
        """Number of distinct couplings (bond shells)."""
        return self.R if self.kind == "chain" else 1

    @property
    def spatial_dim(self) -> int:
        """Spatial dimension: ``dim`` for hypercubic, 1 for a chain, 0 for the complete graph."""
        return 0 if self.kind == "complete" else (self.dim if self.kind == "hypercubic" else 1)

    # ------------------------------------------------------------ neighbours
    @property
    def directions(self) -> tuple[tuple[int, int, int], ...]:
        """Forward bond directions ``(axis, shift, shell)``.

        Each bond is counted once: site ``x`` is bonded to ``roll(x, -shift, axis)`` i.e. to
        the site ``shift`` steps ahead along ``axis``. Empty for the complete graph.
        """
        if self.kind == "hypercubic":
            return tuple((a, 1, 0) for a in range(self.dim))
        if self.kind == "chain":
            return tuple((0, r, r - 1) for r in range(1, self.R + 1))
        return ()

    def coordination(self) -> tuple[int, ...]:
        """Number of neighbours of a site in each shell."""
        if self.kind == "complete":
            return (self.L - 1,)
        z = [0] * self.n_shells
        for _, _, shell in self.directions:
            z[shell] += 2
        return tuple(z)

    @functools.cached_property
    def edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every bond once as flat-index arrays ``(src, dst, shell)``."""
        n = self.n_sites
        if self.kind == "complete":
            i, j = np.triu_indices(n, k=1)
            return i.astype(np.int32), j.astype(np.int32), np.zeros(i.size, np.int32)
        idx = np.arange(n).reshape(self.shape)
        src, dst, shell = [], [], []
        for axis, shift, sh in self.directions:
            src.append(idx.ravel())
            dst.append(np.roll(idx, -shift, axis).ravel())
            shell.append(np.full(n, sh))
        return (np.concatenate(src).astype(np.int32), np.concatenate(dst).astype(np.int32),
                np.concatenate(shell).astype(np.int32))

    # -------------------------------------------------------------- colours
    @functools.cached_property
    def colouring(self) -> np.ndarray:
        """Integer colour of every site (shape :attr:`shape`); bonded sites differ."""
        if self.kind == "complete":
            return np.arange(self.L, dtype=np.int32)
        if self.kind == "hypercubic" and self.L % 2 == 0:
            return (np.indices(self.shape).sum(0) % 2).astype(np.int32)
        if self.kind == "chain" and self.L % (self.R + 1) == 0:
            return (np.arange(self.L) % (self.R + 1)).astype(np.int32)
        return _greedy_colouring(self.n_sites, *self.edges[:2]).reshape(self.shape)

    @property
    def n_colours(self) -> int:
        """Number of colours of :attr:`colouring` (sites of one colour can update together)."""
        return int(self.colouring.max()) + 1


def _greedy_colouring(n: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    nbrs = [[] for _ in range(n)]
    for a, b in zip(src.tolist(), dst.tolist()):
        nbrs[a].append(b)
        nbrs[b].append(a)
    colour = np.full(n, -1, np.int32)
    for i in range(n):
        used = {colour[j] for j in nbrs[i]}
        c = 0
        while c in used:
            c += 1
        colour[i] = c
    return colour


def hypercubic(L: int, dim: int) -> Lattice:
    """Periodic hypercubic lattice of ``L^dim`` sites, nearest-neighbour bonds."""
    return Lattice("hypercubic", L, dim)


def chain(L: int, R: int = 1) -> Lattice:
    """Periodic chain of ``L`` sites bonded to neighbours ``1 … R`` apart (one shell per range)."""
    return Lattice("chain", L, 1, R)


def complete(N: int) -> Lattice:
    """Complete graph of ``N`` sites: every pair bonded (mean field)."""
    return Lattice("complete", N, 0)
