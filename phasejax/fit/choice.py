"""One answer, two descriptions: a language model's temperature curves and the fitted toy's.

For a choice task the dictionary reads each prompt variant as one replica of a quenched field:
replica ``j`` is a single ``K``-state site in the field ``f_j = ln p_j(·)`` (the model's option
log-probabilities at ``T = 1``, centred), observed at toy temperature ``τ·T``. If sampling at
temperature ``T`` were exactly Boltzmann in those log-probabilities (true for one-token options),
the fit would return ``τ = 1``; multi-token options sampled token by token at temperature ``T``
deviate, and ``τ`` measures by how much. The fitted observables are the prompt-averaged order
parameter ``m(T)``, entropy ``S(T)`` and specific heat ``C(T)``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.special import logsumexp

from phasejax.analysis.fits import interpolate_crossing
from phasejax.fit.curvefit import CurveFit, fit_chain_curves, toy_curves

CHOICE_OBSERVABLES = ("order_parameter", "entropy", "specific_heat")


def prompt_profiles(log_prob: np.ndarray, temperatures: np.ndarray) -> np.ndarray:
    """``(prompts, K)`` centred log-probabilities at the temperature closest to 1."""
    i = int(np.argmin(np.abs(np.asarray(temperatures) - 1.0)))
    lp = log_prob[:, i] - logsumexp(log_prob[:, i], axis=-1, keepdims=True)
    lp = lp * temperatures[i]          # back to T = 1 units when 1 is not on the grid
    return lp - lp.mean(-1, keepdims=True)


def fit_choice(rows: Sequence[dict], log_prob: np.ndarray, temperatures,
               observables: Sequence[str] = CHOICE_OBSERVABLES, model: str | None = None,
               checkpoint=None):
    """Fit ``τ`` of the quenched single-site toy to the prompt-averaged curves of ``rows``.

    Returns ``(fit, data_rows, profiles)``. ``rows`` is the probe's tidy table (one model, or
    select it with ``model``/``checkpoint``); ``log_prob`` ``(prompts, T, K)`` its arrays.
    """
    T = np.asarray(temperatures, float)
    data = [r for r in rows if r["prompt"] == "mean" and r["observable"] in observables
            and (model is None or r["model"] == model)
            and (checkpoint is None or int(r["checkpoint"]) == checkpoint)]
    profiles = prompt_profiles(np.asarray(log_prob, float), T)
    data = [dict(r, L=1) for r in data]
    fit = fit_chain_curves(data, profiles.shape[1], list(observables), profile=profiles,
                           theta0=(0.0, 1.0, 1.0), bounds=((-1, 0, 0.05), (1, 2, 20.0)))
    return fit, data, profiles


def choice_transitions(data: Sequence[dict], fit: CurveFit, profiles, n_grid: int = 400):
    """Where the single answer melts, for the model (on its grid) and the fitted toy (fine
    grid): the specific-heat peak ``(T*, C_max)`` and the temperature where the mean order
    parameter falls through ``m = 1/2``, as rows ``{side, quantity, value, error, T}``."""
    out = []
    by = {o: sorted((r for r in data if r["observable"] == o), key=lambda r: float(r["T"]))
          for o in ("specific_heat", "order_parameter")}
    T = np.array([float(r["T"]) for r in by["specific_heat"]])
    grid = np.linspace(T.min(), T.max(), n_grid)
    K = profiles.shape[1]
    toy = {o: toy_curves(fit.values, [(o, 1, t) for t in grid], K, profiles) for o in by}
    for side, x, C, m, Cerr in (
            ("model", T, np.array([float(r["mean"]) for r in by["specific_heat"]]),
             np.array([float(r["mean"]) for r in by["order_parameter"]]),
             np.array([float(r["stderr"]) for r in by["specific_heat"]])),
            ("toy", grid, toy["specific_heat"], toy["order_parameter"], np.zeros(n_grid))):
        i = int(np.argmax(C))
        out.append(dict(side=side, quantity="C_peak", value=float(C[i]),
                        error=float(Cerr[i]), T=float(x[i])))
        below = np.flatnonzero((m[:-1] - 0.5) * (m[1:] - 0.5) <= 0)
        T_half = None
        if below.size:
            j = below[0]
            T_half = float(interpolate_crossing(x[j], m[j], x[j + 1], m[j + 1], 0.5)
                           if m[j + 1] != m[j] else x[j])
        out.append(dict(side=side, quantity="T_m_half", value=T_half, error=None, T=T_half))
    return out


def toy_coordinates(profiles, tau: float) -> dict:
    """Where the fitted quenched toy sits in its own phase diagram (at ``T = 1``).

    ``field`` — the typical field strength a site feels, ``√(mean_j Var_k f_jk)/τ``: large
    means one answer dominates (ordered); ``disorder`` — how much the field changes from prompt
    to prompt, ``√(mean_k Var_j f_jk)/τ``: large means each prompt orders differently (the
    liquid's many promptable distributions); ``I`` — the toy's ``I(prompt; answer)``.
    """
    from scipy.special import softmax

    from phasejax.analysis import distributions as D

    f = np.asarray(profiles, float) / tau
    return dict(field=float(np.sqrt(f.var(1).mean())), disorder=float(np.sqrt(f.var(0).mean())),
                mutual_information=float(D.mutual_information(softmax(f, -1))))


def fit_rows(fit: CurveFit, **labels) -> list[dict]:
    """The fit as tidy rows ``{parameter, value, error, chi2, dof}`` plus ``labels``."""
    return [dict(labels, parameter=n, value=float(v), error=float(e), chi2=fit.chi2,
                 dof=fit.dof) for n, v, e in zip(fit.names, fit.values, fit.errors)]
