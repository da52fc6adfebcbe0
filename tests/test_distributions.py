"""The shared distribution statistics on hand-computed cases."""

import numpy as np
import pytest

from phasejax.analysis import distributions as D

LN2 = np.log(2.0)


def close(a, b, tol=1e-6):
    return np.allclose(np.asarray(a, float), b, atol=tol)


def test_entropy_family():
    assert close(D.entropy([0.25] * 4), np.log(4))
    assert close(D.entropy([1.0, 0, 0]), 0.0)
    assert close(D.normalised_entropy([0.5, 0.5, 0, 0]), 0.5)
    assert close(D.effective_options([0.5, 0.5, 0, 0]), 2.0, 1e-5)
    assert close(D.entropy([[0.5, 0.5], [1.0, 0.0]]), [LN2, 0.0])


def test_order_parameter_and_top_k():
    assert close(D.order_parameter([0.25] * 4), 0.0)
    assert close(D.order_parameter([0, 1.0, 0, 0]), 1.0)
    assert close(D.order_parameter([0.5, 0.5, 0, 0]), 1 / 3)
    assert close(D.top_k_mass([0.1, 0.5, 0.15, 0.25], 2), 0.75)


def test_overlaps_with_a_seed():
    assert close(D.bhattacharyya([0.3, 0.7], [0.3, 0.7]), 1.0)
    assert close(D.bhattacharyya([1.0, 0], [0, 1.0]), 0.0)
    assert close(D.bhattacharyya([0.5, 0.5], [1.0, 0.0]), np.sqrt(0.5))
    assert close(D.js_divergence([0.2, 0.8], [0.2, 0.8]), 0.0)
    assert close(D.js_divergence([1.0, 0], [0, 1.0]), LN2)
    # JS((.5,.5),(.8,.2)) = H(.65,.35) - (ln2 + H(.8,.2))/2
    H = lambda *p: -sum(x * np.log(x) for x in p)
    assert close(D.js_divergence([0.5, 0.5], [0.8, 0.2]), H(0.65, 0.35) - (LN2 + H(0.8, 0.2)) / 2)
    assert close(D.kl_divergence([0.5, 0.5], [0.25, 0.75]),
                 0.5 * np.log(2) + 0.5 * np.log(0.5 / 0.75))
    assert close(D.support_retention([0.2, 0.3, 0.4, 0.1], [0.5, 0.5, 0, 0]), 0.5)


def test_family_statistics():
    same = np.tile([0.2, 0.3, 0.5], (5, 1))
    assert close(D.mutual_information(same), 0.0)
    assert close(D.mean_pairwise_js(same), 0.0)
    assert D.n_distinct(same) == 1
    onehots = np.eye(4)
    assert close(D.mutual_information(onehots), np.log(4))
    assert close(D.mean_pairwise_js(onehots), LN2)
    assert D.n_distinct(onehots) == 4
    two = np.array([[0.9, 0.1], [0.88, 0.12], [0.1, 0.9], [0.12, 0.88]])
    assert D.n_distinct(two) == 2
    # weights: all weight on one prompt -> no information
    assert close(D.mutual_information(onehots, weights=[1, 0, 0, 0]), 0.0)


def test_thermodynamics_of_a_two_level_system():
    T = np.array([0.5, 1.0, 3.0])
    th = D.thermodynamics([-1.0, 1.0], T)
    b = 1 / T
    assert close(th.energy, -np.tanh(b), 1e-5)
    assert close(th.specific_heat, (1 / np.cosh(b)) ** 2 / T**2, 1e-5)
    assert close(th.entropy, np.log(2 * np.cosh(b)) - b * np.tanh(b), 1e-5)
    assert close(th.free_energy, -T * np.log(2 * np.cosh(b)), 1e-5)
    assert close(th.p.sum(-1), 1.0)


def test_phase_label_rule():
    seed = np.array([0.6, 0.3, 0.1, 0.0, 0.0])
    liquid = np.eye(5) * 0.8 + 0.04
    assert D.phase_label(D.phase_statistics(liquid, seed)) == "liquid"
    nucleated = np.tile([0.58, 0.31, 0.11, 0.0, 0.0], (6, 1))
    assert D.phase_label(D.phase_statistics(nucleated, seed)) == "nucleated"
    settled = np.tile([0.15, 0.8, 0.05, 0.0, 0.0], (6, 1))
    st = D.phase_statistics(settled, seed)
    assert st.seed_overlap < 0.95 and st.support_retention == pytest.approx(1.0, abs=1e-6)
    assert D.phase_label(st) == "settled"
    collapsed = np.tile([0.05, 0.05, 0.0, 0.9, 0.0], (6, 1))
    assert D.phase_label(D.phase_statistics(collapsed, seed)) == "collapsed"
