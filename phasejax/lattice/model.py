"""The energy-model protocol every sampler works through, and its coupling-matrix form.

A model is a frozen dataclass registered as a pytree: its arrays (couplings, fields) are
leaves, so a sweep over them reuses one compilation; its lattice and ``q`` are static.
Tokens are integer arrays of shape ``lattice.shape`` with values in ``[0, q)``.

What samplers need from a model (:class:`EnergyModel`):

* :meth:`~EnergyModel.delta_energy` — ``E(s with s_i -> t_i) - E(s)`` for every site ``i``
  alone (Metropolis, two-state heat-bath); never an ``(N, q)`` array.
* :meth:`~EnergyModel.local_energies` — the energy of each of the ``q`` tokens at each site,
  with the rest held fixed (heat-bath for ``q > 2``).
* :meth:`~EnergyModel.energy` — the total energy.
* :meth:`~EnergyModel.field_energy` and :meth:`~EnergyModel.bond_couplings` — for cluster
  moves, which need the couplings to be Potts-like: on every bond of shell ``r`` the energy is
  ``-K_r δ(s_i, s_j)`` plus a constant, with ``K_r >= 0``; single-site terms stay as fields.
* :meth:`~EnergyModel.flip_energies` — for multispin kernels, which need an Ising-like model:
  two tokens, and a flip whose energy change depends only on the site's token and on how many
  of its neighbours hold the other one (one bond shell, no per-site field).

:class:`CouplingModel` implements all of it for the general token lattice

.. math:: E(s) = -\\sum_{r}\\sum_{\\langle ij\\rangle_r} W_r[s_i, s_j] - \\sum_i h[s_i] - \\sum_i h^{site}_i[s_i],

where ``<ij>_r`` runs over the bonds of shell ``r`` (each once). On the complete graph every
pair is a bond and carries ``W/N`` (mean-field scaling, so the energy is extensive).
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from phasejax.lattice.geometry import Lattice

TOKEN_DTYPE = jnp.int8


def static_field(**kwargs):
    """A dataclass field that is pytree metadata (static under ``jit``)."""
    return dataclasses.field(metadata={"static": True}, **kwargs)


def pytree_model(cls):
    """Class decorator: register a frozen dataclass as a JAX pytree.

    Fields made with :func:`static_field` are static metadata (part of the compiled program:
    lattice, ``q``); every other field is a traced leaf (couplings, fields), so a sweep over
    them reuses one compilation.
    """
    fields = dataclasses.fields(cls)
    meta = [f.name for f in fields if f.metadata.get("static")]
    data = [f.name for f in fields if not f.metadata.get("static")]
    return jax.tree_util.register_dataclass(cls, data_fields=data, meta_fields=meta)


def power_law(r, A, sigma):
    """``J_r = A r^{-(1+σ)}``: the long-range coupling profile (numpy or JAX arrays alike), one
    definition for the toy chain, its fit and everything that rebuilds couplings from a fit."""
    return A * r ** -(1.0 + sigma)


class NotPottsLike(ValueError):
    """The model's couplings cannot be written as ``-K δ(s_i, s_j)`` with ``K >= 0``."""


class NotIsingLike(ValueError):
    """A flip's energy change is not a function of the site's token and its number of unlike
    neighbours alone (``q != 2``, several bond shells, a per-site field, or the complete graph)."""


