"""The toy alignment protocol fitted to a language model's post-training curves.

**The toy** is the protocol read with one site per held-out prompt
(:func:`phasejax.lattice.alignment.site_distributions`): site ``j`` sits in the field of its
prompt, ``f_j = ln p_j`` of the liquid model (dose 0, ``T = 1``), and every site is coupled to
every other with ``K``. ``K`` is the transfer between prompts: what training on some prompts
does to the answers of the others, which on the model side goes through the shared weights.
A dose ``d`` of SFT toward the seed ``p₀`` is read as

.. math:: w(d) = 1 − e^{−d/d_0}, \\quad λ(d) = λ_∞ w(d), \\quad α(d) = 1 − (1 − α_∞) w(d)

(the seed field switches on while the prompt fields fade, as in the protocol's nucleation
stage). ``s`` RL steps after the end of SFT (dose ``D``) add the reward tilt
``ρ(s) = ρ_∞ (1 − e^{−s/s_0})`` with ``λ(D)`` and ``α(D)`` held (the KL anchor). Running the
dose back (``r`` steps of melting after ``D``) is the same map followed backwards, to dose
``D − r``, from the state SFT ended in: where the mean-field equations have two solutions the
state keeps to its branch, and the toy shows a hysteresis loop.

**The fit** (:func:`fit_sft`, :func:`fit_rl`): weighted least squares of the toy's statistics
(:func:`phasejax.analysis.phase_map.cell_statistics`, the model's own) against the model's
seed-mean curves at the fit temperatures, weights ``1/error²`` (errors floored at
``min_error``), :func:`scipy.optimize.least_squares` from several starts. Parameter errors come
from ``(JᵀJ)⁻¹`` of the weighted residuals and the goodness of fit is ``χ²/dof``. The statistics
of one family are correlated, so ``χ²/dof`` measures the misfit rather than being a
calibrated test.

**The toy's maps** (:func:`toy_families`): the fitted toy over the model's (dose, ``T``) grid,
and over parameter samples drawn from the fit's covariance, whose spread is the toy's error
(:func:`parameter_samples`).

**Transfer** (:func:`transfer`): SFT on one framing only. In the toy the trained sites get the
seed field and the others feel it only through ``K``; the trained sites' field is set so that
their progress toward the seed is the model's, and the toy then predicts the others'.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from scipy import optimize

from phasejax.analysis.phase_map import cell_statistics, crossings, prompt_overlaps
from phasejax.analysis.stats import jackknife_error
from phasejax.fit.curvefit import CurveFit
from phasejax.lattice.alignment import SiteFields, follow_path
from phasejax.lattice.seeding import seed_field

SFT_PARAMETERS = ("lam_inf", "alpha_inf", "d0", "K")
RL_PARAMETERS = ("rho_inf", "s0")
SFT_OBSERVABLES = ("entropy", "overlap", "mutual_information", "seed_overlap",
                   "support_retention")
RL_OBSERVABLES = ("entropy", "overlap", "top1_mass", "js_to_seed", "support_retention")
N_ITER = 200
REFINE = 8          # path points per grid interval: the state follows its branch in small steps


class DoseToy(NamedTuple):
    """The data a prompt-site toy is built on (everything but its parameters)."""

    log_liquid: np.ndarray    # (J, q) ln p_j of the liquid model at T = 1
    seed: np.ndarray          # (q,) the seed p₀
    reward: np.ndarray        # (q,) reward R of each option

    @classmethod
    def from_liquid(cls, liquid, seed, reward=None):
        """From the liquid's distributions ``(J, q)`` (floored at 1e-9, renormalised)."""
        p = np.maximum(np.asarray(liquid, np.float64), 1e-9)
        p = p / p.sum(-1, keepdims=True)
        q = p.shape[-1]
        r = np.zeros(q) if reward is None else np.asarray(reward, np.float64)
        return cls(np.log(p), np.asarray(seed, np.float64), r)


def dose_weight(d, d0):
    """``w(d) = 1 − e^{−d/d₀}``: the share of the way from the liquid to the seed."""
    return 1.0 - jnp.exp(-jnp.asarray(d, jnp.float32) / d0)


