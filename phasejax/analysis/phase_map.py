"""Phase maps of post-training: the shared statistics of answer families over (dose, ``T``).

The data are exact answer distributions ``P[s, d, t, j, k]``: training seed ``s``, dose ``d``
(a checkpoint: SFT or RL steps, or steps × learning rate), sampling temperature ``t``,
held-out prompt ``j`` and option ``k``. For every seed and cell ``(d, t)`` the family
``{p_j}`` gives (:func:`cell_statistics`, all from :mod:`phasejax.analysis.distributions`):

* averaged over prompts — the order parameter ``m = (K max p − 1)/(K − 1)``, the top mass
  ``max p``, the entropy ``H(p)``, the overlap with the seed ``Σ√(p p₀)``, the support retention
  ``Σ_{k: p₀ₖ > ε} pₖ`` and ``in_basin``, the share of prompts whose own overlap reaches the
  rule's nucleation threshold (``≥ 0.95``): the fraction of prompts in the seed's basin;
* across prompts — ``I(prompt; answer) = H(p̄) − mean_j H(p_j)`` and the four numbers the phase
  rule reads (:class:`~phasejax.analysis.distributions.PhaseStatistics`: ``I/H(p̄)``,
  overlap, support retention and JS of the mean distribution ``p̄`` with the seed).

**Errors** (:func:`phase_map`). Over prompts: the jackknife, every statistic recomputed with
one prompt left out (for a prompt average this is exactly ``std/√J``). Over training seeds:
``std/√S`` of the per-seed values. ``error`` is the two in quadrature. The value of a cell is
the mean over seeds. Its **phase** is the documented rule
(:func:`~phasejax.analysis.distributions.phase_label`) applied to the seed means of the four
statistics.

**Boundaries** (:func:`boundaries`). A phase boundary is where a statistic of the rule
crosses its threshold (:data:`THRESHOLDS`): along the dose at every ``T`` (the dose at which
the model stops being liquid, or becomes the seed) and along ``T`` at every dose (the
temperatures that bound the nucleated band). The crossing of the seed-mean curve is linearly
interpolated between grid points (:func:`crossings`); its error combines the jackknife over
prompts, the spread over training seeds (``std/√n``) and, for a fitted toy, the spread over
parameter samples (``std``), each replica's crossing being the one nearest the central one.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from phasejax.analysis import distributions as D
from phasejax.analysis.fits import interpolate_crossing
from phasejax.analysis.stats import jackknife_error

PER_PROMPT = ("order_parameter", "top1_mass", "entropy", "overlap", "retention", "in_basin")
ACROSS = ("mutual_information",) + D.PhaseStatistics._fields
OBSERVABLES = PER_PROMPT + ACROSS
# the phase rule's thresholds (phasejax.analysis.distributions.phase_label)
THRESHOLDS = {"prompt_dependence": D.PROMPT_DEPENDENCE_MAX,
              "seed_overlap": D.SEED_OVERLAP_MIN,
              "support_retention": D.SUPPORT_RETENTION_MIN}


def cell_statistics(P, seed, eps: float = 1e-3) -> dict:
    """Every observable of :data:`OBSERVABLES` for families ``P`` ``(..., J, K)``: arrays
    ``(...)`` of ``P``'s dtype (module docstring); usable inside ``jit``. ``eps``: options with
    ``p₀ > eps`` are the seed's support."""
    P = jnp.asarray(P)
    P = P / jnp.sum(P, -1, keepdims=True)
    seed = jnp.broadcast_to(jnp.asarray(seed, P.dtype), P.shape)
    overlap = D.bhattacharyya(P, seed)
    per = {"order_parameter": D.order_parameter(P), "top1_mass": jnp.max(P, -1),
           "entropy": D.entropy(P), "overlap": overlap,
           "retention": D.support_retention(P, seed, eps),
           "in_basin": (overlap >= D.SEED_OVERLAP_MIN).astype(P.dtype)}
    out = {k: jnp.mean(v, -1) for k, v in per.items()}
    out["mutual_information"] = D.mutual_information(P)
    out.update(D.phase_arrays(P, seed[..., 0, :], eps)._asdict())
    return out


_cell_statistics = jax.jit(cell_statistics, static_argnames="eps")


def numpy_statistics(P, seed, eps: float = 1e-3) -> dict:
    """:func:`cell_statistics` in float64 (64-bit mode for the call): nearly certain answers,
    whose entropies are far below float32's resolution of 1, keep their prompt dependence."""
    with jax.enable_x64(True):
        out = _cell_statistics(jnp.asarray(np.asarray(P, np.float64)),
                               jnp.asarray(np.asarray(seed, np.float64)), eps=eps)
        return {k: np.asarray(out[k], np.float64) for k in OBSERVABLES}   # jit sorts keys


def prompt_overlaps(P, seed) -> np.ndarray:
    """Each distribution's overlap with the seed, ``Σ√(p p₀)``: ``P`` ``(..., K)`` → ``(...)``."""
    P = np.asarray(P, np.float64)
    return np.asarray(D.bhattacharyya(P, np.broadcast_to(seed, P.shape)), np.float64)


class PhaseMap(NamedTuple):
    """Statistics of every cell of a (dose, ``T``) grid over seeds and prompts."""

    names: tuple               # observables, in the order of the first axis below
    value: np.ndarray          # (O, D, T) mean over training seeds
    error: np.ndarray          # (O, D, T) error_prompts and error_seeds in quadrature
    error_prompts: np.ndarray  # (O, D, T) jackknife over prompts
    error_seeds: np.ndarray    # (O, D, T) std/√S over training seeds (0 for one seed)
    phase: np.ndarray          # (D, T) label of the documented rule
    seeds: np.ndarray          # (O, S, D, T) per training seed
    jackknife: np.ndarray      # (O, J, D, T) seed means with one prompt left out

    def of(self, name: str, field: str = "value") -> np.ndarray:
        """One observable's slice of ``field`` (``value``, ``error``, ``seeds``, …)."""
        return getattr(self, field)[self.names.index(name)]


