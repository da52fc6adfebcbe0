"""The bridge as a test: the fitted coupling must be significantly on each side of the family's
critical coupling before a crossing temperature is named, and on data it speaks for a chain
with a transition and not for chains without one (docs/criticality_rates.md)."""

import jax
import numpy as np
import pytest

from phasejax.fit import bridge as B
from phasejax.lattice import calibration as C

T8 = np.linspace(0.5, 1.5, 8)


def points(ratio, err):
    """Bridge points with the given ``A/K_c`` and its errors (the decision reads only these)."""
    return [B.BridgePoint(float(t), 1.0, 0.1, 0.5, 0.05, 1.0, float(r), float(e), "",
                          np.empty(0)) for t, r, e in zip(T8, ratio, err)]


def test_a_clear_crossing_is_named_with_its_error():
    ratio = 1.0 / T8                              # a fixed Hamiltonian with T_c = 1
    t, err, why = B.critical_temperature(points(ratio, np.full(8, 0.03)))
    assert why == "" and abs(t - 1.0) < 3 * err and 0 < err < 0.1, (t, err, why)
    # without noise the crossing is exact: r ∝ 1/T is a line in 1/T
    assert t == pytest.approx(1.0, abs=1e-12)
    # the grid's order in the input does not matter
    assert B.critical_temperature(points(ratio, np.full(8, 0.03))[::-1])[:2] == (t, err)


def test_curves_that_touch_1_without_crossing_it_are_not_a_crossing():
    # significantly ordered at low T, then at 1 within errors: the point estimates dip
    # below 1 (a sign change an unchecked rule would call T×), never significantly
    ratio = np.array([1.5, 1.3, 1.1, 1.0, 0.98, 1.01, 0.97, 0.99])
    t, err, why = B.critical_temperature(points(ratio, np.full(8, 0.03)))
    assert np.isnan(t) and "never significantly on the other side" in why, why
    # noise around 1 everywhere
    rng = np.random.default_rng(3)
    t, _, why = B.critical_temperature(points(1 + 0.015 * rng.standard_normal(8),
                                              np.full(8, 0.03)))
    assert np.isnan(t) and "never differs significantly" in why, why


def test_ratios_without_errors_decide_nothing():
    ratio = 1.0 / T8                              # a clear crossing, but no errors
    t, _, why = B.critical_temperature(points(ratio, np.full(8, np.nan)))
    assert np.isnan(t) and "with an error" in why, why
    e = np.full(8, 0.03)
    e[3:] = np.nan                                # only the ordered side has errors
    t, _, why = B.critical_temperature(points(ratio, e))
    assert np.isnan(t) and "never significantly on the other side" in why, why


def test_a_crossing_the_wrong_way_is_not_a_transition():
    ratio = 1.0 - 0.6 * (1.0 - T8)                # disordered below, "ordered" above
    t, _, why = B.critical_temperature(points(ratio, np.full(8, 0.03)))
    assert np.isnan(t) and "ordered above" in why, why


def test_a_ratio_that_crosses_1_twice_is_not_a_transition():
    # significantly ordered, then disordered, then ordered again (as a fit that lands on a
    # bound at one temperature can give): each pair alone would bracket a crossing
    down_up = np.array([2.5, 1.6, 0.9, 1.36, 1.49, 1.5, 1.4, 1.45])
    t, _, why = B.critical_temperature(points(down_up, np.full(8, 0.03)))
    assert np.isnan(t) and "changes sign more than once" in why, why
    assert "+ at T = 0.5, 0.643; − at T = 0.786; + at T = 0.929" in why, why
    up_down = np.array([0.9, 0.9, 1.2, 1.2, 0.8, 0.8, 0.8, 0.8])      # − + −
    t, _, why = B.critical_temperature(points(up_down, np.full(8, 0.03)))
    assert np.isnan(t) and "changes sign more than once" in why, why
    # the same data with the last excursion removed is one crossing again
    once = down_up.copy()
    once[3:] = 0.9
    assert np.isfinite(B.critical_temperature(points(once, np.full(8, 0.03)))[0])


