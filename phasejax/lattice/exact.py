"""Exact results used to validate samplers: enumeration, Onsager, Yang, the 1D chain.

* :func:`enumerate_boltzmann` — every configuration of a tiny lattice (``q^N`` of them) with
  its Boltzmann probability; the reference for chi-square tests of samplers.
* :func:`onsager_energy` — square-lattice Ising energy per site,
  ``u = -J coth(2βJ) [1 + (2/π)(2 tanh²(2βJ) - 1) K(k)]``, ``k = 2 sinh(2βJ)/cosh²(2βJ)``.
* :func:`yang_magnetisation` — ``m = (1 - sinh(2βJ)^{-4})^{1/8}`` below ``T_c``, else 0.
* :func:`ising_chain_energy` — periodic 1D Ising chain of ``N`` sites,
  ``u = -J (t + t^{N-1}) / (1 + t^N)`` with ``t = tanh(βJ)`` (``-J tanh βJ`` as ``N → ∞``).
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import ellipk

from phasejax.lattice.model import TOKEN_DTYPE

ISING_2D_TC = 2.0 / np.log1p(np.sqrt(2.0))


def all_configurations(model) -> np.ndarray:
    """All ``q^N`` token arrays, shape ``(q^N, *lattice.shape)``, in lexicographic order."""
    n, q = model.n_sites, model.q
    if q**n > 2_000_000:
        raise ValueError(f"enumeration of q^N = {q}^{n} states is too large")
    confs = np.array(list(itertools.product(range(q), repeat=n)), dtype=np.int8)
    return confs.reshape(-1, *model.shape)


def state_index(tokens: np.ndarray, q: int) -> np.ndarray:
    """Index of each configuration in :func:`all_configurations` order (last axes = lattice)."""
    flat = np.asarray(tokens).reshape(tokens.shape[0], -1).astype(np.int64)
    n = flat.shape[1]
    return flat @ (q ** np.arange(n - 1, -1, -1, dtype=np.int64))


def enumerate_boltzmann(model, T: float) -> tuple[np.ndarray, np.ndarray]:
    """``(energies, probabilities)`` of all configurations at temperature ``T``."""
    confs = jnp.asarray(all_configurations(model), TOKEN_DTYPE)
    E = np.asarray(jax.jit(jax.vmap(model.energy))(confs), dtype=np.float64)
    w = np.exp(-(E - E.min()) / T)
    return E, w / w.sum()


def onsager_energy(T, J: float = 1.0):
    """Onsager's exact energy per site of the infinite 2D Ising model,

    ``u = −J coth 2βJ [1 + (2/π)(2 tanh² 2βJ − 1) K(k²)]``, ``k = 2 sinh 2βJ / cosh² 2βJ``,
    ``β = 1/T`` and ``K`` the complete elliptic integral of the first kind (parameter ``k²``).
    """
    b = J / np.asarray(T, dtype=np.float64)
    k = 2 * np.sinh(2 * b) / np.cosh(2 * b) ** 2
    return -J / np.tanh(2 * b) * (1 + 2 / np.pi * (2 * np.tanh(2 * b) ** 2 - 1) * ellipk(k * k))


def yang_magnetisation(T, J: float = 1.0):
    """Yang's spontaneous magnetisation of the 2D Ising model,
    ``m = (1 − sinh⁻⁴ 2J/T)^{1/8}`` below ``T_c = 2J/ln(1 + √2)``, 0 above.
    """
    T = np.asarray(T, dtype=np.float64)
    x = 1 - np.sinh(2 * J / T) ** -4.0
    return np.where(T < ISING_2D_TC * J, np.clip(x, 0, None) ** 0.125, 0.0)


def ising_chain_energy(T, J: float = 1.0, N: int | None = None):
    """Exact energy per site of the 1D Ising chain at temperature ``T``: ``−J tanh(J/T)``
    for the infinite chain, ``−J (t + t^{N−1})/(1 + t^N)`` with ``t = tanh(J/T)`` for a periodic
    ring of ``N`` sites.
    """
    t = np.tanh(J / np.asarray(T, dtype=np.float64))
    if N is None:
        return -J * t
    return -J * (t + t ** (N - 1)) / (1 + t**N)
