"""Error bars for Markov-chain averages: autocorrelation, binning and the jackknife.

For a stationary series ``x_t`` with normalised autocorrelation ``ρ(t)`` the integrated
autocorrelation time is ``τ_int = 1/2 + Σ_{t=1}^{W} ρ(t)``; the variance of the mean of ``n``
samples is ``2 τ_int σ² / n``. The window ``W`` is chosen automatically (Sokal): the smallest
``W`` with ``W >= c τ_int(W)``, ``c = 5``.

Independent replicas are pooled: their autocovariances are averaged, and for error bars each
replica's series is cut into equal blocks much longer than ``τ_int``; the blocks of all replicas
are the units of the jackknife. A derived quantity ``f(<A>, <B>, ...)`` (specific heat,
susceptibility, Binder cumulant) gets its error from the jackknife over those blocks.
"""

from __future__ import annotations

import warnings
from typing import Callable, NamedTuple, Sequence

import numpy as np

SOKAL_C = 5.0
MIN_RUN_IN_TAU = 50.0


RHAT_MAX = 1.1


def numpy_rng(key) -> np.random.Generator:
    """A numpy generator seeded from a JAX PRNG key: the one way randomness enters the
    analysis and fit code (resampling runs on the host; the key, first argument of every
    random function, comes from the caller as everywhere else in the package)."""
    import jax

    if not (isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype,
                                                                  jax.dtypes.prng_key)):
        raise TypeError(f"expected a JAX PRNG key (jax.random.key(seed)) as the first argument; "
                        f"got {type(key).__name__}")
    return np.random.default_rng(np.asarray(jax.random.key_data(key), np.uint32).ravel().tolist())


class ShortRunWarning(UserWarning):
    """A run shorter than ``MIN_RUN_IN_TAU`` integrated autocorrelation times."""


class ReplicaDisagreementWarning(UserWarning):
    """Replicas disagree more than their own fluctuations allow (``R̂ > RHAT_MAX``)."""


def rhat(x: np.ndarray) -> float:
    """Gelman–Rubin potential scale reduction of a ``(replicas, n)`` series.

    ``R̂ = sqrt(((n-1)/n W + B/n) / W)`` with ``W`` the mean within-replica variance and
    ``B/n`` the variance of replica means; ``≈ 1`` when every replica samples the same
    distribution, larger when some are stuck (metastable states, broken ergodicity).
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    R, n = x.shape
    if R < 2 or n < 2:
        return float("nan")
    W = x.var(1, ddof=1).mean()
    if W == 0:
        return 1.0 if np.ptp(x.mean(1)) == 0 else float("inf")
    B_over_n = x.mean(1).var(ddof=1)
    return float(np.sqrt(((n - 1) / n * W + B_over_n) / W))


def autocorrelation(x: np.ndarray) -> np.ndarray:
    """Normalised autocorrelation ``ρ(t)`` of ``x`` (shape ``(n,)`` or ``(replicas, n)``).

    Computed by FFT; the autocovariances of replicas are averaged before normalising.
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    n = x.shape[-1]
    y = x - x.mean(-1, keepdims=True)
    f = np.fft.rfft(y, n=2 * n, axis=-1)
    acov = np.fft.irfft(f * np.conj(f), axis=-1)[:, :n] / n
    acov = acov.mean(0)
    if acov[0] <= 0:
        return np.concatenate([[1.0], np.zeros(n - 1)])
    return acov / acov[0]


def tau_int(x: np.ndarray, c: float = SOKAL_C) -> float:
    """Integrated autocorrelation time with Sokal's automatic window (``1/2`` for white noise)."""
    rho = autocorrelation(x)
    taus = 0.5 + np.cumsum(rho[1:])
    W = np.arange(1, rho.size)
    ok = W >= c * taus
    if not np.any(ok):
        return float(max(taus[-1], 0.5)) if taus.size else 0.5
    return float(max(taus[np.argmax(ok)], 0.5))


