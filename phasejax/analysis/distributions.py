"""Statistics of distributions over ``K`` options — shared by the toy lattice and the LM probe.

Every function takes probabilities on the last axis (batch axes in front are kept) and works
on numpy or JAX arrays, inside ``jit`` too, except :func:`n_distinct` (a graph search, numpy).
They compute in float32, or in float64 for float64 input under ``jax.enable_x64(True)``.
Logarithms are natural (nats).

Per distribution ``p``:
  * :func:`entropy` ``H(p) = -Σ p ln p``; :func:`normalised_entropy` ``H / ln K``;
    :func:`effective_options` ``exp H``;
  * :func:`order_parameter` ``m(p) = (K max p - 1)/(K - 1)`` (0 uniform, 1 one option);
  * :func:`top_k_mass` — the mass of the ``k`` likeliest options.

Against a seed distribution ``p₀``:
  * :func:`bhattacharyya` ``Σ √(p p₀)``; :func:`js_divergence`
    ``JS = H((p+p₀)/2) - (H(p) + H(p₀))/2`` (in ``[0, ln 2]``); :func:`kl_divergence`;
  * :func:`support_retention` ``Σ_{k: p₀ₖ > ε} pₖ`` — the mass kept on the seed's options.

Across a family ``{p_j}`` (rows: prompts or replicas):
  * :func:`mutual_information` ``I = H(mean_j p_j) - mean_j H(p_j)`` — the generalised JS
    divergence, i.e. ``I(prompt; answer)`` for uniformly weighted prompts;
  * :func:`mean_pairwise_js`; :func:`n_distinct` — clusters of the family when distributions
    closer than a JS threshold are joined (single linkage).

Under temperature, for option energies ``E`` (minus log-probabilities):
  :func:`thermodynamics` gives ``p_T ∝ exp(-E/T)``, ``U = <E>``, ``C = Var(E)/T²``,
  ``S = H(p_T)`` and ``F = -T ln Z``.

Moments of samples (lattice configurations, generated sequences), the one home of these
formulas for :mod:`phasejax.analysis.observables`, :mod:`phasejax.analysis.fss`,
:mod:`phasejax.fit.curvefit` and :mod:`phasejax.analysis.sequences`:
  * :func:`order_from_mode` ``m = (K n_max/N - 1)/(K - 1)`` from the mode's weight (a count
    out of ``N`` sites, or a probability with ``N = 1``) — :func:`order_parameter` of a
    distribution is this of ``max p``;
  * :func:`binder` ``U₄ = 1 - <m⁴>/(3<m²>²)``; :func:`susceptibility`
    ``χ = N(<m²> - <|m|>²)/T``; :func:`specific_heat` ``C = (<E²> - <E>²)/(N T²)`` per site
    for the total energy ``E``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp, xlogy


def _p(p):
    """``p`` as a JAX array: float64 when it is float64 and 64-bit mode is on (statistics of
    nearly certain answers need it: ``1 − 10⁻¹²`` is 1 in float32), float32 otherwise."""
    wide = jax.config.jax_enable_x64 and getattr(p, "dtype", None) == np.float64
    return jnp.asarray(p, dtype=jnp.float64 if wide else jnp.float32)


def _where_positive(x, f):
    """``f(x)`` where ``x > 0``, else 0, with finite gradients at ``x = 0`` (``f`` never sees
    a zero, so ``0 · ∞`` cannot appear in a derivative)."""
    pos = x > 0
    return jnp.where(pos, f(jnp.where(pos, x, 1.0)), 0.0)


def entropy(p):
    """Shannon entropy ``H(p) = -Σ_k p_k ln p_k`` in nats (``0 ln 0 = 0``; differentiable
    where some ``p_k`` are 0)."""
    p = _p(p)
    return -jnp.sum(_where_positive(p, lambda x: x * jnp.log(x)), -1)


def normalised_entropy(p):
    """``H(p)/ln K`` in ``[0, 1]``: 0 for one option, 1 for the uniform distribution."""
    p = _p(p)
    return entropy(p) / jnp.log(jnp.float32(p.shape[-1]))


def effective_options(p):
    """Effective number of options ``exp H(p)`` (``K`` for uniform, 1 for one option)."""
    return jnp.exp(entropy(p))


def order_from_mode(top, K: int, total=1):
    """Potts order parameter from the weight of the likeliest option,
    ``m = (K · top/total − 1)/(K − 1)``.

    ``top`` is ``max_k p_k`` (``total = 1``) or the largest count ``max_k n_k`` out of
    ``total = N`` sites; ``m`` is 0 for a uniform spread and 1 when one option holds all.
    Works on numpy (any float precision) and JAX arrays alike; the one implementation of the
    formula.
    """
    return (K * top / total - 1.0) / (K - 1.0)


def order_parameter(p):
    """Order parameter of a distribution, ``m(p) = (K max p − 1)/(K − 1)`` (see
    :func:`order_from_mode`)."""
    p = _p(p)
    return order_from_mode(jnp.max(p, -1), p.shape[-1])


def top_k_mass(p, k: int):
    """Mass of the ``k`` likeliest options, ``Σ_{i ≤ k} p_(i)`` (``p`` sorted descending)."""
    p = _p(p)
    return jnp.sum(jnp.sort(p, -1)[..., ::-1][..., :k], -1)


def bhattacharyya(p, p0):
    """Bhattacharyya coefficient ``Σ_k √(p_k p0_k)`` in ``[0, 1]`` (1 iff ``p = p0``;
    differentiable where some ``p_k p0_k`` are 0)."""
    return jnp.sum(_where_positive(_p(p) * _p(p0), jnp.sqrt), -1)


def kl_divergence(p, p0):
    """Kullback–Leibler divergence ``KL(p ‖ p0) = Σ_k p_k ln(p_k/p0_k)`` in nats."""
    p, p0 = _p(p), _p(p0)
    return jnp.sum(xlogy(p, p) - xlogy(p, p0), -1)


def js_divergence(p, p0):
    """Jensen–Shannon divergence ``H((p + p0)/2) − (H(p) + H(p0))/2`` in ``[0, ln 2]``."""
    p, p0 = _p(p), _p(p0)
    return entropy(0.5 * (p + p0)) - 0.5 * (entropy(p) + entropy(p0))


def support_retention(p, p0, eps: float = 1e-3):
    """Mass ``p`` keeps on the seed's options, ``Σ_{k: p0_k > eps} p_k``."""
    p, p0 = _p(p), _p(p0)
    return jnp.sum(jnp.where(p0 > eps, p, 0.0), -1)


