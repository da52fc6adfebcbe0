"""Toy-chain curve fit: exact observables by hand, parameter recovery from noisy curves."""

import numpy as np
import pytest

from phasejax.fit.curvefit import chain_observables, fit_chain_curves, toy_curves


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
    truth = np.array([1.0, 0.4, 1.3])          # J = 1 sets the energy unit
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
    assert fit.values[0] == 1.0 and fit.errors[0] == 0.0
    z = (fit.values[1:] - truth[1:]) / fit.errors[1:]
    assert np.all(np.abs(z) < 4), (fit.values, fit.errors)
    assert np.all(fit.errors[1:] < 0.2 * np.abs(truth[1:]))
    assert 0.4 < fit.chi2 / fit.dof < 2.0


def test_the_energy_unit_is_fixed_and_only_ratios_matter():
    """(J, τ) and (2J, 2τ) give the same order-parameter curves; J = 1 picks one of them."""
    a = toy_curves(np.array([1.0, 0.0, 1.3]), [("binder", 6, 0.8), ("entropy", 6, 1.2)], 2)
    b = toy_curves(np.array([2.0, 0.0, 2.6]), [("binder", 6, 0.8), ("entropy", 6, 1.2)], 2)
    assert np.allclose(a, b)
    rows = [dict(observable=o, L=N, T=T, mean=toy_curves(np.array([0.5, 0.0, 1.3]),
                                                          [(o, N, T)], 2)[0], stderr=0.01)
            for N in (4, 6) for T in (0.6, 1.0, 1.5) for o in ("abs_magnetisation", "binder")]
    fit = fit_chain_curves(rows, 2, ["abs_magnetisation", "binder"])
    assert fit.values[2] == pytest.approx(1.3 / 0.5, rel=1e-3)       # τ/J recovered


def test_too_few_points_and_too_many_states():
    with pytest.raises(ValueError, match="usable data points"):
        fit_chain_curves([dict(observable="binder", L=4, T=1.0, mean=0.5, stderr=0.1)], 2,
                         ["binder"])
    with pytest.raises(ValueError, match="too many to enumerate"):
        chain_observables(1.0, 0.0, 1.0, 10, 10)


def test_single_site_fits_field_and_temperature_scale_from_heat_capacity():
    """N = 1 (one answer): no bonds; the field scale is the unit and τ is recovered."""
    profile = np.log([0.4, 0.3, 0.2, 0.1])
    profile -= profile.mean()
    truth = np.array([0.0, 1.5, 1.2])
    obs = ("order_parameter", "entropy", "specific_heat")
    rows = [dict(observable=o, L=1, T=T, mean=toy_curves(truth, [(o, 1, T)], 4, profile)[0],
                 stderr=0.002) for T in np.linspace(0.3, 2.0, 8) for o in obs]
    fit = fit_chain_curves(rows, 4, obs, profile=profile, theta0=(0.0, 1.5, 1.0))
    assert list(fit.errors[:2]) == [0.0, 0.0] and fit.errors[2] > 0
    assert fit.values[2] == pytest.approx(1.2, rel=1e-3)


def test_goodness_of_fit_figure(tmp_path):
    from phasejax.plot.toy_vs_lm import plot_fit

    truth = np.array([1.0, 0.0, 1.3])
    rows = [dict(observable="binder", L=N, T=T, mean=toy_curves(truth, [("binder", N, T)], 2)[0],
                 stderr=0.01) for N in (4, 6) for T in (0.6, 1.0, 1.5)]
    fit = fit_chain_curves(rows, 2, ["binder"])
    path = plot_fit(rows, fit, 2, ["binder"], tmp_path / "fit.png")
    assert path.stat().st_size > 10_000
