"""Histogram reweighting against exact Boltzmann averages and against direct simulation."""

import warnings

import jax
import numpy as np
import pytest

import toy_models
from phasejax.analysis.observables import order_parameter
from phasejax.lattice import samplers
from phasejax.lattice.driver import simulate
from phasejax.lattice.exact import all_configurations, enumerate_boltzmann
from phasejax.analysis.reweight import InsufficientOverlap, Reweighter, single_histogram
from phasejax.analysis.fss import SizeData


@pytest.fixture(scope="module")
def exact_ising():
    model = toy_models.make("ising", L=3, J=1.0)
    confs = all_configurations(model)
    m = np.abs((2.0 * confs - 1).reshape(len(confs), -1).mean(1))
    return model, confs, m


def iid_samples(model, m, T, n, rng):
    E, p = enumerate_boltzmann(model, T)
    idx = rng.choice(p.size, size=(1, n), p=p)
    return E[idx], m[idx]


def test_multiple_histogram_matches_exact_averages(exact_ising):
    model, confs, m = exact_ising
    rng = np.random.default_rng(0)
    runs = [2.0, 2.5, 3.0, 3.5]
    data = [iid_samples(model, m, T, 20000, rng) for T in runs]
    rw = Reweighter(runs, np.stack([d[0] for d in data]), {"m": np.stack([d[1] for d in data])})
    targets = np.array([2.2, 2.75, 3.3])
    avg = rw.averages(targets)
    jk = [rw.averages(targets, s) for s in rw.jackknife_states()]
    B = len(jk)
    for i, T in enumerate(targets):
        E, p = enumerate_boltzmann(model, T)
        for name, exact in (("E", p @ E), ("m", p @ m)):
            vals = np.array([j[name][i] for j in jk])
            err = np.sqrt((B - 1) / B * ((vals - vals.mean()) ** 2).sum())
            assert abs(avg[name][i] - exact) < 4 * err, (name, T, avg[name][i], exact, err)
            assert err < 0.02 * abs(exact) + 1e-3


def test_single_histogram_matches_exact(exact_ising):
    model, confs, m = exact_ising
    E0, m0 = iid_samples(model, m, 2.5, 50000, np.random.default_rng(1))
    for T in (2.4, 2.6):
        E, p = enumerate_boltzmann(model, T)
        assert single_histogram(2.5, E0, m0, T)[0] == pytest.approx(p @ m, abs=0.01)


def test_reweighting_refuses_to_extrapolate_or_bridge_gaps(exact_ising):
    model, confs, m = exact_ising
    rng = np.random.default_rng(2)
    E1, m1 = iid_samples(model, m, 2.0, 5000, rng)
    E2, m2 = iid_samples(model, m, 2.4, 5000, rng)
    rw = Reweighter([2.0, 2.4], np.stack([E1, E2]), {"m": np.stack([m1, m2])})
    with pytest.raises(InsufficientOverlap, match="does not extrapolate"):
        rw.averages([2.6])
    big = toy_models.make("ising", L=16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tr = simulate(jax.random.key(0), big, samplers.make("swendsen_wang"), [1.5, 3.5],
                      n_replicas=1, n_therm=20, n_measure=100, start="ordered")
    with pytest.raises(InsufficientOverlap, match="overlap"):
        Reweighter(tr.temperatures, tr.energy, {})
    with pytest.raises(InsufficientOverlap, match="effective samples"):
        single_histogram(1.5, tr.energy[0], tr.energy[0], 3.5)


def test_reweighting_reproduces_a_directly_simulated_temperature():
    model = toy_models.make("ising", L=12)
    run = dict(n_replicas=4, n_therm=200, n_measure=3000, site_histograms=False)
    sw = samplers.make("swendsen_wang")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grid = simulate(jax.random.key(1), model, sw, [2.1, 2.2, 2.3, 2.4, 2.5], **run)
        direct = simulate(jax.random.key(2), model, sw, [2.25, 2.37], **run)
    N = model.n_sites
    a = SizeData(12, N, grid.temperatures, grid.energy, order_parameter(grid.counts, N))
    rew = a.curves_with_errors([2.25, 2.37])
    for i, T in enumerate([2.25, 2.37]):
        e = direct.energy[i] / N
        m = order_parameter(direct.counts[i], N)
        direct_vals = {"energy": (e.mean(), e.mean(1).std(ddof=1) / 2),
                       "abs_magnetisation": (m.mean(), m.mean(1).std(ddof=1) / 2)}
        for name, (mean, err) in direct_vals.items():
            r_mean, r_err = rew[name][0][i], rew[name][1][i]
            assert abs(r_mean - mean) < 4 * np.hypot(r_err, err), (name, T, r_mean, mean)
