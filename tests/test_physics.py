"""Known values: Onsager and Yang (2D Ising), the exact 1D chain, Curie–Weiss; and agreement
of all samplers with each other."""

import itertools
import warnings

import jax
import numpy as np
import pytest

import toy_models
from phasejax.analysis import observables
from phasejax.lattice import samplers
from phasejax.lattice.driver import simulate
from phasejax.lattice.exact import ising_chain_energy, onsager_energy, yang_magnetisation
from helpers import (ising_2d_binder, ising_2d_magnetisation_distribution,
                     ising_3x3x3_counts)
from toy_models import mean_field

Z_MAX = 4.0


def run(model, sampler, T, seed=0, **kw):
    kw.setdefault("n_replicas", 8)
    kw.setdefault("n_therm", 300)
    kw.setdefault("n_measure", 2000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trace = simulate(jax.random.key(seed), model, sampler, T, **kw)
        rows = observables.summarise(trace)
    return {(round(r["T"], 6), r["observable"]): r for r in rows}


def z(row, exact):
    return (row["mean"] - exact) / row["stderr"]


# Swendsen–Wang is slow here (11 s); it is checked against exact enumeration in
# test_samplers_exact.py
@pytest.mark.parametrize("name", [
    "metropolis", pytest.param("swendsen_wang", marks=pytest.mark.slow)])
def test_ising_2d_below_tc_matches_onsager_and_yang(name):
    T = [1.5, 2.0]
    res = run(toy_models.make("ising", L=32), samplers.make(name), T, start="ordered")
    for t in T:
        e, m = res[(t, "energy")], res[(t, "abs_magnetisation")]
        assert abs(z(e, onsager_energy(t))) < Z_MAX, (t, e)
        assert abs(z(m, yang_magnetisation(t))) < Z_MAX, (t, m)
        assert e["stderr"] < 2e-3 and m["stderr"] < 2e-3  # the test has resolving power


@pytest.mark.slow
def test_ising_2d_above_tc_energy_and_vanishing_magnetisation():
    T = [2.6, 3.0]
    sampler = samplers.make("metropolis")
    small = run(toy_models.make("ising", L=16), sampler, T)
    large = run(toy_models.make("ising", L=32), sampler, T)
    for t in T:
        e = large[(t, "energy")]
        assert abs(z(e, onsager_energy(t))) < Z_MAX, (t, e)
        assert yang_magnetisation(t) == 0.0
        # above T_c, <m²> = χ T / N with χ finite: |m| halves when L doubles (→ 0 = Yang)
        ratio = large[(t, "abs_magnetisation")]["mean"] / small[(t, "abs_magnetisation")]["mean"]
        assert 0.42 < ratio < 0.58, (t, ratio)


@pytest.mark.parametrize("name", ["metropolis", "heatbath"])
def test_ising_chain_energy_is_minus_tanh_beta(name):
    T = [1.0, 1.5, 3.0]
    res = run(toy_models.make("ising", L=64, geometry="chain"), samplers.make(name), T,
              n_therm=1000)
    for t in T:
        e = res[(t, "energy")]
        assert abs(z(e, ising_chain_energy(t, N=64))) < Z_MAX, (t, e)
        assert abs(ising_chain_energy(t, N=64) + np.tanh(1 / t)) < 1e-6


@pytest.mark.parametrize("h", [0.0, 0.1])
def test_curie_weiss_matches_exact_finite_n(h):
    N, T = 64, [0.8, 1.5]
    res = run(toy_models.make("mean_field", L=N, h=h), samplers.make("metropolis"), T,
              start="ordered", n_measure=3000)
    for t in T:
        exact = mean_field.exact_observables(N, t, h=h)
        for obs in ("energy", "abs_magnetisation", "m2"):
            assert abs(z(res[(t, obs)], exact[obs])) < Z_MAX, (t, obs, res[(t, obs)], exact[obs])


@pytest.fixture(scope="module")
def ising_3x3x3_exact():
    """Energy per site and ⟨|m|⟩ of the periodic 3×3×3 Ising lattice at T = 3.0 (ordered side of
    T_c ≈ 4.51) and 6.0, from all 2²⁷ states enumerated with their own neighbour structure (bit
    patterns, not the library's lattice)."""
    counts = ising_3x3x3_counts()
    assert counts.sum() == 2**27 and counts[0].sum() == 2          # two ground states
    assert counts[6].sum() == 2 * 27 and counts[1:6].sum() == 0     # one flip breaks 6 bonds
    b, u = np.arange(82)[:, None], np.arange(28)[None, :]
    E, absM = -(81.0 - 2 * b), np.abs(2.0 * u - 27)
    exact = {}
    for t in (3.0, 6.0):
        w = counts * np.exp(-(E - E.min()) / t)
        w /= w.sum()
        exact[t] = {"energy": (w * E).sum() / 27, "abs_magnetisation": (w * absM).sum() / 27}
    return exact


# Wolff is slow here (15 s for errors below 0.01); it is checked against exact enumeration in
# 2D (test_samplers_exact.py), and Swendsen–Wang covers the clusters on the 3D neighbours
@pytest.mark.parametrize("name", ["metropolis", "heatbath", "swendsen_wang",
                                  pytest.param("wolff", marks=pytest.mark.slow)])
def test_ising_3d_samplers_match_exact_enumeration_of_3x3x3(ising_3x3x3_exact, name):
    """The 3D lattice and each sampler against exact enumeration of the 3×3×3 lattice."""
    exact, T = ising_3x3x3_exact, [3.0, 6.0]
    model = toy_models.make("ising", L=3, dim=3)
    kw = {"clusters_per_step": 4} if name == "wolff" else {}
    res = run(model, samplers.make(name, **kw), T)
    for t in T:
        for obs, v in exact[t].items():
            r = res[(t, obs)]
            assert abs(z(r, v)) < Z_MAX, (name, t, obs, r["mean"], r["stderr"], v)
            assert r["stderr"] < 0.01, (name, t, obs, r["stderr"])    # resolving power


def test_transfer_matrix_binder_matches_enumeration():
    """The exact L × L Binder cumulant used as a reference (tests/helpers.py) against brute-force
    enumeration of all 2^{L²} states at L = 3, 4."""
    for L, T in ((3, 2.0), (4, 2.3), (4, 3.1)):
        N = L * L
        s = 1 - 2 * ((np.arange(2**N)[:, None] >> np.arange(N)) & 1)
        g = s.reshape(-1, L, L)
        E = -(g * np.roll(g, 1, 1)).sum((1, 2)) - (g * np.roll(g, 1, 2)).sum((1, 2))
        w = np.exp(-(E - E.min()) / T)
        w /= w.sum()
        p = np.bincount((s > 0).sum(1), weights=w, minlength=N + 1)
        assert np.allclose(ising_2d_magnetisation_distribution(L, T), p, rtol=1e-10, atol=0)
        m = np.abs(s.sum(1)) / N
        U = 1 - (w @ m**4) / (3 * (w @ m**2) ** 2)
        assert ising_2d_binder(L, T) == pytest.approx(U, rel=1e-12)


def test_curie_weiss_exact_approaches_self_consistency():
    for T, h in [(0.7, 0.0), (0.9, 0.0), (1.2, 0.05)]:
        m_star = abs(mean_field.self_consistent_magnetisation(T, h=h))
        m_exact = mean_field.exact_observables(20000, T, h=h)["abs_magnetisation"]
        assert abs(m_exact - m_star) < 0.01, (T, h, m_exact, m_star)


# slow (about 30 s): every sampler is checked against exact enumeration in
# test_samplers_exact.py; this adds their mutual agreement on an 8 × 8 Potts lattice near T_c
@pytest.mark.slow
def test_all_samplers_agree():
    model = toy_models.make("potts", L=8, q=3, J=1.0, h=[0.05, 0.0, 0.0])
    T = np.array([0.9, 1.0, 1.1])
    results = {}
    for name in ("metropolis", "heatbath", "wolff", "swendsen_wang"):
        kw = {"clusters_per_step": 4} if name == "wolff" else {}
        results[name] = run(model, samplers.make(name, **kw), T, seed=1, start="ordered")
    results["tempering"] = run(model, samplers.make("tempering", base="metropolis",
                                                    n_temperatures=3), T, seed=1, start="ordered")
    for a, b in itertools.combinations(results, 2):
        for t in T:
            for obs in ("energy", "abs_magnetisation"):
                ra, rb = results[a][(t, obs)], results[b][(t, obs)]
                d = (ra["mean"] - rb["mean"]) / np.hypot(ra["stderr"], rb["stderr"])
                assert abs(d) < Z_MAX, (a, b, t, obs, ra["mean"], rb["mean"], d)
