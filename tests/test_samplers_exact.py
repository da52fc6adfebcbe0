"""Every sampler against exact enumeration of tiny lattices (chi-square of visited states)."""

import jax
import numpy as np
import pytest

import toy_models
from helpers import cases, chi_square_pvalue, sample_states
from phasejax.lattice import samplers

P_MIN = 1e-3
# each factory seeds its own draws: a model is the same whether its test runs alone or after
# others (a module-level generator would hand out different fields under -k)


def potts_3x3_field():
    return toy_models.make("potts", L=3, q=3, dim=2, J=1.0, h=[0.3, 0.0, -0.2])


def ising_3x3_field():
    return toy_models.make("ising", L=3, dim=2, J=1.0, h=0.15)


def general_chain_range2():
    q, L = 3, 7
    rng = np.random.default_rng(7)
    A = rng.normal(size=(2, q, q))
    W = 0.6 * (A + np.swapaxes(A, 1, 2)) / 2
    h = 0.4 * rng.normal(size=(L, q))
    return toy_models.make("token_lattice", L=L, q=q, R=2, W=W, h=[0.2, 0.0, -0.1], h_site=h)


def potts_chain_range2_site_field():
    q, L = 3, 7
    W = np.stack([1.0 * np.eye(q), 0.5 * np.eye(q) + 0.1])  # Potts form with a constant shift
    h = 0.5 * np.random.default_rng(8).normal(size=(L, q))
    return toy_models.make("token_lattice", L=L, q=q, R=2, W=W, h_site=h)


def mean_field_potts():
    return toy_models.make("mean_field", L=6, q=3, J=2.0, h=[0.2, 0.0, 0.0])


def general_2d_site_field():
    # odd L: the colouring is greedy (three colours), not the checkerboard parity
    W = np.array([[0.8, -0.3], [-0.3, 0.5]])
    h = 0.5 * np.random.default_rng(9).normal(size=(3, 3, 2))
    return toy_models.make("token_lattice", L=3, q=2, dim=2, geometry="hypercubic", W=W,
                           h=[0.1, 0.0], h_site=h)


CASES = [
    # (model factory, T, sampler name, sampler kwargs)
    (potts_3x3_field, 1.3, "metropolis", {}),
    (potts_3x3_field, 1.3, "heatbath", {}),
    (potts_3x3_field, 1.3, "wolff", {"clusters_per_step": 2}),
    (potts_3x3_field, 1.3, "swendsen_wang", {}),
    (ising_3x3_field, 3.0, "metropolis", {}),
    (ising_3x3_field, 3.0, "heatbath", {}),
    (ising_3x3_field, 3.0, "wolff", {"clusters_per_step": 2}),
    (ising_3x3_field, 3.0, "swendsen_wang", {}),
    (general_chain_range2, 1.0, "metropolis", {}),
    (general_chain_range2, 1.0, "heatbath", {}),
    (potts_chain_range2_site_field, 1.0, "wolff", {"clusters_per_step": 2}),
    (potts_chain_range2_site_field, 1.0, "swendsen_wang", {}),
    (mean_field_potts, 0.8, "metropolis", {}),
    (mean_field_potts, 0.8, "heatbath", {}),
    (mean_field_potts, 0.8, "wolff", {"clusters_per_step": 2}),
    (mean_field_potts, 0.8, "swendsen_wang", {}),
    (general_2d_site_field, 1.0, "metropolis", {}),
    (general_2d_site_field, 1.0, "heatbath", {}),
]


def test_random_models_do_not_depend_on_the_tests_before_them():
    for factory in (general_chain_range2, potts_chain_range2_site_field, general_2d_site_field):
        first, again = jax.tree.leaves(factory()), jax.tree.leaves(factory())
        assert all(np.array_equal(a, b) for a, b in zip(first, again)), factory.__name__


# Wolff on the Potts 3 × 3 field is slow (8 s); Potts Wolff runs on two other models below
# (heat bath on it at T = 1.3 is test_chi_square_detects_a_wrong_temperature's draw, with the
# same bound on its p-value)
@pytest.mark.parametrize("factory,T,name,kw", cases(
    CASES, [f"{c[0].__name__}-{c[2]}" for c in CASES], slow={"potts_3x3_field-wolff",
                                                       "potts_3x3_field-heatbath"}))
def test_sampler_matches_enumeration(factory, T, name, kw):
    model = factory()
    toks = sample_states(model, samplers.make(name, **kw), T, n_chains=1024, n_samples=64,
                         thin=4, n_therm=50)
    p, n_bins = chi_square_pvalue(model, toks, T)
    assert n_bins > 20
    assert p > P_MIN, f"{name} on {factory.__name__}: chi-square p = {p:.2e}"


def test_chi_square_detects_a_wrong_temperature():
    model = potts_3x3_field()
    toks = sample_states(model, samplers.make("heatbath"), 1.3, n_chains=1024, n_samples=64,
                         thin=4, n_therm=50)
    assert chi_square_pvalue(model, toks, 1.3)[0] > P_MIN
    assert chi_square_pvalue(model, toks, 1.3 * 1.05)[0] < 1e-8


# the Potts 3 × 3 slots are slow (8 s); the range-2 chain covers the same swaps
@pytest.mark.parametrize("factory,base", [
    pytest.param(potts_3x3_field, "metropolis", marks=pytest.mark.slow),
    (general_chain_range2, "heatbath")])
def test_parallel_tempering_every_slot_matches_enumeration(factory, base):
    model = factory()
    ladder = np.array([0.9, 1.2, 1.6, 2.2])
    sampler = samplers.make("tempering", base=base, n_temperatures=ladder.size)
    toks = sample_states(model, sampler, ladder, n_chains=256, n_samples=64, thin=4, n_therm=50)
    # toks: (chains * samples, n_T, *shape)
    for k, T in enumerate(ladder):
        p, _ = chi_square_pvalue(model, toks[:, k], T)
        assert p > P_MIN, f"slot {k} (T={T}): p = {p:.2e}"
