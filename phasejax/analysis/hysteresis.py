"""Nucleation curves and hysteresis loops of post-training.

**The nucleation curve** ``f(d)`` is the fraction of prompts in the seed's basin against the
dose: prompts whose own overlap with the seed reaches the phase rule's threshold
(``in_basin`` of :func:`phasejax.analysis.phase_map.cell_statistics`), one curve per training
seed.

**Abrupt or gradual** (:func:`nucleation_shape`). Each prompt's *progress* is how far its
overlap ``b_j`` with the seed has come, ``x_j(d) = (b_j(d) − b_j(0))/(b_j(end) − b_j(0))``,
for the prompts that move (``b_j(end) − b_j(0) > 0.05``) and start outside the basin. A
first-order collapse has prompts coexisting in both basins: at any dose almost every prompt is
either still where it was (``x ≈ 0``) or already the seed (``x ≈ 1``). A gradual one moves every
prompt part of the way together. The evidence:

* ``intermediate`` — the largest share, over the checkpoints, of moving prompts with
  ``0.2 < x < 0.8``; the collapse is called **abrupt** when it stays below ``1/2`` (most
  prompts are in one basin or the other at every dose), **gradual** otherwise;
* ``d_half`` — where ``f`` crosses half way from its first to its last value, and ``width``,
  the dose from 10% to 90% of that rise (per training seed; mean and ``std/√S``);
* ``jump`` — the largest rise of ``f`` between neighbouring checkpoints over the whole rise (1:
  all in one step).

A collapse faster than one checkpoint interval looks abrupt whatever its nature: the grid's
spacing is reported with it.

**Hysteresis** (:func:`loop_area`). Running the dose back (melting the seeded model again)
gives a second curve ``f_down`` against the effective dose ``D − r`` after ``r`` steps back.
The loop area is ``∫ (f_down − f_up) dd`` over the doses both branches cover, divided by that
range: the mean gap between the way back and the way in, 0 for a reversible path, positive
when the way back stays in the basin longer.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from phasejax.analysis.phase_map import crossings

MOVE_MIN = 0.05              # a prompt whose overlap rises less than this does not move
INTERMEDIATE = (0.2, 0.8)    # progress band of a prompt caught half way
ABRUPT_BELOW = 0.5           # intermediate share below which the collapse is abrupt


def loop_area(x_up, f_up, x_down, f_down) -> float:
    """``∫ (f_down − f_up) dx / (x_max − x_min)`` over the range both branches cover, both
    piecewise linear through their points (module docstring); ``nan`` without overlap."""
    x_up, f_up = np.asarray(x_up, float), np.asarray(f_up, float)
    x_down, f_down = np.asarray(x_down, float), np.asarray(f_down, float)
    i, k = np.argsort(x_up), np.argsort(x_down)
    x_up, f_up, x_down, f_down = x_up[i], f_up[i], x_down[k], f_down[k]
    lo, hi = max(x_up[0], x_down[0]), min(x_up[-1], x_down[-1])
    if not hi > lo:
        return float("nan")
    grid = np.unique(np.concatenate([[lo, hi], x_up, x_down]))
    grid = grid[(grid >= lo) & (grid <= hi)]
    gap = np.interp(grid, x_down, f_down) - np.interp(grid, x_up, f_up)
    return float(np.sum(0.5 * (gap[1:] + gap[:-1]) * np.diff(grid)) / (hi - lo))


class LoopArea(NamedTuple):
    """A hysteresis loop's area over training seeds."""

    mean: float
    error: float            # std/√S over seeds (0 for one seed)
    per_seed: np.ndarray    # (S,)


def loop_areas(x_up, F_up, x_down, F_down) -> LoopArea:
    """:func:`loop_area` of each training seed's branches ``F_up`` ``(S, n)`` and ``F_down``
    ``(S, m)`` (doses ``x_up``, ``x_down`` shared by the seeds)."""
    a = np.array([loop_area(x_up, u, x_down, d) for u, d in zip(F_up, F_down)])
    return LoopArea(*_mean_err(a), a)


def _mean_err(v):
    v = np.asarray(v, float)
    v = v[np.isfinite(v)]
    if not v.size:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else 0.0


def _level_dose(dose, f, share):
    lo, hi = f[0], f[-1]
    c = crossings(dose, f, lo + share * (hi - lo)) if hi != lo else np.empty(0)
    return c[0] if c.size else np.nan


def nucleation_shape(dose, overlap, threshold: float) -> dict:
    """Abrupt or gradual, with the evidence (module docstring).

    Args:
      dose: ``(D,)`` doses, the first the start of the collapse.
      overlap: ``(S, D, J)`` each prompt's overlap with the seed, per training seed.
      threshold: the overlap at which a prompt is in the seed's basin.

    Returns:
      ``{verdict, intermediate, intermediate_per_seed, d_half, d_half_error, width,
      width_error, jump, spacing, moving}`` (plain floats and lists).
    """
    dose = np.asarray(dose, float)
    b = np.asarray(overlap, float)
    f = (b >= threshold).mean(-1)                                   # (S, D)
    rise = b[:, -1] - b[:, 0]                                       # (S, J)
    moving = (rise > MOVE_MIN) & (b[:, 0] < threshold)
    x = (b - b[:, :1]) / np.where(moving, rise, 1.0)[:, None]       # (S, D, J)
    lo, hi = INTERMEDIATE
    caught = (((x > lo) & (x < hi) & moving[:, None]).sum(-1)
              / np.maximum(moving.sum(-1), 1)[:, None])
    inter = caught.max(-1)                                          # (S,)
    d_half = [_level_dose(dose, fs, 0.5) for fs in f]
    width = [_level_dose(dose, fs, 0.9) - _level_dose(dose, fs, 0.1) for fs in f]
    steps = np.diff(f, axis=-1)
    total = f[:, -1] - f[:, 0]
    jump = np.where(np.abs(total) > 0, steps.max(-1) / np.where(total == 0, 1, total), np.nan)
    inter_m, inter_e = _mean_err(inter)
    # the verdict reads how the prompts moved toward where they ended; whether that end is the
    # seed's basin is said apart (a collapse onto something other than the seed is gradual or
    # abrupt all the same, but it is not nucleation onto p0)
    reached = float(f[:, -1].mean())
    verdict = "abrupt" if inter_m < ABRUPT_BELOW else "gradual"
    if reached == 0.0:
        verdict += ", no prompt in the seed's basin at the largest dose"
    return dict(verdict=verdict, reached=reached,
                intermediate=inter_m, intermediate_error=inter_e,
                intermediate_per_seed=inter.tolist(),
                d_half=_mean_err(d_half)[0], d_half_error=_mean_err(d_half)[1],
                width=_mean_err(width)[0], width_error=_mean_err(width)[1],
                jump=_mean_err(jump)[0], jump_error=_mean_err(jump)[1],
                spacing=float(np.median(np.diff(dose))) if dose.size > 1 else float("nan"),
                moving=float(moving.sum(-1).mean()), basin_fraction=f.mean(0).tolist())