def refine(x, n: int = REFINE):
    """``(fine, index)``: ``n`` points per interval of the path ``x`` (any order), and where
    the points of ``x`` sit in it — a path is followed on ``fine`` and read at ``index``."""
    x = np.asarray(x, np.float64)
    if x.size < 2:
        return x, np.arange(x.size)
    fine = np.concatenate([np.linspace(a, b, n, endpoint=False) for a, b in zip(x[:-1], x[1:])]
                          + [x[-1:]])
    return fine, np.arange(x.size) * n


def sft_fields(theta, doses, J: int, sites=None) -> SiteFields:
    """The toy's fields at each dose (``(n, J)`` leaves) for ``θ`` of :data:`SFT_PARAMETERS`;
    ``sites`` (a ``(J,)`` mask) limits the training to those sites (the others stay liquid)."""
    theta = jnp.asarray(theta, jnp.float32)
    mask = jnp.ones(J, jnp.float32) if sites is None else jnp.asarray(sites, jnp.float32)
    w = dose_weight(doses, theta[2])[:, None] * mask[None]
    return SiteFields(1.0 - (1.0 - theta[1]) * w, theta[0] * w, jnp.zeros(w.shape[0]))


def rl_fields(theta, end_dose: float, theta_rl, steps, J: int) -> SiteFields:
    """The fields after ``steps`` RL steps from the end of SFT (dose ``end_dose``)."""
    end = sft_fields(theta, jnp.asarray([end_dose]), J)
    theta_rl = jnp.asarray(theta_rl, jnp.float32)
    rho = theta_rl[0] * dose_weight(steps, theta_rl[1])
    n = rho.shape[0]
    return SiteFields(jnp.repeat(end.alpha, n, 0), jnp.repeat(end.lam, n, 0), rho)


def _families(toy, K, path, temperatures, m_start, n_iter):
    """``(T, n, J, q)`` along ``path`` at every temperature (traceable)."""
    log_liquid, _, reward, seed_bias = toy
    run = lambda T, m: follow_path(log_liquid, seed_bias, reward, K, path, T, m, n_iter=n_iter)
    return jax.vmap(run)(temperatures, m_start)


_jit_families = jax.jit(_families, static_argnames="n_iter")


def _arrays(toy: "DoseToy", dtype=jnp.float32):
    """The toy's arrays for the compiled functions: ``ln p_liquid``, ``p₀``, ``R`` and the
    seed field ``ln p₀`` (:func:`~phasejax.lattice.seeding.seed_field`)."""
    return tuple(jnp.asarray(np.asarray(x), dtype)
                 for x in (*toy, np.asarray(seed_field(toy.seed, 1.0))))


def _starts(toy, temperatures, m_start, dtype=jnp.float32):
    T = jnp.asarray(np.asarray(temperatures, np.float64).reshape(-1), dtype)
    if m_start is None:
        m_start = np.broadcast_to(np.exp(toy.log_liquid).mean(0), (T.size, toy.seed.size))
    return T, jnp.asarray(np.asarray(m_start, np.float64), dtype)


def toy_families(toy: DoseToy, K: float, path: SiteFields, temperatures, m_start=None,
                 n_iter: int = N_ITER) -> np.ndarray:
    """Site distributions ``(T, n, J, q)`` along ``path`` at every temperature, each path
    started from ``m_start`` (``(T, q)``; default: the liquid's mean). Computed in float64
    (64-bit mode for the call), so that nearly certain answers keep their small masses."""
    with jax.enable_x64(True):
        wide = lambda x: jnp.asarray(np.asarray(x, np.float64))
        T, m = _starts(toy, temperatures, m_start, jnp.float64)
        out = _jit_families(_arrays(toy, jnp.float64), wide(K), jax.tree.map(wide, path), T, m,
                            n_iter)
        return np.asarray(out, np.float64)


def end_state(families) -> np.ndarray:
    """``(T, q)`` mean site distribution at the last point of each path (where the next
    path starts)."""
    return np.asarray(families)[:, -1].mean(-2)


class Curves(NamedTuple):
    """The model's curves a fit reads: seed means and errors on a grid."""

    doses: np.ndarray          # (D,) dose (or RL step) of each point
    temperatures: np.ndarray   # (T,) the fit's temperatures
    value: dict                # observable -> (D, T)
    error: dict                # observable -> (D, T)

    def stacked(self, observables, min_error):
        """``(value, error)`` as ``(O, D, T)`` arrays, errors floored at ``min_error``."""
        return (jnp.asarray(np.stack([self.value[o] for o in observables]), jnp.float32),
                jnp.asarray(np.maximum(np.stack([self.error[o] for o in observables]),
                                       min_error), jnp.float32))


