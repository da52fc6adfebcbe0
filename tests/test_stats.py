import warnings

import numpy as np
import pytest

from phasejax.analysis import stats


def ar1(rho, n, replicas=1, seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros((replicas, n))
    eps = rng.normal(size=(replicas, n)) * np.sqrt(1 - rho**2)
    x[:, 0] = rng.normal(size=replicas)
    for t in range(1, n):
        x[:, t] = rho * x[:, t - 1] + eps[:, t]
    return x


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.8, 0.95])
def test_tau_int_of_ar1_process(rho):
    exact = (1 + rho) / (2 * (1 - rho))
    est = stats.tau_int(ar1(rho, 50_000, replicas=4))
    assert est == pytest.approx(exact, rel=0.15)


def test_error_bar_of_correlated_mean_matches_theory_and_covers_truth():
    rho, n, R = 0.9, 20_000, 8
    tau = (1 + rho) / (2 * (1 - rho))
    zs = []
    for seed in range(6):
        est = stats.estimate_mean(ar1(rho, n, R, seed), warn=False)
        theory = np.sqrt(2 * tau / (n * R))
        assert est.stderr == pytest.approx(theory, rel=0.35)
        zs.append(est.mean / est.stderr)
    assert np.all(np.abs(zs) < 4)
    # a naive error that ignores correlation would be sqrt(2 tau) ≈ 4.4 times too small
    assert est.stderr > 3 * np.std(ar1(rho, n, R, 0)) / np.sqrt(n * R)


def test_jackknife_of_mean_and_of_a_nonlinear_function():
    rng = np.random.default_rng(1)
    b = rng.normal(2.0, 1.0, size=(400, 1))
    est, err = stats.jackknife(b, lambda m: m[0])
    assert est == pytest.approx(b.mean())
    assert err == pytest.approx(b.std(ddof=1) / np.sqrt(400), rel=1e-9)
    est2, err2 = stats.jackknife(b, lambda m: m[0] ** 2)
    assert err2 == pytest.approx(2 * b.mean() * err, rel=0.05)  # delta method


def test_warnings_for_short_runs_and_stuck_replicas():
    with pytest.warns(stats.ShortRunWarning):
        stats.estimate_mean(ar1(0.99, 2000, 2))
    stuck = ar1(0.0, 5000, 4) + np.array([[0.0], [0.0], [1.0], [1.0]])
    with pytest.warns(stats.ReplicaDisagreementWarning):
        est = stats.estimate_mean(stuck)
    assert est.stderr > 0.2  # the spread of replica means, not the tiny within-chain error
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stats.estimate_mean(ar1(0.0, 5000, 4))


def test_rhat_is_one_for_agreeing_replicas():
    assert stats.rhat(ar1(0.5, 20_000, 4)) == pytest.approx(1.0, abs=0.01)


def test_the_monotone_cubic_is_scipys_pchip():
    """``fits.monotone_cubic`` and its zero against ``scipy.interpolate.PchipInterpolator`` (an
    independent implementation of the same Fritsch–Carlson rule) on random data: monotone runs,
    sign changes, repeated values and two points."""
    from scipy.interpolate import PchipInterpolator

    from phasejax.analysis.fits import (monotone_cubic, monotone_cubic_slope,
                                        monotone_cubic_zero)

    rng = np.random.default_rng(0)
    zeros = 0
    for k in range(300):
        n = int(rng.integers(2, 9))
        x = np.sort(rng.random(n)) + np.arange(n)
        y = rng.standard_normal(n)
        if k % 3 == 0:
            y = np.cumsum(np.abs(y))
        if k % 5 == 0:
            y[rng.integers(n)] = y[rng.integers(n)]
        ref = PchipInterpolator(x, y)
        q = np.linspace(x[0], x[-1], 41)
        np.testing.assert_allclose(monotone_cubic(x, y, q), ref(q), rtol=0, atol=1e-12)
        for i in np.flatnonzero(y[:-1] * y[1:] < 0):
            r = ref.roots(extrapolate=False)
            r = r[(r >= x[i]) & (r <= x[i + 1])]
            assert monotone_cubic_zero(x, y, i) == pytest.approx(r[0], abs=1e-12)
            zeros += 1
    assert zeros > 50
    for _ in range(50):
        x = np.sort(rng.random(6)) + np.arange(6)
        y = rng.standard_normal(6)
        slope = PchipInterpolator(x, y).derivative()
        for t in np.linspace(x[0], x[-1], 13):
            assert monotone_cubic_slope(x, y, t) == pytest.approx(slope(t), abs=1e-10)
    # a straight line is read as itself
    x = np.array([0.0, 0.5, 2.0, 3.0])
    assert monotone_cubic_zero(x, 1.0 - x, 1) == pytest.approx(1.0, abs=1e-14)