def phase_map(P, seed, eps: float = 1e-3) -> PhaseMap:
    """The :class:`PhaseMap` of distributions ``P`` ``(S, D, T, J, K)`` against the seed ``p₀``."""
    P = np.asarray(P, np.float64)
    if P.ndim != 5:
        raise ValueError(f"P must be (seeds, doses, temperatures, prompts, options); got shape "
                         f"{P.shape}")
    S, J = P.shape[0], P.shape[3]
    if J < 2:
        raise ValueError("a phase map needs at least two prompts")
    stats = numpy_statistics(P, seed, eps)
    names = tuple(stats)
    seeds = np.stack([stats[n] for n in names])                       # (O, S, D, T)
    jk = np.stack([np.stack(list(numpy_statistics(np.delete(P, j, axis=3), seed, eps).values()))
                   .mean(1) for j in range(J)], 1)                    # (O, J, D, T)
    value = seeds.mean(1)
    e_p = jackknife_error(jk, axis=1)
    e_s = seeds.std(1, ddof=1) / np.sqrt(S) if S > 1 else np.zeros_like(value)
    phase = D.phase_label(D.PhaseStatistics(*(value[names.index(f)]
                                              for f in D.PhaseStatistics._fields)))
    return PhaseMap(names, value, np.hypot(e_p, e_s), e_p, e_s, phase, seeds, jk)


# ----------------------------------------------------------------------------- boundaries
def crossings(x, y, level: float) -> np.ndarray:
    """Every ``x`` where the piecewise-linear curve through ``(x, y)`` passes ``level``, in
    order: between neighbours on either side of ``y ≥ level`` (the phase rule's side), linearly
    interpolated. Non-finite points break the curve."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    out = []
    for i in range(len(x) - 1):
        a, b = y[i], y[i + 1]
        if np.isfinite(a) and np.isfinite(b) and (a >= level) != (b >= level):
            out.append(interpolate_crossing(x[i], a, x[i + 1], b, level))
    return np.asarray(out, np.float64)


class Boundary(NamedTuple):
    """One crossing of a statistic through its threshold, with its errors."""

    value: float
    error: float            # the three below in quadrature
    error_prompts: float    # jackknife over prompts
    error_seeds: float      # std/√n of the crossings of n training seeds
    error_spread: float     # std of the crossings of parameter samples (a fitted toy)
    n_seeds: int            # training seeds whose curve crosses near it


def _nearest(x, curves, level, c):
    found = [crossings(x, y, level) for y in curves]
    return np.array([f[np.argmin(np.abs(f - c))] for f in found if f.size], np.float64)


def boundary(x, y, level: float, seeds=None, jackknife=None, spread=None) -> list[Boundary]:
    """The crossings of the curve ``y(x)`` through ``level``, each with its errors from the
    replica curves (rows of ``seeds``, ``jackknife``, ``spread``; module docstring)."""
    out = []
    for c in crossings(x, y, level):
        e, n = {}, 0
        for kind, curves in (("seeds", seeds), ("prompts", jackknife), ("spread", spread)):
            v = np.empty(0) if curves is None else _nearest(x, curves, level, c)
            if kind == "seeds":
                n = v.size
                e[kind] = float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else 0.0
            elif kind == "prompts":
                e[kind] = float(jackknife_error(v)) if v.size > 1 else 0.0
            else:
                e[kind] = float(v.std(ddof=1)) if v.size > 1 else 0.0
        out.append(Boundary(float(c), float(np.sqrt(sum(v * v for v in e.values()))),
                            e["prompts"], e["seeds"], e["spread"], n))
    return out


def boundaries(names, value, doses, temperatures, seeds=None, jackknife=None,
               spread=None) -> list[dict]:
    """Rows ``{observable, level, along, at, branch, value, error, …}``: every crossing of the
    phase rule's statistics through their thresholds, along the dose at every ``T`` and along
    ``T`` at every dose (``value`` ``(O, D, T)``; replicas ``(O, R, D, T)`` as in
    :class:`PhaseMap`; ``spread``: parameter samples of a fitted toy)."""
    rows = []
    doses, temperatures = np.asarray(doses, float), np.asarray(temperatures, float)

    def sel(arr, o, idx):
        return None if arr is None else arr[o][(slice(None),) + idx]

    for obs, level in THRESHOLDS.items():
        o = list(names).index(obs)
        for along, x, at_values in (("dose", doses, temperatures), ("T", temperatures, doses)):
            for i, at in enumerate(at_values):
                idx = (slice(None), i) if along == "dose" else (i, slice(None))
                found = boundary(x, value[o][idx], level, sel(seeds, o, idx),
                                 sel(jackknife, o, idx), sel(spread, o, idx))
                for b, bd in enumerate(found):
                    rows.append(dict(observable=obs, level=level, along=along, at=float(at),
                                     branch=b, **bd._asdict()))
    return rows


def first_boundary(rows, observable: str, along: str, at: float) -> Optional[dict]:
    """The first crossing (lowest ``value``) of ``observable`` along ``along`` at the grid
    point nearest ``at``, or ``None``."""
    sel = [r for r in rows if r["observable"] == observable and r["along"] == along]
    if not sel:
        return None
    nearest = min({r["at"] for r in sel}, key=lambda a: abs(a - at))
    return min((r for r in sel if r["at"] == nearest), key=lambda r: r["value"])