def test_a_sigma_not_resolved_from_0_gives_no_ratio():
    """K_c changes definition at σ = 0 (Kac mean field below, the power-law table above), so a
    fit whose σ straddles 0 cannot be placed; one resolved from 0 on either side can."""
    from types import SimpleNamespace

    def fit(A, sigma, sigma_err, rng=np.random.default_rng(0)):
        draws = np.stack([A + 0.02 * rng.standard_normal(8),
                          sigma + sigma_err * rng.standard_normal(8)], 1)
        return SimpleNamespace(A=A, A_err=0.02, sigma=sigma, sigma_err=sigma_err, draws=draws)

    T = [0.6, 1.0, 1.5, 1.5]
    got = B.bridge(T, [fit(0.2, -0.6, 0.09), fit(0.34, -0.11, 0.09), fit(0.22, -0.06, 0.07),
                       fit(0.9, 0.5, 0.05)], q=2, N=160)
    assert np.isfinite(got[0].ratio) and got[0].reason == ""
    for p in got[1:3]:
        assert np.isnan(p.ratio) and np.isnan(p.ratio_err), p
        assert "not resolved from 0" in p.reason and "Kac" in p.reason, p.reason
    assert np.isfinite(got[3].ratio) and np.isfinite(got[3].K_c)       # the table's branch
    # refits that never left the optimum: σ = −1.2 with a spread of 10⁻⁶ is no error
    (stuck,) = B.bridge([1.0], [fit(0.0059, -1.2, 1e-6)], q=2, N=160)
    assert np.isnan(stuck.ratio) and "where they started" in stuck.reason, stuck


def test_refits_that_cannot_order_widen_the_error_and_unplaceable_ones_remove_the_ratio(
        monkeypatch):
    from types import SimpleNamespace

    from phasejax.lattice import critical

    def fit(A, sigma, draws):
        draws = np.asarray(draws, float)
        return SimpleNamespace(A=A, A_err=0.02, sigma=sigma, sigma_err=float(np.std(draws[:, 1])),
                               draws=draws)

    # σ = 0.9 with two of eight refits past σ = 1 (no transition: r = 0 there); dropping them
    # left the six near r ≈ 1.2 and an error of 0.03
    near = [[0.9, 0.85], [0.92, 0.9], [0.88, 0.95], [0.9, 0.88], [0.91, 0.92], [0.89, 0.86]]
    (p,) = B.bridge([1.0], [fit(0.9, 0.9, near + [[0.9, 1.2], [0.9, 1.1]])], q=2, N=160)
    kept = [B._ratio(a, s, 2, 160)[0] for a, s in near]
    assert np.isfinite(p.ratio) and p.ratio_err > 3 * np.std(kept, ddof=1), (p, kept)
    assert np.sum(p.ratio_draws == 0) == 2
    # a table with no critical coupling between σ = 0.4 and 0.7 (an entry where none was named):
    # a refit there cannot be placed, and the temperature has no ratio
    nan = float("nan")
    gap = ((6, 0.4, 1.48, 0.005), (6, 0.5, nan, nan), (6, 0.7, 0.91, 0.001),
           (6, 0.8, 0.79, 0.002))
    monkeypatch.setattr(critical, "table", lambda: gap)
    draws = [[1.5, 0.8], [1.5, 0.78], [1.5, 0.75], [1.5, 0.6]]
    (p,) = B.bridge([1.0], [fit(1.5, 0.78, draws)], q=6, N=160)
    assert np.isnan(p.ratio) and "1 of 4 bootstrap refits" in p.reason, p
    monkeypatch.undo()                                 # the stored table for the case below
    # two states below the table's first entry (σ = 0.1): the mean-field limit at σ → 0⁺ places
    # a refit at σ = 0.05, which the table alone could not
    draws = [[0.2, 0.3], [0.2, 0.25], [0.2, 0.35], [0.2, 0.05]]
    (p,) = B.bridge([1.0], [fit(0.2, 0.3, draws)], q=2, N=160)
    assert np.isfinite(p.ratio) and np.all(np.isfinite(p.ratio_draws)), p
    assert p.ratio_draws[3] > 3 * p.ratio_draws[0]               # K_c(0.05) ≈ 0.05 vs 0.28


def test_markov_chains_give_no_bridge_crossing():
    T = (0.4, 1.0, 1.6)
    for c, chain in enumerate((C.MarkovChain(2.5, (0.0, 0.8, -0.3, 0.4, -0.6, 0.2)),)):
        k = jax.random.fold_in(jax.random.key(11), c)
        seqs = [C.markov_sequences(jax.random.fold_in(k, i), chain, t, 96, 80)
                for i, t in enumerate(T)]
        got = C.decide_bridge(jax.random.fold_in(k, 99), seqs, T, q=chain.q)
        assert np.isnan(got["bridge"][0]), (chain, got)


def test_the_open_long_range_chain_is_placed_at_its_critical_temperature():
    from phasejax.lattice.critical import critical_amplitude

    K_c, _, why = critical_amplitude(2, 0.5)
    assert not why
    T_c = 1.0 / K_c
    T = T_c * np.array([0.7, 1.4])              # r ∝ 1/T: two temperatures fix the line
    sets = C.open_chain_datasets(jax.random.key(5), T, 96, n_datasets=1, n_samples=192,
                                 n_therm=100)
    for d, seqs in enumerate(sets):
        t, err = C.decide_bridge(jax.random.key(d), seqs, T, q=2)["bridge"]
        assert np.isfinite(t) and abs(t - T_c) < 3 * err, (t, err, T_c)
