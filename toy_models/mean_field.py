"""Mean field: every pair of the ``N = L`` sites coupled with ``J / N``.

For ``q = 2`` this is the Curie–Weiss model ``E = -(J/N) Σ_{i<j} σ_i σ_j - h Σ_i σ_i`` with
``T_c = J`` and the self-consistency ``m = tanh((J m + h) / T)`` in the large-``N`` limit.
For every finite ``N`` the distribution of ``M = Σ σ_i`` is known exactly:
``P(M) ∝ C(N, (N+M)/2) exp(-E(M)/T)`` with ``E(M) = -(J / 2N)(M² - N) - h M``.
For ``q > 2`` the model is the mean-field Potts model ``E = -(J/N) Σ_{i<j} δ(s_i, s_j)``.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, special

from toy_models import ising, potts, register


@register("mean_field")
def make(L: int, q: int = 2, J: float = 1.0, h: float = 0.0):
    """Curie–Weiss (``q = 2``) or mean-field Potts (``q > 2``) on ``L`` sites."""
    if q == 2:
        return ising.make(L=L, J=J, h=h, geometry="complete")
    return potts.make(L=L, q=q, J=J, h=h, geometry="complete")


def self_consistent_magnetisation(T: float, J: float = 1.0, h: float = 0.0) -> float:
    """Stable root of ``m = tanh((J m + h)/T)`` (the positive one at ``h = 0``, ``T < J``)."""
    f = lambda m: m - np.tanh((J * m + h) / T)
    if h == 0.0 and T >= J:
        return 0.0
    sign = 1.0 if h >= 0 else -1.0
    return sign * optimize.brentq(lambda m: f(sign * m), 1e-12, 1.0)


def exact_magnetisation_distribution(N: int, T: float, J: float = 1.0, h: float = 0.0):
    """``(M, P(M))`` over ``M = -N, -N+2, ..., N`` for the finite Curie–Weiss model."""
    n_up = np.arange(N + 1)
    M = 2 * n_up - N
    E = -(J / (2 * N)) * (M.astype(float) ** 2 - N) - h * M
    logw = special.gammaln(N + 1) - special.gammaln(n_up + 1) - special.gammaln(N - n_up + 1) - E / T
    p = np.exp(logw - logw.max())
    return M, p / p.sum()


def exact_observables(N: int, T: float, J: float = 1.0, h: float = 0.0) -> dict[str, float]:
    """Exact ``e = <E>/N``, ``<|m|>``, ``<m²>``, ``<m⁴>`` for the finite Curie–Weiss model."""
    M, p = exact_magnetisation_distribution(N, T, J, h)
    m = M / N
    E = -(J / (2 * N)) * (M.astype(float) ** 2 - N) - h * M
    return {"energy": float(p @ E) / N, "abs_magnetisation": float(p @ np.abs(m)),
            "m2": float(p @ m**2), "m4": float(p @ m**4)}
