"""An independent check of the long-range chain's critical temperature.

    python benchmarks/long_range_reference.py [--q 2] [--sigma 0.5] [--sizes 33 65 129]
                                              [--clusters 20000]

A plain numpy single-cluster (Wolff) sampler for the Potts chain with couplings summed over
periodic images, written without any phasejax code: a cluster grows from a random site,
adding each site ``j`` in the same state as a member ``i`` with probability
``1 − exp(−J_ij/T)`` (``J_ij`` the Potts coupling of the pair, ``= 2K_ij`` in Ising units),
checked against the whole ring at once, and then moves to one of the other ``q − 1`` states
at random. The order parameter is ``m = (q·max_a n_a/L − 1)/(q − 1)`` (``|Σ s|/L`` for the
Ising chain). Its Binder cumulants ``U₄ = 1 − ⟨m⁴⟩/(3⟨m²⟩²)`` on the given sizes, on
a temperature grid around the stored table's ``T_c``, give crossings that are compared with
the table (:mod:`phasejax.lattice.critical`, Swendsen–Wang through the package's own driver).
Errors: binning over 20 blocks of the cluster series. Prints one line per size and
temperature and the crossings of consecutive sizes.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.special import zeta


def image_couplings(L: int, sigma: float, J: float = 1.0) -> np.ndarray:
    """``(L, L)`` Potts couplings ``J Σ_n |i − j + nL|^{-(1+σ)}`` of a ring of odd ``L``."""
    r = np.arange(1, (L - 1) // 2 + 1, dtype=np.float64)
    s = 1.0 + sigma
    per = J * L**-s * (zeta(s, r / L) + zeta(s, 1.0 - r / L))
    d = np.abs(np.arange(L)[:, None] - np.arange(L)[None, :])
    d = np.minimum(d, L - d)
    out = np.zeros((L, L))
    out[d > 0] = per[d[d > 0] - 1]
    return out


def wolff_series(rng, couplings: np.ndarray, T: float, n_clusters: int, n_therm: int = 500,
                 q: int = 2, start: str = "random") -> np.ndarray:
    """The order parameter ``m`` after each of ``n_clusters`` Wolff updates of the ``q``-state
    ring at ``T`` (after ``n_therm``), from a random or an ordered (every site 0) start."""
    L = couplings.shape[0]
    P = -np.expm1(-couplings / T)
    s = (rng.choice(np.arange(q, dtype=np.int8), size=L) if start == "random"
         else np.zeros(L, np.int8))
    m = np.empty(n_clusters)
    for k in range(n_therm + n_clusters):
        i0 = int(rng.integers(L))
        state = s[i0]
        member = np.zeros(L, bool)
        member[i0] = True
        stack = [i0]
        while stack:
            i = stack.pop()
            new = np.flatnonzero(~member & (s == state) & (rng.random(L) < P[i]))
            member[new] = True
            stack.extend(new.tolist())
        s[member] = (state + 1 + (rng.integers(q - 1) if q > 2 else 0)) % q
        if k >= n_therm:
            m[k - n_therm] = (q * np.bincount(s, minlength=q).max() / L - 1) / (q - 1)
    return m


def wolff_binder(rng, couplings: np.ndarray, T: float, n_clusters: int, n_therm: int = 500,
                 n_blocks: int = 20, q: int = 2):
    """``(U₄, error, ⟨|m|⟩)`` of the ``q``-state ring at ``T`` from ``n_clusters`` Wolff
    updates."""
    m = wolff_series(rng, couplings, T, n_clusters, n_therm, q)
    blocks = np.array_split(np.arange(n_clusters), n_blocks)
    m2 = np.array([np.mean(m[b] ** 2) for b in blocks])
    m4 = np.array([np.mean(m[b] ** 4) for b in blocks])
    U = 1 - m4.mean() / (3 * m2.mean() ** 2)
    # jackknife over blocks
    jk = np.array([1 - np.delete(m4, b).mean() / (3 * np.delete(m2, b).mean() ** 2)
                   for b in range(n_blocks)])
    err = float(np.sqrt((n_blocks - 1) * np.mean((jk - jk.mean()) ** 2)))
    return float(U), err, float(np.mean(np.abs(m)))


def wolff_ordered_weight(rng, couplings: np.ndarray, T: float, n_clusters: int,
                         n_therm: int = 500, n_blocks: int = 20, q: int = 2,
                         threshold: float = 0.5):
    """``(w, error)``: the fraction of samples with ``m > threshold`` (the ordered phases), over
    two chains of ``n_clusters`` Wolff updates, one started ordered and one at random (at a
    first-order transition a chain leaves the phase it started in rarely), error by binning
    each chain into ``n_blocks // 2`` blocks. At a first-order transition with ``q`` ordered
    phases and one disordered phase, ``w = q/(q + 1)`` at equal weight."""
    w = [np.mean(b > threshold) for start in ("ordered", "random")
         for b in np.array_split(wolff_series(rng, couplings, T, n_clusters, n_therm, q, start),
                                 max(1, n_blocks // 2))]
    return float(np.mean(w)), float(np.std(w, ddof=1) / np.sqrt(len(w)))


def crossing(T, Ua, Ub):
    """Linear-interpolation zero of ``Ub − Ua`` (first sign change from + to −), or nan."""
    d = np.asarray(Ub) - np.asarray(Ua)
    for i in range(len(T) - 1):
        if d[i] > 0 >= d[i + 1]:
            return T[i] + d[i] * (T[i + 1] - T[i]) / (d[i] - d[i + 1])
    return float("nan")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--q", type=int, default=2)
    p.add_argument("--sigma", type=float, default=0.5)
    p.add_argument("--sizes", type=int, nargs="+", default=[33, 65, 129])
    p.add_argument("--clusters", type=int, default=20000)
    p.add_argument("--points", type=int, default=7)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    from phasejax.lattice.critical import table

    if a.q < 2:
        p.error(f"--q must be at least 2, not {a.q}")
    ref = [(s, t, e) for q, s, t, e in table() if q == a.q and abs(s - a.sigma) < 1e-9]
    T_ref, T_err = (ref[0][1], ref[0][2]) if ref else (zeta(1 + a.sigma), float("nan"))
    T = T_ref * np.linspace(0.94, 1.06, a.points)
    rng = np.random.default_rng(a.seed)
    U = {}
    for L in a.sizes:
        Jm = image_couplings(L, a.sigma)
        t0 = time.perf_counter()
        U[L] = [wolff_binder(rng, Jm, t, a.clusters, q=a.q) for t in T]
        for t, (u, e, am) in zip(T, U[L]):
            print(f"L={L:5d} T={t:.4f}  U4 = {u:.4f} ± {e:.4f}  <|m|> = {am:.4f}")
        print(f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
    print(f"table (Swendsen–Wang, phasejax): T_c = {T_ref:.4f} ± {T_err:.4f}")
    for La, Lb in zip(a.sizes, a.sizes[1:]):
        tx = crossing(T, [u for u, _, _ in U[La]], [u for u, _, _ in U[Lb]])
        print(f"independent Wolff crossing L={La},{Lb}: T = {tx:.4f}")


if __name__ == "__main__":
    main()