def _weighted(p, seed, value, error, observables):
    st = cell_statistics(p, seed)
    return jnp.concatenate([((jnp.swapaxes(st[o], 0, 1) - value[i]) / error[i]).ravel()
                            for i, o in enumerate(observables)])


@partial(jax.jit, static_argnames=("observables", "n_iter"))
def _sft_residuals(theta, toy, doses, index, T, m_start, value, error, observables, n_iter):
    path = sft_fields(theta, doses, toy[0].shape[0])
    p = _families(toy, theta[3], path, T, m_start, n_iter)[:, index]
    return _weighted(p, toy[1], value, error, observables)


@partial(jax.jit, static_argnames=("observables", "n_iter"))
def _rl_residuals(theta_rl, theta, end_dose, toy, steps, index, T, m_start, value, error,
                  observables, n_iter):
    path = rl_fields(theta, end_dose, theta_rl, steps, toy[0].shape[0])
    p = _families(toy, theta[3], path, T, m_start, n_iter)[:, index]
    return _weighted(p, toy[1], value, error, observables)


_sft_jacobian = jax.jit(jax.jacfwd(_sft_residuals.__wrapped__),
                        static_argnames=("observables", "n_iter"))
_rl_jacobian = jax.jit(jax.jacfwd(_rl_residuals.__wrapped__),
                       static_argnames=("observables", "n_iter"))


def _on_numpy(residuals, jacobian, args, kw):
    """The residuals and their Jacobian in ``θ`` as float64 numpy functions for scipy (the
    model runs in float32 JAX with ``args`` and ``kw`` fixed)."""
    def call(f):
        return lambda th: np.asarray(f(jnp.asarray(th, jnp.float32), *args, **kw), np.float64)

    return call(residuals), call(jacobian)


def _least_squares(fun, jac, starts, lower, upper, names) -> CurveFit:
    best = None
    for x0 in starts:
        x0 = np.clip(np.asarray(x0, np.float64), lower, upper)
        r = optimize.least_squares(fun, x0, jac=jac, bounds=(lower, upper), x_scale="jac")
        if best is None or r.cost < best.cost:
            best = r
    J = best.jac
    cov = np.linalg.pinv(J.T @ J)
    chi2 = float(2 * best.cost)
    dof = int(best.fun.size - len(names))
    return CurveFit(tuple(names), best.x, np.sqrt(np.clip(np.diag(cov), 0, None)), cov, chi2,
                    dof, bool(best.success))


def sft_bounds(span: float, K_max: float = 20.0):
    """``(lower, upper)`` of :data:`SFT_PARAMETERS` for doses up to ``span``."""
    return (np.array([0.0, 0.0, span * 1e-3, 0.0]), np.array([10.0, 1.5, span * 20.0, K_max]))


def fit_sft(toy: DoseToy, curves: Curves, observables: Sequence[str] = SFT_OBSERVABLES,
            min_error: float = 1e-3, K_starts=(0.0, 1.0, 3.0), K_max: float = 20.0,
            n_iter: int = N_ITER) -> CurveFit:
    """``θ = (λ∞, α∞, d₀, K)`` of the dose map (module docstring) fitted to SFT curves."""
    observables = tuple(observables)
    T, m = _starts(toy, curves.temperatures, None)
    value, error = curves.stacked(observables, min_error)
    fine, index = refine(curves.doses)
    args = (_arrays(toy), jnp.asarray(fine, jnp.float32), jnp.asarray(index), T, m, value,
            error)
    fun, jac = _on_numpy(_sft_residuals, _sft_jacobian, args,
                         dict(observables=observables, n_iter=n_iter))
    span = float(np.max(curves.doses))
    starts = [(1.0, 0.2, d0, K) for K in K_starts for d0 in (0.1 * span, 0.4 * span)]
    return _least_squares(fun, jac, starts, *sft_bounds(span, K_max), SFT_PARAMETERS)