def blocks(x: np.ndarray, tau: float, max_blocks: int = 32) -> np.ndarray:
    """Block means of each replica's series: shape ``(replicas * n_blocks, ...)``.

    ``x`` has shape ``(replicas, n, ...)``. The block length is at least ``4 τ`` (clipped so
    that each replica gives at least two blocks) and each replica gives at most
    ``max_blocks``; a trailing remainder is dropped.
    """
    x = np.asarray(x, dtype=np.float64)
    R, n = x.shape[:2]
    length = max(1, int(np.ceil(4 * tau)), int(np.ceil(n / max_blocks)))
    length = min(length, max(1, n // 2))
    nb = n // length
    x = x[:, : nb * length].reshape(R, nb, length, *x.shape[2:]).mean(2)
    return x.reshape(R * nb, *x.shape[2:])


def jackknife(block_means: np.ndarray, f: Callable[[np.ndarray], np.ndarray]):
    """Jackknife estimate and error of ``f(mean over blocks)``.

    ``block_means`` has shape ``(B, k)``; ``f`` maps a ``(k,)`` vector of means to a value.
    Returns ``(estimate, stderr)``; the estimate is bias-corrected.
    """
    b = np.asarray(block_means, dtype=np.float64)
    B = b.shape[0]
    full = np.asarray(f(b.mean(0)))
    if B < 2:
        return full, np.full_like(full, np.nan, dtype=np.float64)
    loo = (b.sum(0, keepdims=True) - b) / (B - 1)
    vals = np.stack([np.asarray(f(row)) for row in loo])
    est = B * full - (B - 1) * vals.mean(0)
    return est, jackknife_error(vals)


def jackknife_error(leave_one_out, axis: int = 0):
    """Jackknife standard error from the ``B`` leave-one-out values along ``axis``:
    ``√((B − 1)/B · Σ_b (v_b − v̄)²)`` (for the mean of ``B`` values: their ``std/√B``)."""
    v = np.asarray(leave_one_out, np.float64)
    B = v.shape[axis]
    return np.sqrt((B - 1) / B * ((v - v.mean(axis, keepdims=True)) ** 2).sum(axis))


class Estimate(NamedTuple):
    """A mean with its standard error, integrated autocorrelation time and sample count."""

    mean: float
    stderr: float
    tau_int: float
    n_samples: int


def estimate_mean(x: np.ndarray, label: str = "", warn: bool = True) -> Estimate:
    """Mean of a ``(replicas, n)`` series with an error bar and ``τ_int``.

    The error is the larger of the blocked error and the spread of replica means
    (``std / √R``), so replicas stuck in different states cannot hide behind short-time
    fluctuations; a warning names both conditions that make an error bar untrustworthy.
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    R = x.shape[0]
    tau = tau_int(x)
    if warn:
        warn_if_short(x.shape[-1], tau, label)
        r = rhat(x)
        if r > RHAT_MAX:
            warnings.warn(f"{label or 'series'}: replicas disagree (R̂ = {r:.2f} > {RHAT_MAX}); "
                          "the chains have not mixed", ReplicaDisagreementWarning, stacklevel=2)
    b = blocks(x, tau)
    mean = float(x.mean())
    err = float(b.std(ddof=1) / np.sqrt(b.shape[0])) if b.shape[0] > 1 else float("nan")
    if R > 1:
        err = max(err, float(x.mean(1).std(ddof=1) / np.sqrt(R)))
    return Estimate(mean, err, tau, int(x.size))


def estimate_function(series: Sequence[np.ndarray], f: Callable, tau: float) -> tuple[float, float]:
    """Jackknife ``f(<A>, <B>, ...)`` from ``(replicas, n)`` series sharing a blocking ``τ``."""
    stacked = np.stack([np.asarray(s, dtype=np.float64) for s in series], -1)
    b = blocks(stacked, tau)
    est, err = jackknife(b, lambda means: f(*means))
    return float(est), float(err)


def warn_if_short(n: int, tau: float, label: str = "") -> None:
    """Warn (:class:`ShortRunWarning`) when ``n`` samples cover fewer than ``MIN_RUN_IN_TAU``
    autocorrelation times ``τ``.
    """
    if n < MIN_RUN_IN_TAU * tau:
        warnings.warn(
            f"{label or 'series'}: {n} samples per chain is only {n / tau:.1f} τ_int "
            f"(τ_int = {tau:.1f}); error bars need about {MIN_RUN_IN_TAU:.0f} τ_int",
            ShortRunWarning, stacklevel=3)
