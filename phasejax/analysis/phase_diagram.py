"""Phase boundaries in two parameters (temperature × a control parameter such as J, h or a
seed-field strength).

For each value ``g`` of the control parameter, a run over temperatures gives a reweighted
susceptibility curve; the boundary point is its maximum ``T*(g)`` (the pseudo-critical point
of that size), with a jackknife error. Below the boundary the order parameter is large (the
*ordered* phase, a crystal of one token), above it small (the *disordered* phase, a liquid).
"""

from __future__ import annotations

from typing import Dict

import numpy as np

from phasejax.analysis.fss import SizeData, peak


def boundary(points: Dict[float, SizeData], observable: str = "susceptibility"):
    """``(g, T*, error)`` arrays: the peak of ``observable`` for each control value ``g``."""
    gs = sorted(points)
    T, err = [], []
    for g in gs:
        s = points[g]
        t, _ = peak(s, observable)
        jk = np.array([peak(s, observable, st)[0] for st in s.rw.jackknife_states()])
        B = jk.size
        T.append(t)
        err.append(float(np.sqrt((B - 1) / B * ((jk - jk.mean()) ** 2).sum())))
    return np.array(gs, float), np.array(T), np.array(err)


def order_parameter_map(points: Dict[float, SizeData], n_T: int = 60):
    """``(g, T grid, <|m|>(g, T))`` on a common temperature grid (NaN outside a run's range)."""
    gs = sorted(points)
    lo = min(points[g].T_range[0] for g in gs)
    hi = max(points[g].T_range[1] for g in gs)
    T = np.linspace(lo, hi, n_T)
    M = np.full((len(gs), n_T), np.nan)
    for i, g in enumerate(gs):
        a, b = points[g].T_range
        inside = (T >= a) & (T <= b)
        if inside.any():
            M[i, inside] = points[g].curves(T[inside])["abs_magnetisation"]
    return np.array(gs, float), T, M