@dataclasses.dataclass(frozen=True)
class EnergyModel:
    """Abstract energy model on a lattice of ``q``-token sites."""

    lattice: Lattice = static_field()
    q: int = static_field()

    name = "abstract"

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the token array (the lattice's)."""
        return self.lattice.shape

    @property
    def n_sites(self) -> int:
        """Number of sites ``N``."""
        return self.lattice.n_sites

    def delta_energy(self, s: jax.Array, t: jax.Array) -> jax.Array:
        """``ΔE_i = E(s with s_i → t_i) − E(s)`` for every site ``i`` at once (each change
        alone), shape ``(*shape,)``.
        """
        raise NotImplementedError

    def local_energies(self, s: jax.Array) -> jax.Array:
        """``e_i(a)``: the energy terms of site ``i`` holding token ``a`` given its neighbours,
        shape ``(*shape, q)`` — what heat-bath samples from (``p_i(a) ∝ exp(−e_i(a)/T)``).
        """
        raise NotImplementedError

    def energy(self, s: jax.Array) -> jax.Array:
        """Total energy ``E(s)``, a scalar."""
        raise NotImplementedError

    def field_energy(self, t: jax.Array) -> jax.Array:
        """Single-site energy of tokens ``t`` (the token field and any per-site field), per
        site."""
        raise NotImplementedError

    def bond_couplings(self) -> jax.Array:
        """Per-shell ``K_r`` with couplings ``−K_r δ(s_i, s_j)`` (what cluster updates need);
        raises :class:`NotPottsLike` when the couplings are not of that form.
        """
        raise NotPottsLike(f"{self.name} does not provide Potts-like bond couplings")

    def flip_energies(self) -> jax.Array:
        """``ΔE[s, k]``: the energy change of flipping a site that holds token ``s`` (of two)
        and has ``k`` neighbours holding the other token, shape ``(2, z + 1)`` with ``z`` the
        coordination (what multispin kernels need). Raises :class:`NotIsingLike` when the flip
        energy depends on more than ``(s, k)``. Decided from static structure alone, so the
        check can run while tracing.
        """
        raise NotIsingLike(f"{self.name} does not provide Ising-like flip energies")

    def random_tokens(self, key: jax.Array) -> jax.Array:
        """Tokens drawn uniformly at random (an infinite-temperature start)."""
        return jax.random.randint(key, self.shape, 0, self.q).astype(TOKEN_DTYPE)

    def token_counts(self, s: jax.Array) -> jax.Array:
        """Number of sites holding each token, shape ``(q,)`` int32.

        A fused comparison-and-sum rather than a scatter-add: XLA's CPU scatter is serial.
        """
        flat = s.reshape(-1)
        tokens = jnp.arange(self.q, dtype=flat.dtype)
        return jnp.sum(flat[:, None] == tokens[None, :], axis=0, dtype=jnp.int32)


def _gather(table: jax.Array, row: jax.Array, col: jax.Array, q: int) -> jax.Array:
    """``table[row, col]`` for a small ``(q, q)`` table, via a flat index."""
    return table.reshape(-1)[row.astype(jnp.int32) * q + col.astype(jnp.int32)]


@pytree_model
@dataclasses.dataclass(frozen=True)
class CouplingModel(EnergyModel):
    """General token lattice: coupling matrices ``W`` per bond shell, a field ``h`` on every
    token (the same on every site) and an optional per-site field ``h_site``.

    Attributes:
      W: ``(n_shells, q, q)`` float32, symmetric in the last two axes.
      h: ``(q,)`` float32 field per token (energy ``-h[s]`` per site).
      h_site: ``(*lattice.shape, q)`` float32 per-site field (energy ``-h_site[i, s_i]``), or
        ``None``.
    """

    W: jax.Array = None
    h: jax.Array = None
    h_site: Optional[jax.Array] = None

    name = "token_lattice"

    # -------------------------------------------------------------- helpers
    def _neighbours(self, s):
        """Yield ``(shell, neighbour tokens)`` for both ends of every forward direction."""
        for axis, shift, shell in self.lattice.directions:
            yield shell, jnp.roll(s, -shift, axis)
            yield shell, jnp.roll(s, shift, axis)

    def _site_field(self, t):
        e = -self.h[t.astype(jnp.int32)]
        if self.h_site is not None:
            e = e - jnp.take_along_axis(self.h_site, t.astype(jnp.int32)[..., None], -1)[..., 0]
        return e

    # -------------------------------------------------------------- protocol
    def field_energy(self, t):
        """``−h[t_i] − h_site[i, t_i]`` per site."""
        return self._site_field(t)

    def delta_energy(self, s, t):
        """``ΔE_i = f_i(t_i) − f_i(s_i) + Σ_r Σ_{j∈∂_r i} (W_r[s_i, s_j] − W_r[t_i, s_j])``
        (``f`` the field energy); on the complete graph the neighbour sum is over all sites, ``/N``.
        """
        de = self._site_field(t) - self._site_field(s)
        if self.lattice.kind == "complete":
            n = self.n_sites
            W = self.W[0]
            wc = W @ self.token_counts(s).astype(W.dtype)
            si, ti = s.astype(jnp.int32), t.astype(jnp.int32)
            return de - (wc[ti] - _gather(W, ti, si, self.q) - wc[si] + _gather(W, si, si, self.q)) / n
        for shell, nb in self._neighbours(s):
            W = self.W[shell]
            de = de + _gather(W, s, nb, self.q) - _gather(W, t, nb, self.q)
        return de

    def local_energies(self, s):
        """``e_i(a) = −h[a] − h_site[i, a] − Σ_r Σ_{j∈∂_r i} W_r[a, s_j]``, shape
        ``(*shape, q)``."""
        e = -jnp.broadcast_to(self.h, (*self.shape, self.q))
        if self.h_site is not None:
            e = e - self.h_site
        si = s.astype(jnp.int32)
        if self.lattice.kind == "complete":
            W = self.W[0]
            wc = W @ self.token_counts(s).astype(W.dtype)
            return e - (wc[None, :] - W[si]) / self.n_sites
        for shell, nb in self._neighbours(s):
            e = e - self.W[shell][nb.astype(jnp.int32)]
        return e

    def energy(self, s):
        """``E(s) = −Σ_r Σ_<ij>_r W_r[s_i, s_j] − Σ_i (h[s_i] + h_site[i, s_i])``; on the complete
        graph ``−(c·W·c − Σ_a W_aa c_a)/(2N)`` from the token counts ``c``.
        """
        e = jnp.sum(self._site_field(s))
        if self.lattice.kind == "complete":
            W = self.W[0]
            c = self.token_counts(s).astype(W.dtype)
            return e - (c @ W @ c - jnp.diagonal(W) @ c) / (2 * self.n_sites)
        for axis, shift, shell in self.lattice.directions:
            e = e - jnp.sum(_gather(self.W[shell], s, jnp.roll(s, -shift, axis), self.q))
        return e

    def flip_energies(self):
        """``ΔE[s, k] = f(t) − f(s) + (z − k)(W[s, s] − W[t, s]) + k (W[s, t] − W[t, t])`` with
        ``t = 1 − s``, ``f(a) = −h[a]`` and ``z`` the coordination: the ``z − k`` like neighbours
        and ``k`` unlike ones each change one bond. Needs ``q = 2``, one bond shell, no per-site
        field ``h_site`` and a sparse lattice; otherwise raises :class:`NotIsingLike`.
        """
        lat = self.lattice
        if self.q != 2 or self.h_site is not None or lat.kind == "complete" or lat.n_shells != 1:
            raise NotIsingLike(
                f"{self.name}: a multispin kernel needs q = 2, one bond shell, no per-site field "
                f"and a sparse lattice; got q={self.q}, {lat.n_shells} shell(s), per-site field: "
                f"{self.h_site is not None}, lattice {lat.kind!r}")
        z = lat.coordination()[0]
        W, b = self.W[0], self.h
        k = jnp.arange(z + 1, dtype=W.dtype)
        rows = [(b[s] - b[1 - s]) + (z - k) * (W[s, s] - W[1 - s, s])
                + k * (W[s, 1 - s] - W[1 - s, 1 - s]) for s in (0, 1)]
        return jnp.stack(rows)

    def bond_couplings(self):
        """Per-shell ``K_r`` such that ``W_r = K_r I + const`` (divided by ``N`` on the complete graph)."""
        W = self.W
        if not isinstance(W, jax.core.Tracer):
            Wn = np.asarray(W)
            q = self.q
            off = ~np.eye(q, dtype=bool)
            diag_ok = np.allclose(Wn[:, np.arange(q), np.arange(q)], Wn[:, :1, :1][:, :, 0])
            off_ok = q == 1 or np.allclose(Wn[:, off], Wn[:, 0:1, 1])
            K = Wn[:, 0, 0] - Wn[:, 0, 1]
            if not (diag_ok and off_ok) or np.any(K < 0):
                raise NotPottsLike(
                    f"{self.name}: cluster moves need every coupling matrix to be K*I + c with "
                    f"K >= 0 (ferromagnetic Potts form); got W =\n{Wn}")
        K = W[:, 0, 0] - W[:, 0, 1]
        if self.lattice.kind == "complete":
            K = K / self.n_sites
        return K


def validate_coupling_arrays(lattice: Lattice, q: int, W, h, h_site=None):
    """Check shapes, symmetry and finiteness of token-lattice arrays; return them as float32.

    Raises ``ValueError`` naming the offending value. ``W`` may be ``(q, q)`` (same on every
    shell) or ``(n_shells, q, q)``.
    """
    if not isinstance(q, (int, np.integer)) or q < 2:
        raise ValueError(f"number of tokens q={q!r} must be an integer >= 2")
    if q > 127:
        raise ValueError(f"q={q} exceeds the int8 token range (at most 127 tokens)")
    W = np.asarray(W, dtype=np.float32)
    if W.shape == (q, q):
        W = np.broadcast_to(W, (lattice.n_shells, q, q)).copy()
    if W.shape != (lattice.n_shells, q, q):
        raise ValueError(
            f"coupling matrix W has shape {W.shape}; expected ({q}, {q}) or "
            f"({lattice.n_shells}, {q}, {q}) for q={q} and {lattice.n_shells} bond shell(s)")
    if not np.allclose(W, np.swapaxes(W, -1, -2)):
        raise ValueError(f"coupling matrix W must be symmetric; got W =\n{W}")
    h = np.asarray(h, dtype=np.float32)
    if h.shape != (q,):
        raise ValueError(f"field vector h has length {h.shape}; expected ({q},) for q={q}")
    arrays = [W, h]
    if h_site is not None:
        h_site = np.asarray(h_site, dtype=np.float32)
        want = (*lattice.shape, q)
        if h_site.shape != want:
            raise ValueError(f"per-site field h_site has shape {h_site.shape}; expected {want}")
        arrays.append(h_site)
    for name, a in zip(("W", "h", "h_site"), arrays):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} has non-finite entries")
    return jnp.asarray(W), jnp.asarray(h), (None if h_site is None else jnp.asarray(h_site))
