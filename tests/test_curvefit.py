"""Toy-chain curve fit: exact observables by hand, parameter recovery from noisy curves."""

import numpy as np
import pytest

from phasejax.curvefit import chain_observables, fit_chain_curves, toy_curves


def test_two_site_chain_by_hand():
    J, a, T = 0.7, 0.3, 1.1
    w = {"00": np.exp((J + 2 * a) / T), "11": np.exp(J / T), "01": np.exp(a / T),
         "10": np.exp(a / T)}
    Z = sum(w.values())
    o = chain_observables(J, a, T, 2, 2, profile=[1.0, 0.0])
    assert o["abs_magnetisation"] == pytest.approx((w["00"] + w["11"]) / Z)
    assert o["m2"] == pytest.approx((w["00"] + w["11"]) / Z)
    E = {"00": -(J + 2 * a), "11": -J, "01": -a, "10": -a}
    U = sum(w[k] * E[k] for k in w) / Z
    assert o["energy"] == pytest.approx(U / 2)
    p0 = (2 * w["00"] + w["01"] + w["10"]) / (2 * Z)
    assert o["item_entropy"] == pytest.approx(-(p0 * np.log(p0) + (1 - p0) * np.log(1 - p0)))


def test_recovers_coupling_field_and_temperature_scale():
    truth = np.array([0.7, 0.4, 1.3])
    profile = [1.0, 0.0]
    rng = np.random.default_rng(0)
    sigma = {"abs_magnetisation": 0.01, "binder": 0.02, "energy": 0.01}
    rows = []
    for N in (4, 6, 8):
        for T in np.linspace(0.6, 2.0, 6):
            for obs, s in sigma.items():
                value = toy_curves(truth, [(obs, N, T)], 2, profile)[0]
                rows.append(dict(observable=obs, L=N, T=T, mean=value + rng.normal(0, s),
                                 stderr=s))
    fit = fit_chain_curves(rows, 2, list(sigma), profile=profile)
    assert fit.success
    z = (fit.values - truth) / fit.errors
    assert np.all(np.abs(z) < 4), (fit.values, fit.errors)
    assert np.all(fit.errors < 0.2 * np.abs(truth))
    assert 0.4 < fit.chi2 / fit.dof < 2.0


def test_order_parameter_curves_fix_only_ratios():
    """Without an energy-scaled observable, τ stays fixed and J/τ is what is measured."""
    truth = np.array([0.7, 0.0, 1.3])
    rows = [dict(observable=obs, L=N, T=T, mean=toy_curves(truth, [(obs, N, T)], 2)[0],
                 stderr=0.01)
            for N in (4, 6) for T in (0.6, 1.0, 1.5) for obs in ("abs_magnetisation", "binder")]
    fit = fit_chain_curves(rows, 2, ["abs_magnetisation", "binder"], theta0=(0.5, 0.0, 1.0))
    assert fit.values[2] == 1.0 and fit.errors[2] == 0.0
    assert fit.values[0] == pytest.approx(0.7 / 1.3, abs=1e-3)


def test_too_few_points_and_too_many_states():
    with pytest.raises(ValueError, match="usable data points"):
        fit_chain_curves([dict(observable="binder", L=4, T=1.0, mean=0.5, stderr=0.1)], 2,
                         ["binder"])
    with pytest.raises(ValueError, match="too many to enumerate"):
        chain_observables(1.0, 0.0, 1.0, 10, 10)


def test_single_site_fits_field_and_temperature_scale_from_heat_capacity():
    """N = 1 (one answer): no coupling; m, S fix a/τ and C fixes a — both recovered."""
    profile = np.log([0.4, 0.3, 0.2, 0.1])
    profile -= profile.mean()
    truth = np.array([0.0, 1.5, 1.2])
    obs = ("abs_magnetisation", "entropy", "specific_heat")
    rows = [dict(observable=o, L=1, T=T, mean=toy_curves(truth, [(o, 1, T)], 4, profile)[0],
                 stderr=0.002) for T in np.linspace(0.3, 2.0, 8) for o in obs]
    fit = fit_chain_curves(rows, 4, obs, profile=profile, theta0=(0.0, 1.0, 1.0))
    assert fit.values[0] == 0.0 and fit.errors[0] == 0.0
    assert np.allclose(fit.values[1:], truth[1:], rtol=1e-3)