def fit_rl(toy: DoseToy, theta_sft, end_dose: float, curves: Curves,
           observables: Sequence[str] = RL_OBSERVABLES, min_error: float = 1e-3,
           rho_max: float = 20.0, n_iter: int = N_ITER) -> CurveFit:
    """``(ρ∞, s₀)`` of the reward tilt fitted to RL curves from the end of SFT, ``θ_SFT``
    (with its ``K``) held."""
    observables = tuple(observables)
    start = sft_end(toy, theta_sft, end_dose, curves.temperatures, n_iter)
    T, m = _starts(toy, curves.temperatures, start)
    value, error = curves.stacked(observables, min_error)
    fine, index = refine(curves.doses)
    args = (jnp.asarray(theta_sft, jnp.float32), jnp.float32(end_dose), _arrays(toy),
            jnp.asarray(fine, jnp.float32), jnp.asarray(index), T, m, value, error)
    fun, jac = _on_numpy(_rl_residuals, _rl_jacobian, args,
                         dict(observables=observables, n_iter=n_iter))
    span = float(np.max(curves.doses))
    starts = [(rho, s0) for rho in (0.5, 2.0, 6.0) for s0 in (0.2 * span, span)]
    return _least_squares(fun, jac, starts, np.array([0.0, span * 1e-3]),
                          np.array([rho_max, span * 20.0]), RL_PARAMETERS)


def parameter_samples(key, fit: CurveFit, n: int, lower=None, upper=None) -> np.ndarray:
    """``(n, P)`` parameter sets drawn from the fit's Gaussian ``N(θ̂, cov)``, clipped to the
    bounds (the toy's error is the spread of what they predict)."""
    cov = np.nan_to_num(np.asarray(fit.covariance, np.float64))
    cov = 0.5 * (cov + cov.T) + 1e-12 * np.eye(len(fit.values))
    z = np.asarray(jax.random.normal(key, (n, len(fit.values))), np.float64)
    w, V = np.linalg.eigh(cov)
    draws = fit.values[None] + z @ (V * np.sqrt(np.clip(w, 0, None))).T
    if lower is not None or upper is not None:
        draws = np.clip(draws, lower, upper)
    return draws


def sft_end(toy: DoseToy, theta, end_dose: float, temperatures, n_iter: int = N_ITER):
    """``(T, q)`` the toy's mean state at the end of SFT (``end_dose``), the path followed
    from the liquid in :data:`REFINE` × 4 steps."""
    J = toy.log_liquid.shape[0]
    path = np.linspace(0.0, end_dose, 4 * REFINE + 1)
    return end_state(toy_families(toy, theta[3], sft_fields(theta, path, J), temperatures,
                                  n_iter=n_iter))


def _along(toy, K, fields_of, x, temperatures, m_start):
    fine, index = refine(x)
    return toy_families(toy, K, fields_of(fine), temperatures, m_start)[:, index]


def sft_maps(toy: DoseToy, theta, doses, temperatures, back_doses=None):
    """The toy's families over the SFT grid ``(T, D, J, q)`` and, with ``back_doses`` (the
    effective doses of the way back, from the end dose down), the way back from the state SFT
    ended in ``(T, R, J, q)``; every path is followed in :func:`refine`'s small steps."""
    J = toy.log_liquid.shape[0]
    up = _along(toy, theta[3], lambda x: sft_fields(theta, x, J), doses, temperatures, None)
    if back_doses is None:
        return up, None
    start = sft_end(toy, theta, float(back_doses[0]), temperatures)
    down = _along(toy, theta[3], lambda x: sft_fields(theta, x, J), back_doses, temperatures,
                  start)
    return up, down


def rl_maps(toy: DoseToy, theta, end_dose: float, theta_rl, steps, temperatures):
    """The toy's families over the RL grid ``(T, n, J, q)`` from the end of SFT."""
    J = toy.log_liquid.shape[0]
    return _along(toy, theta[3], lambda x: rl_fields(theta, end_dose, theta_rl, x, J), steps,
                  temperatures, sft_end(toy, theta, end_dose, temperatures))


class Transfer(NamedTuple):
    """Training on some prompts and the progress of the others: model and toy."""

    progress_trained: float   # mean progress toward the seed of the trained prompts (model)
    progress_others: float    # mean progress of the other prompts (model)
    ratio: float              # progress_others / progress_trained (model)
    ratio_error: float        # jackknife over the other prompts
    toy_ratio: float          # the toy's ratio at the fitted K, trained progress matched
    toy_weight: float         # the trained sites' dose weight w that matches it
    K_transfer: float         # the K at which the toy's ratio is the model's (nan: none)