def mutual_information(family, weights=None):
    """``H(Σ_j w_j p_j) - Σ_j w_j H(p_j)`` over the rows ``p_j`` of ``family`` (``(J, K)``)."""
    P = _p(family)
    w = (jnp.full(P.shape[-2], 1.0 / P.shape[-2], P.dtype) if weights is None
         else _p(weights) / jnp.sum(_p(weights)))
    mix = jnp.einsum("j,...jk->...k", w, P)
    return entropy(mix) - jnp.einsum("j,...j->...", w, entropy(P))


def pairwise_js(family):
    """``(J, J)`` matrix ``JS(p_i, p_j)`` over the rows of ``family`` (``(J, K)``)."""
    P = _p(family)
    return js_divergence(P[:, None, :], P[None, :, :])


def mean_pairwise_js(family):
    """Mean of ``JS(p_i, p_j)`` over ordered pairs ``i ≠ j``: ``Σ_{i≠j} JS/(J(J − 1))``
    (0 for a single row)."""
    D = pairwise_js(family)
    J = D.shape[0]
    return jnp.sum(D) / (J * (J - 1)) if J > 1 else jnp.float32(0.0)


def n_distinct(family, threshold: float = 0.05) -> int:
    """Number of distinct distributions: connected components of ``JS(p_i, p_j) < threshold``.

    The default 0.05 nats is about 7% of JS's maximum ``ln 2``: for two distributions on two
    options it separates ``(0.5, 0.5)`` from ``(0.8, 0.2)`` (JS 0.05) but not from ``(0.6, 0.4)``.
    """
    from scipy.sparse.csgraph import connected_components

    D = np.asarray(pairwise_js(family))
    n, _ = connected_components(D < threshold, directed=False)
    return int(n)


class Thermodynamics(NamedTuple):
    """Canonical statistics of option energies at a set of temperatures."""

    p: jnp.ndarray            # (..., n_T, K) Boltzmann weights p_T
    energy: jnp.ndarray       # (..., n_T) U(T) = <E>
    specific_heat: jnp.ndarray  # (..., n_T) C(T) = Var(E)/T²
    entropy: jnp.ndarray      # (..., n_T) S(T) = H(p_T)
    free_energy: jnp.ndarray  # (..., n_T) F(T) = -T ln Z


def thermodynamics(E, T) -> Thermodynamics:
    """Exact canonical statistics of option energies ``E`` (``(..., K)``) at temperatures ``T``."""
    E = _p(E)[..., None, :]
    T = _p(T)[:, None]
    logw = -E / T
    logZ = logsumexp(logw, -1)
    p = jnp.exp(logw - logZ[..., None])
    U = jnp.sum(p * E, -1)
    var = jnp.sum(p * (E - U[..., None]) ** 2, -1)
    return Thermodynamics(p, U, var / T[:, 0] ** 2, entropy(p), -T[:, 0] * logZ)


