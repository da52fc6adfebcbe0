"""The false-positive and power checks of docs/criticality_rates.md on fewer data sets: chains
without a transition get none from any method, a system with one gets it, and the intervals
cover the true value."""

import jax
import numpy as np

from phasejax.analysis.scaling import TRANSITION_METHODS
from phasejax.lattice import calibration as C

CPU_T = (0.4, 0.6, 0.8, 0.9, 1.0, 1.1, 1.3, 1.6)
NULLS = (C.MarkovChain(2.0, (0.0, 0.0)),            # crossings that drift to low T
         C.MarkovChain(2.0, (0.0, 1.0)),            # a crossing at the Gaussian value U₄ᶜ = 0
         C.MarkovChain(2.5, (0.0, 0.8, -0.3, 0.4, -0.6, 0.2)))   # six states, fields


def test_markov_chains_name_no_transition():
    decisions = []
    for c, chain in enumerate(NULLS):
        for d in range(3):
            k = jax.random.fold_in(jax.random.fold_in(jax.random.key(2026), c), d)
            cur = C.markov_dataset(k, chain, CPU_T, (20, 40, 80, 160), n_sequences=512,
                                   n_boot=80)
            decisions.append(C.decide(jax.random.fold_in(k, 1), cur, n_boot=100))
    rates = C.rates(decisions)
    for m in TRANSITION_METHODS:
        assert rates[m]["n_named"] == 0, (m, rates[m])


def test_the_curie_weiss_transition_is_found_and_covered():
    T = np.linspace(0.9, 1.1, 8)
    sets = C.curie_weiss_datasets(jax.random.key(7), T, (64, 256, 1024), n_datasets=12,
                                  n_samples=4096, n_boot=80)
    decisions = [C.decide(jax.random.fold_in(jax.random.key(8), d), cur, binder="binder",
                          n_boot=100) for d, cur in enumerate(sets)]
    r = C.rates(decisions, truth=1.0)["binder_crossing"]
    assert r["n_named"] >= 10, r
    assert r["cover_2sigma"] >= 0.8 and r["cover_1sigma"] >= 0.4, r
    # without a transition in range (the same model far above T_c) nothing is named
    hot = C.curie_weiss_datasets(jax.random.key(9), 1.5 + T, (64, 256, 1024), n_datasets=4,
                                 n_samples=4096, n_boot=80)
    assert all(np.isnan(C.decide(jax.random.key(d), cur, binder="binder",
                                 n_boot=100)["binder_crossing"][0])
               for d, cur in enumerate(hot))


def test_coverage_against_a_reference_with_an_error_combines_both():
    """A simulated reference known to ± 0.02 and an estimate 0.02 off with error 0.008: the
    combined interval covers it, the bare one does not, and both are reported."""
    d = [{"binder_crossing": (1.02, 0.008)}, {"binder_crossing": (0.96, 0.01)},
         {"binder_crossing": (np.nan, np.nan)}]
    r = C.rates(d, truth=1.0, truth_err=0.02)["binder_crossing"]
    assert r["n_named"] == 2 and r["named"] == 2 / 3
    assert r["cover_1sigma"] == 0.5 and r["cover_1sigma_bare"] == 0.0
    assert r["cover_2sigma"] == 1.0 and r["cover_2sigma_bare"] == 0.0
    assert "cover_1sigma_bare" not in C.rates(d, truth=1.0)["binder_crossing"]