def progress(before, after, seed) -> np.ndarray:
    """How far each prompt has come toward the seed: ``(b_after − b_before)/(1 − b_before)``
    of its overlap ``b`` with the seed (1: it is the seed, 0: unmoved)."""
    b0, b1 = prompt_overlaps(before, seed), prompt_overlaps(after, seed)
    return (b1 - b0) / np.maximum(1.0 - b0, 1e-6)


W_GRID = np.linspace(0.0, 1.0, 101)


def _toy_progress(toy, theta, K, trained, keep):
    """Along ``w`` of :data:`W_GRID` for the trained sites (the others untrained): the toy's
    mean progress of the trained and of the other sites, ``(len(W_GRID),)`` each."""
    t = np.asarray(trained, np.float64)
    w = W_GRID[:, None] * t[None]
    path = SiteFields(jnp.asarray(1.0 - (1.0 - theta[1]) * w, jnp.float32),
                      jnp.asarray(theta[0] * w, jnp.float32), jnp.zeros(len(W_GRID)))
    p = toy_families(toy, K, path, [1.0])[0]                         # (W, J, q)
    liquid = np.exp(toy.log_liquid)
    x = np.stack([progress(liquid, pw, toy.seed) for pw in p])      # (W, J)
    return x[:, trained & keep].mean(-1), x[:, ~trained & keep].mean(-1)


def _matched(toy, theta, K, trained, keep, target):
    """``(w, trained progress, others' progress)`` where the trained progress first reaches
    ``target`` along the path (the end of the path if it never does)."""
    a, b = _toy_progress(toy, theta, K, trained, keep)
    i = int(np.argmax(a >= target)) if np.any(a >= target) else len(a) - 1
    if i == 0 or a[i] == a[i - 1] or a[i] < target:
        return W_GRID[i], a[i], b[i]
    f = (target - a[i - 1]) / (a[i] - a[i - 1])
    return (W_GRID[i - 1] + f * (W_GRID[i] - W_GRID[i - 1]), target,
            b[i - 1] + f * (b[i] - b[i - 1]))


def transfer(toy: DoseToy, theta, before, after, trained, exclude=None,
             K_grid=np.linspace(0.0, 20.0, 41)) -> Transfer:
    """Transfer of SFT on the ``trained`` prompts (``(J,)`` mask) to the others.

    ``before``, ``after``: the model's ``(J, q)`` distributions at ``T = 1`` before and after
    the one-framing SFT (``toy`` is built on ``before``); ``exclude``: prompts left out of both
    means (those already in the seed's basin). A prompt's :func:`progress` measures how far
    it came; the ratio is the others' mean progress over the trained prompts'. The toy
    follows the trained sites' dose weight ``w`` up to the model's trained progress and reads
    the others' there, at the fitted ``K`` and along ``K_grid`` (``K_transfer``: where the
    toy's ratio is the model's).
    """
    trained = np.asarray(trained, bool)
    keep = np.ones_like(trained) if exclude is None else ~np.asarray(exclude, bool)
    if not (trained & keep).any() or not (~trained & keep).any():
        raise ValueError("transfer needs trained and untrained prompts outside the basin")
    x = progress(before, after, toy.seed)
    p_t = float(x[trained & keep].mean())
    others = x[~trained & keep]
    p_o = float(others.mean())
    loo = (others.sum() - others) / max(others.size - 1, 1)
    ratio_err = float(jackknife_error(loo) / abs(p_t)) if others.size > 1 else float("nan")
    w, a, b = _matched(toy, theta, theta[3], trained, keep, p_t)
    ratios = []
    for K in K_grid:
        _, a_k, b_k = _matched(toy, theta, K, trained, keep, p_t)
        ratios.append(b_k / a_k if a_k > 0 else np.nan)
    target = p_o / p_t
    found = crossings(K_grid, np.asarray(ratios), target)
    return Transfer(p_t, p_o, target, ratio_err, float(b / a) if a > 0 else float("nan"),
                    float(w), float(found[0]) if found.size else float("nan"))
