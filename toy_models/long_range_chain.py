"""Long-range Potts chain: the toy that a generated token sequence is fitted to.

On a ring of ``L`` sites with ``q`` tokens,

.. math:: E(s) = -\\sum_{r=1}^{R} J_r \\sum_{i} δ(s_i, s_{i+r}) - \\sum_i h[s_i],

with power-law couplings ``J_r = J r^{-(1+σ)}`` (``r = 1..R``, ``R`` at most ``(L-1)//2`` so
that a site meets each neighbour once) or an explicit list ``J_r`` (fitted couplings, e.g. from
:func:`phasejax.fit.long_range.fit_chain`, which returns ``βJ_r``: use them at ``T = 1``).
A 1D chain with ferromagnetic ``J_r ∝ r^{-(1+σ)}`` over *every* distance orders at finite ``T``
exactly for ``0 < σ ≤ 1``, with mean-field exponents for ``σ < 1/2`` (Dyson; Fisher, Ma &
Nickel 1972); at ``σ = 1`` the transition is of Kosterlitz–Thouless type. Any finite range
``R`` has no transition at ``T > 0`` (a crossing seen at finite sizes is a crossover where
``ξ ≈ L``), nor has ``σ > 1``, nor antiferromagnetic couplings (:func:`transition_possible`).
For ``σ ≤ 0`` the energy per site diverges with ``L``; such a chain is only defined with **Kac
normalisation** (``kac=True``: ``J_r = J r^{-(1+σ)}/Λ_L``, ``Λ_L = Σ_{r≠0} |r|^{-(1+σ)}`` over
the ring, so every site feels the total coupling ``J``), and is then mean field:
``T_c = J/2`` for ``q = 2`` (``δ(s, s') = (1 + σσ')/2``) and
``J/T_c = 2(q−1) ln(q−1)/(q−2)`` (first order) for ``q ≥ 3``.

**Open chains** (:func:`open_chain`). Generated text is an open chain that begins after a fixed
start. :func:`open_chain` builds it as a ring of ``2N − 1`` sites whose last ``N − 1`` sites
hold an extra, pinned token that couples to no real token (Potts couplings join equal tokens
only), so sites ``0 … N−1`` interact exactly as an open chain with couplings up to distance
``N − 1``, and site 0 carries the start's field. Every sampler runs it unchanged, started from
:func:`open_start` (real sites on ordinary tokens, padding on its own): then no bond ever joins a
real site to the padding, and the fields keep each on its side.

**Periodic images.** With ``images=True`` (odd ``L`` only) each pair at ring distance ``r``
carries the sum over all periodic images, as in Luijten & Blöte (1997):

.. math:: J_r = J \\sum_{n∈\\mathbb{Z}} |r + nL|^{-(1+σ)}
              = J L^{-(1+σ)} [ζ(1+σ, r/L) + ζ(1+σ, 1 - r/L)]

(Hurwitz ζ). Then every site feels the infinite chain's total coupling ``2J ζ(1+σ)`` up to
``O(L^{-(1+σ)})``, while a truncated sum misses ``≈ 2J (L/2)^{-σ}/σ`` — a finite-size shift of
``T_c`` that decays only like ``L^{-σ}``. Even ``L`` would leave the antipodal pair without a
bond on a :func:`~phasejax.lattice.geometry.chain` lattice, so it is refused.

**Ising convention.** For ``q = 2`` the Ising chain ``-Σ K_r σ_i σ_j`` (``σ = ±1``) is this model
with ``J_r = 2 K_r`` (``σσ' = 2δ - 1``): an Ising ``T_c`` (or ``1/K_c``) is twice the Potts
``T_c`` of the same ``J``.

**Samplers.** Single-site kernels need the ``2R`` neighbours of every site and ``~R + 1``
colours, so a heat-bath sweep costs ``O(N R²)``; they work (and are checked against exact
enumeration) but are meant for tiny chains. Use Swendsen–Wang (or Wolff), whose ``"poisson"``
bond drawing (:mod:`phasejax.lattice.samplers.cluster`, automatic for ``R >= 8``) costs
``O(N (1 + Σ_r J_r / T))`` per sweep instead of a uniform for each of the ``N R`` bonds.
Their speed is measured in ``docs/toy_sweeps.md`` (long-range chains).

**Critical points.** The family's ``T_c(σ, q)`` (``K = 1``, images) is measured by finite-size
scaling and stored (:mod:`phasejax.lattice.critical`); an independent numpy Wolff sampler checks
it (``benchmarks/long_range_reference.py``, ``docs/criticality_rates.md``).

This class evaluates energies from FFT pair counts (``O(q² L log L)`` per configuration, which
the driver pays at every measurement) and local fields with one vectorised gather over all
``R`` shells, instead of the generic per-shell loop of
:class:`~phasejax.lattice.model.CouplingModel` (same numbers, checked in
``tests/test_long_range.py``), so ``R`` in the hundreds compiles and runs quickly.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import zeta

from phasejax.lattice.geometry import Lattice
from phasejax.lattice.model import (CouplingModel, power_law, pytree_model,
                                    validate_coupling_arrays)
from toy_models import register


def transition_possible(A: float, sigma: float, *, kac: bool = False) -> str:
    """``""`` when a power-law chain ``A r^{-(1+σ)}`` over every distance can order at a finite
    temperature (``A > 0`` and ``0 < σ ≤ 1``, or ``σ ≤ 0`` with Kac normalisation), else the
    reason it cannot."""
    if not (np.isfinite(A) and np.isfinite(sigma)):
        return f"no finite-T transition possible for this fit: A={A}, σ={sigma} are not finite"
    if A <= 0:
        return (f"no finite-T transition possible for this fit: A = {A:.3g} ≤ 0 "
                "(antiferromagnetic couplings cannot order ferromagnetically)")
    if sigma > 1:
        return (f"no finite-T transition possible for this fit: σ = {sigma:.3g} > 1 (couplings "
                "decay too fast: a one-dimensional chain then has no transition at T > 0)")
    if sigma <= 0 and not kac:
        return (f"no finite-T transition possible for this fit without Kac normalisation: "
                f"σ = {sigma:.3g} ≤ 0 makes the energy per site diverge with the length")
    return ""


def kac_norm(L: int, sigma: float) -> float:
    """``Λ_L = 2 Σ_{r=1}^{(L−1)/2} r^{-(1+σ)}``: the total coupling per site of ``r^{-(1+σ)}`` on
    a ring of ``L`` sites (odd ``L``)."""
    r = np.arange(1, (L - 1) // 2 + 1, dtype=np.float64)
    return float(2.0 * np.sum(power_law(r, 1.0, sigma)))


def mean_field_tc(J_total: float, q: int) -> float:
    """Mean-field (Kac) transition temperature of a Potts chain whose sites each feel the total
    coupling ``J_total``: ``J/2`` for ``q = 2``, ``J (q−2)/(2 (q−1) ln(q−1))`` for ``q ≥ 3``."""
    if q == 2:
        return J_total / 2.0
    return J_total * (q - 2) / (2.0 * (q - 1) * np.log(q - 1))


def power_law_couplings(L: int, *, J: float = 1.0, sigma: float = 0.5, R: int | None = None,
                        images: bool = False, kac: bool = False) -> np.ndarray:
    """``J_r`` for ``r = 1..R``: ``J r^{-(1+σ)}``, or with ``images`` the periodic-image sum.

    Args:
      L: ring length.
      J: amplitude.
      sigma: decay exponent (``σ > 0``, or any finite ``σ`` with ``kac``).
      R: range (default and, with ``images`` or ``kac``, required value ``(L - 1) // 2``).
      images: sum ``|r + nL|^{-(1+σ)}`` over all integers ``n`` (needs odd ``L``, ``σ > 0``).
      kac: divide by :func:`kac_norm` so each site feels the total coupling ``J`` (needs odd
        ``L``; the only meaning of ``σ ≤ 0``).
    """
    if not np.isfinite(sigma) or (sigma <= 0 and not kac):
        raise ValueError(f"decay exponent sigma={sigma!r} must be finite and > 0 (σ ≤ 0 only "
                         "with kac=True)")
    if kac:
        if images or L % 2 == 0 or (R is not None and R != (L - 1) // 2):
            raise ValueError(f"kac=True sums every distance of an odd ring once (no images, "
                             f"R = (L-1)//2); got L={L}, R={R}, images={images}")
        r = np.arange(1, (L - 1) // 2 + 1, dtype=np.float64)
        return power_law(r, J, sigma) / kac_norm(L, sigma)
    R_max = (L - 1) // 2
    R = R_max if R is None else int(R)
    if not 1 <= R <= R_max:
        raise ValueError(f"range R={R} must be in 1..{R_max} for a ring of L={L} sites (L > 2R)")
    r = np.arange(1, R + 1, dtype=np.float64)
    s = 1.0 + sigma
    if not images:
        return power_law(r, J, sigma)
    if L % 2 == 0:
        raise ValueError(f"images=True needs an odd ring length (got L={L}): the antipodal "
                         "pair r = L/2 has no bond on a chain lattice")
    if R != R_max:
        raise ValueError(f"images=True sums every distance, so R must be (L-1)//2 = {R_max}; "
                         f"got R={R}")
    return J * L**-s * (zeta(s, r / L) + zeta(s, 1.0 - r / L))


@pytree_model
@dataclasses.dataclass(frozen=True)
class LongRangeChain(CouplingModel):
    """:class:`CouplingModel` on a range-``R`` chain, vectorised over the ``R`` shells."""

    name = "long_range_chain"

    def _shell_neighbours(self, s, sign: int):
        """Tokens ``s_{i + sign r}`` for ``r = 1..R``: shape ``(R, L)``."""
        L, R = self.lattice.L, self.lattice.R
        idx = (jnp.arange(L, dtype=jnp.int32)[None, :]
               + sign * jnp.arange(1, R + 1, dtype=jnp.int32)[:, None]) % L
        return s[idx]

    def pair_counts(self, s):
        """``C[r-1, a, b] = #{i : s_i = a, s_{i+r} = b}`` for ``r = 1..R``, shape ``(R, q, q)``.

        A circular cross-correlation of the one-hot token columns, computed with FFTs in
        ``O(q² L log L)`` and rounded: the counts are integers and the float32 FFT error is far
        below 1/2 for any chain that fits in memory.
        """
        L, R = self.lattice.L, self.lattice.R
        x = jax.nn.one_hot(s.astype(jnp.int32), self.q, dtype=jnp.float32)    # (L, q)
        X = jnp.fft.rfft(x, axis=0)                                            # (L//2+1, q)
        C = jnp.fft.irfft(jnp.conj(X)[:, :, None] * X[:, None, :], n=L, axis=0)
        return jnp.round(C[1:R + 1])

    def energy(self, s):
        """``E(s) = −Σ_i (h[s_i] + h_site[i, s_i]) − Σ_r Σ_ab W_r[a, b] C_r[a, b]`` from the pair
        counts ``C`` (:meth:`pair_counts`), in ``O(q² L log L)``."""
        return jnp.sum(self._site_field(s)) - jnp.sum(self.W * self.pair_counts(s))

    def local_energies(self, s):
        """``e_i(a) = −h[a] − h_site[i, a] − Σ_{r=1..R} (W_r[a, s_{i+r}] + W_r[a, s_{i−r}])``, shape
        ``(L, q)``, every shell at once."""
        e = -jnp.broadcast_to(self.h, (*self.shape, self.q))
        if self.h_site is not None:
            e = e - self.h_site
        si = s.astype(jnp.int32)
        shells = jnp.arange(self.lattice.R, dtype=jnp.int32)[:, None]
        for sign in (1, -1):
            # W_r[t, s_{i±r}] = W_r[s_{i±r}, t]: a row gather, (R, L, q)
            e = e - jnp.sum(self.W[shells, self._shell_neighbours(si, sign)], axis=0)
        return e

    def delta_energy(self, s, t):
        """``ΔE_i = e_i(t_i) − e_i(s_i)`` from :meth:`local_energies` (each site alone)."""
        e = self.local_energies(s)
        pick = lambda x: jnp.take_along_axis(e, x.astype(jnp.int32)[:, None], -1)[:, 0]
        return pick(t) - pick(s)


@register("long_range_chain")
def make(L: int, q: int = 2, J: float = 1.0, sigma: float = 0.5, R: int | None = None,
         h=0.0, J_r=None, images: bool = False, kac: bool = False) -> LongRangeChain:
    """Long-range Potts chain (see the module docstring).

    Args:
      L: ring length (number of sites).
      q: number of tokens.
      J: power-law amplitude (ignored when ``J_r`` is given).
      sigma: power-law decay exponent, ``J_r = J r^{-(1+σ)}``.
      R: coupling range; ``None`` or ``0`` (a config's default): ``(L - 1) // 2`` (or
        ``len(J_r)``).
      h: scalar (field on token 0) or length-``q`` field, energy ``-h[s_i]`` per site.
      J_r: explicit couplings for ``r = 1..len(J_r)`` (e.g. fitted ``βJ_r``).
      images: periodic-image sums of the power law (odd ``L``; see the module docstring).
      kac: Kac normalisation of the power law (odd ``L``; see the module docstring).
    """
    if not isinstance(L, (int, np.integer)) or L < 3:
        raise ValueError(f"chain length L={L!r} must be an integer >= 3")
    if not isinstance(q, (int, np.integer)) or q < 2:
        raise ValueError(f"number of tokens q={q!r} must be an integer >= 2")
    R = None if R is None or R == 0 else R
    if J_r is not None:
        J_r = np.asarray(J_r, np.float64).reshape(-1)
        if R is not None and int(R) != J_r.size:
            raise ValueError(f"R={R} disagrees with the {J_r.size} couplings given in J_r")
        if J_r.size < 1 or 2 * J_r.size >= L:
            raise ValueError(f"{J_r.size} couplings J_r need 1 <= R and L > 2R (got L={L})")
        if images or kac:
            raise ValueError("images and kac apply to the power law, not to explicit J_r")
    else:
        J_r = power_law_couplings(int(L), J=float(J), sigma=float(sigma), R=R, images=images,
                                  kac=kac)
    lat = Lattice("chain", int(L), 1, int(J_r.size))
    W = J_r.astype(np.float32)[:, None, None] * np.eye(q, dtype=np.float32)
    h = np.asarray(h, np.float32)
    if h.ndim == 0:
        h = np.zeros(q, np.float32) + np.eye(q, dtype=np.float32)[0] * h
    W, h, _ = validate_coupling_arrays(lat, q, W, h)
    return LongRangeChain(lattice=lat, q=int(q), W=W, h=h)


PIN = 1.0e4       # field that pins the padding token (energies in units of T ~ 1)


def open_chain(N: int, q: int, J_r, h=None, start=None) -> LongRangeChain:
    """An open chain of ``N`` sites with couplings ``J_r`` (``r = 1 … len(J_r) ≤ N − 1``), a
    field ``h`` (``(q,)``, energy ``−h[s]`` per site) and an extra field ``start`` on site 0,
    built as a ring of ``2N − 1`` sites and ``q + 1`` tokens (module docstring). The real
    sites are ``0 … N−1``; :func:`open_sites` cuts them out of sampled states.

    Example (the fit of :func:`phasejax.fit.long_range.fit_long_range` with
    ``start_field=True``, in units of ``T``: simulate at ``T = 1``, from :func:`open_start`)::

        model = open_chain(N, q, fit.J_r, fit.h, fit.start)
        trace = simulate(key, model, sampler, [1.0], start=open_start(N, q), ...)
    """
    if not isinstance(N, (int, np.integer)) or N < 2:
        raise ValueError(f"open chain length N={N!r} must be an integer >= 2")
    J_r = np.asarray(J_r, np.float64).reshape(-1)
    if not 1 <= J_r.size <= N - 1:
        raise ValueError(f"{J_r.size} couplings J_r for an open chain of N={N} (need 1..N-1)")
    L = 2 * N - 1
    couplings = np.zeros(N - 1)
    couplings[:J_r.size] = J_r
    field = np.zeros((L, q + 1), np.float32)
    field[:N, :q] = 0.0 if h is None else np.asarray(h, np.float32)
    field[:N, q] = -PIN                                   # real sites never take the padding
    field[N:, q] = PIN                                    # padding sites always do
    if start is not None:
        field[0, :q] += np.asarray(start, np.float32)
    base = make(L=L, q=q + 1, J_r=couplings)
    return dataclasses.replace(base, h_site=jnp.asarray(field))


def open_start(N: int, q: int) -> np.ndarray:
    """Tokens to start :func:`open_chain` from: ``0`` on the real sites, the padding token
    ``q`` on the others. (A random start could put real and padding sites on one Swendsen–Wang
    cluster, whose fields then compete.)"""
    tokens = np.zeros(2 * N - 1, np.int8)
    tokens[N:] = q
    return tokens


def open_sites(states, N: int) -> np.ndarray:
    """The real sites ``0 … N−1`` of states sampled from :func:`open_chain`."""
    return np.asarray(states)[..., :N]