# ----------------------------------------------------------------------------- moments
def binder(m2, m4):
    """Binder cumulant ``U₄ = 1 − ⟨m⁴⟩/(3⟨m²⟩²)`` from the moments ``⟨m²⟩``, ``⟨m⁴⟩``.

    ``2/3`` for a fully ordered ensemble, ``→ 0`` for Gaussian ``m``. Given central moments
    ``⟨δm²⟩, ⟨δm⁴⟩`` it is the connected cumulant ``U₄ᶜ``; given energy moments
    ``⟨E²⟩, ⟨E⁴⟩`` the energy cumulant ``V``.
    """
    return 1.0 - m4 / (3.0 * m2 * m2)


def susceptibility(m2, m_abs, *, N, T):
    """Susceptibility per site ``χ = N(⟨m²⟩ − ⟨|m|⟩²)/T`` of an order parameter ``m`` of
    ``N`` sites at temperature ``T``."""
    return N * (m2 - m_abs * m_abs) / T


def specific_heat(E, E2, *, N, T):
    """Specific heat per site ``C = (⟨E²⟩ − ⟨E⟩²)/(N T²)`` from moments of the total energy
    ``E`` of ``N`` sites at temperature ``T``."""
    return (E2 - E * E) / (N * (T * T))


# ----------------------------------------------------------------------------- phases
PROMPT_DEPENDENCE_MAX = 0.10   # I / H(mean): below, prompts no longer move the answer
SEED_OVERLAP_MIN = 0.95        # Bhattacharyya of the mean answer distribution to the seed
SUPPORT_RETENTION_MIN = 0.90   # mass kept on the seed's options
PHASES = ("liquid", "nucleated", "settled", "collapsed")


class PhaseStatistics(NamedTuple):
    """The four numbers :func:`phase_label` reads."""

    prompt_dependence: float   # I(prompt; answer) / H(mean answer distribution)
    seed_overlap: float        # Bhattacharyya(mean distribution, seed)
    support_retention: float   # Σ_{k: p0_k > ε} mean_k
    js_to_seed: float          # JS(mean distribution, seed)


def phase_arrays(family, seed, eps: float = 1e-3) -> PhaseStatistics:
    """:class:`PhaseStatistics` of families ``(..., J, K)`` as arrays ``(...)``: the
    one implementation of the four numbers, usable inside ``jit``.

    ``I/H`` is 0 where the mean distribution has no entropy (one option: nothing to explain).
    """
    P = _p(family)
    P = P / jnp.sum(P, -1, keepdims=True)
    mean = jnp.mean(P, -2)
    seed = jnp.broadcast_to(_p(seed), mean.shape)
    H = entropy(mean)
    dep = jnp.where(H > 1e-12, mutual_information(P) / jnp.where(H > 1e-12, H, 1.0), 0.0)
    return PhaseStatistics(dep, bhattacharyya(mean, seed), support_retention(mean, seed, eps),
                           js_divergence(mean, seed))


def phase_statistics(family, seed, eps: float = 1e-3) -> PhaseStatistics:
    """The statistics :func:`phase_label` reads, from a ``(J, K)`` family and a seed ``p₀``
    (floats; :func:`phase_arrays` of it).

    A family with leading axes ``(..., J, K)`` (checkpoints, temperatures, training seeds)
    gives numpy arrays of shape ``(...)``.
    """
    P = np.asarray(family, np.float64)
    stats = phase_arrays(P / P.sum(-1, keepdims=True), seed, eps)
    if P.ndim == 2:
        return PhaseStatistics(*(float(x) for x in stats))
    return PhaseStatistics(*(np.asarray(x, np.float64) for x in stats))


def phase_label(stats: PhaseStatistics):
    """Liquid, nucleated, settled or collapsed — the documented rule shared by both sides.

    * **liquid** — ``I/H ≥ 0.10``: the prompt still explains at least a tenth of the answer
      entropy, i.e. different prompts give materially different distributions (a pretrained
      model's many promptable distributions; a token lattice in quenched random fields).
    * otherwise the prompts agree, and the common distribution is compared with the seed ``p₀``:
      **nucleated** if its Bhattacharyya overlap with ``p₀`` is ``≥ 0.95`` (at most about a 5%
      total-variation-scale difference: the distribution *is* the seed's);
      **settled** if it moved off ``p₀`` but keeps ``≥ 90%`` of its mass on ``p₀``'s options
      (redistribution within the seed's support, the signature of RL after SFT);
      **collapsed** if it left the seed's support (neither story applies).

    Statistics of one family give a string; arrays of them (:func:`phase_statistics` of a
    family with leading axes) an array of strings of their shape.
    """
    dep, overlap, retention = (np.asarray(x) for x in stats[:3])
    label = np.where(dep >= PROMPT_DEPENDENCE_MAX, "liquid",
                     np.where(overlap >= SEED_OVERLAP_MIN, "nucleated",
                              np.where(retention >= SUPPORT_RETENTION_MIN, "settled",
                                       "collapsed")))
    return str(label) if label.ndim == 0 else label
