"""Finite-size scaling against known critical points and exponents (small sizes)."""

import warnings

import jax
import numpy as np
import pytest

import toy_models
from phasejax.analysis import fss
from phasejax.analysis.observables import order_parameter
from phasejax.lattice import samplers
from phasejax.lattice.driver import simulate
from phasejax.lattice.exact import ISING_2D_TC


def size_data(name, L, T, seed=0, n_measure=2000, **kw):
    model = toy_models.make(name, L=L, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tr = simulate(jax.random.key(seed + L), model, samplers.make("swendsen_wang"), T,
                      n_replicas=4, n_therm=200, n_measure=n_measure, site_histograms=False,
                      start="ordered")
    return fss.SizeData(L, model.n_sites, T, tr.energy, order_parameter(tr.counts, model.n_sites))


@pytest.fixture(scope="module")
def ising_result():
    T = np.linspace(2.1, 2.6, 12)      # reweighting fills the gaps (0.045 apart)
    sizes = [size_data("ising", L, T) for L in (8, 16, 32)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sizes, fss.analyse(jax.random.key(0), sizes, n_bootstrap=20)


@pytest.mark.slow
def test_ising_2d_critical_point_and_exponents(ising_result):
    _, res = ising_result
    v, e = res["values"], res["errors"]
    assert abs(v["T_c"] / ISING_2D_TC - 1) < 0.005, (v["T_c"], e["T_c"])
    assert abs(v["gamma_over_nu"] / 1.75 - 1) < 0.05, v["gamma_over_nu"]
    assert abs(v["beta_over_nu"] / 0.125 - 1) < 0.20, v["beta_over_nu"]
    assert abs(v["binder_at_T_c"] - 0.6107) < 0.03
    assert 0 < e["T_c"] < 0.01 and 0 < e["gamma_over_nu"] < 0.1
    col = res["collapse"]
    assert abs(col["T_c"] / ISING_2D_TC - 1) < 0.01 and 0.8 < col["nu"] < 1.25
    assert all(0 < col["errors"][k] < 0.2 for k in ("T_c", "nu", "beta_over_nu"))
    assert res["transition"]["order"] == "continuous"
    assert res["sizes"] == [8, 16, 32]


# slow (about 50 s): the 2D Ising FSS test above covers the same analysis in the default run
@pytest.mark.slow
def test_potts_q3_critical_temperature_and_order():
    T = np.linspace(0.95, 1.05, 14)
    sizes = [size_data("potts", L, T, q=3) for L in (8, 16, 32)]
    Tc_exact = 1 / np.log(1 + np.sqrt(3))
    t, _ = fss.binder_crossing(sizes[1], sizes[2])
    assert abs(t / Tc_exact - 1) < 0.01
    assert fss.transition_order(sizes[-1])["order"] == "continuous"


@pytest.mark.parametrize("q,L,window", [
    pytest.param(10, 16, (0.69, 0.712), marks=pytest.mark.slow),  # the two-start run below
    pytest.param(6, 32, (0.795, 0.82), marks=pytest.mark.slow),   # 40 s; q=6 is weakly first order
])
def test_potts_large_q_is_first_order(q, L, window):
    T = np.linspace(*window, 12)
    ev = fss.transition_order(size_data("potts", L, T, q=q, n_measure=3000))
    assert ev["order"] == "first order", ev
    assert ev["latent_heat"] > 0.1 and ev["valley_over_peak"] < 0.9
    if q == 10:
        check_q10_first_order(ev, L)


# q = 10 Potts at T_t = 1/ln(1 + √10) (Baxter): ordered and disordered energies per site
# e_o,d = −(1 + 1/√q) ∓ 0.696/2, correlation length of the disordered phase ξ_d = 10.56
Q10_TT = 1 / np.log(1 + np.sqrt(10))
Q10_LATENT = 0.696
Q10_E = (-(1 + 1 / np.sqrt(10)) - Q10_LATENT / 2, -(1 + 1 / np.sqrt(10)) + Q10_LATENT / 2)


def check_q10_first_order(ev, L):
    """Quantitative first-order checks of a q = 10 run of size L, each of which a continuous
    transition fails (it has no double peak and a cumulant minimum → 2/3):

    * the peak distance is the latent heat up to the finite-size corrections of pure-phase
      energies, of order e^{−L/ξ_d} (0.22 at L = 16), plus a histogram bin (~0.04): 30 %;
    * the energy cumulant minimum is 2/3 − (e_o² − e_d²)²/(12 e_o² e_d²) + O(L^{-d})
      (Challa, Landau & Binder 1986), 0.108 below 2/3 with the exact energies; it must stay
      between half and twice that (a continuous transition: 0.01 at L = 16 for q = 3);
    * q ordered phases against one disordered: the equal-height point lies above T_t by about
      T_t² ln q / (L^d Δe) (Borgs–Kotecký), not by more than twice that.
    """
    assert abs(ev["latent_heat"] / Q10_LATENT - 1) < 0.3, ev
    eo2, ed2 = Q10_E[0] ** 2, Q10_E[1] ** 2
    deficit = (eo2 - ed2) ** 2 / (12 * eo2 * ed2)
    assert deficit / 2 < 2 / 3 - ev["energy_binder_min"] < 2 * deficit, (ev, deficit)
    shift = Q10_TT**2 * np.log(10) / (L**2 * Q10_LATENT)
    assert 0 < ev["T_equal_height"] - Q10_TT < 2 * shift, (ev, shift)


def test_equal_weight_finds_the_exact_first_order_point_where_equal_height_is_shifted():
    """q = 10 Potts, L = 16, half the chains started ordered and half at random: the
    temperature where the ten ordered phases and the disordered one weigh the same
    (Borgs–Kotecký) lies within 3 replica-bootstrap errors of Baxter's T_t, while the
    equal-height point is shifted up by about T_t² ln q / (L² Δe) (checked with the other
    first-order signatures on the same run)."""
    L, T = 16, np.linspace(0.69, 0.712, 8)
    model = toy_models.make("potts", L=L, q=10)
    E, m = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k, start in enumerate(("ordered", "random")):
            tr = simulate(jax.random.key(k), model, samplers.make("swendsen_wang"), T,
                          n_replicas=6, n_therm=300, n_measure=1500, site_histograms=False,
                          start=start)
            E.append(np.asarray(tr.energy))
            m.append(order_parameter(tr.counts, model.n_sites))
    size = fss.SizeData(L, model.n_sites, T, np.concatenate(E, 1), np.concatenate(m, 1))
    ew = fss.equal_weight(size, 10)
    assert ew.reason == "" and ew.valley_over_peak < 0.9, ew
    draws = [fss.equal_weight(size, 10, split=ew.split, state=st).T
             for st in size.rw.replica_bootstrap_states(jax.random.key(5), 20)]
    err = np.std(draws, ddof=1)
    assert 0 < err < 0.002 and abs(ew.T - Q10_TT) < 3 * err, (ew.T, err, Q10_TT)
    ev = fss.transition_order(size)
    check_q10_first_order(ev, L)
    assert ev["T_equal_height"] - ew.T > 4 * err
    none = fss.equal_weight(size, 10, split=-3.0)                  # every sample "disordered"
    assert np.isnan(none.T) and "stays below 10 times" in none.reason


def test_equal_weight_names_nothing_without_two_coexisting_phases():
    """One Gaussian peak of the energy at every temperature (a continuous transition, or none)
    has no phases to weigh."""
    rng = np.random.default_rng(0)
    T = np.linspace(1.0, 1.2, 5)
    E = np.stack([rng.normal(-100 + 40 * (t - 1), 5, size=(4, 400)) for t in T])
    size = fss.SizeData(50, 50, T, np.round(E, 1), np.zeros_like(E))
    ew = fss.equal_weight(size, 6)
    assert np.isnan(ew.T) and "has one peak at every T" in ew.reason, ew


@pytest.mark.slow
def test_potts_q10_latent_heat():
    """Exact latent heat of the q=10 Potts model (Baxter): 0.696 per site."""
    T = np.linspace(0.695, 0.707, 12)
    ev = fss.transition_order(size_data("potts", 48, T, q=10, n_measure=6000))
    assert ev["order"] == "first order"
    assert abs(ev["latent_heat"] / 0.696 - 1) < 0.15, ev
