"""Transition decisions: crossings need significant differences of both signs, peaks must
stand out, fixed points must not drift, and shared sequences share their errors."""

import jax
import numpy as np
import pytest

from phasejax.analysis import decisions as dec
from phasejax.analysis.scaling import scaling_analysis, transitions

T = np.linspace(0.5, 1.5, 11)


def curves(values, errors, sizes, T=T, replicates=None):
    return dec.size_curves(T, sizes, np.stack(values, 1), np.stack(errors, 1), replicates)


def test_a_clear_crossing_is_found_where_it_is():
    rng = np.random.default_rng(0)
    e = np.full(T.size, 0.01)
    U40 = 0.5 - 0.3 * (T - 1.0) + e * rng.standard_normal(T.size)
    U80 = 0.5 - 0.6 * (T - 1.0) + e * rng.standard_normal(T.size)
    c = dec.crossing(rng, curves([U40, U80], [e, e], [40, 80]), 40, 80)
    assert c.found and c.reason == ""
    assert abs(c.T - 1.0) < 4 * c.T_err and 0.01 < c.T_err < 0.1
    assert abs(c.level - 0.5) < 4 * c.level_err


def _curie_weiss_binder(N, T):
    """Exact ``U₄`` of the Curie–Weiss model ``H = −M²/(2N)`` (``T_c = 1``) by enumeration."""
    from scipy.special import gammaln

    k = np.arange(N + 1)
    m = (2.0 * k - N) / N
    lw = gammaln(N + 1) - gammaln(k + 1) - gammaln(N - k + 1) + N * m * m / (2.0 * T)
    p = np.exp(lw - lw.max())
    p /= p.sum()
    return 1.0 - (p * m**4).sum() / (3.0 * (p * m * m).sum() ** 2)


def test_a_steep_crossing_on_a_coarse_grid_carries_its_interpolation_error():
    """Exact Curie–Weiss cumulants of N = 1,024 and 4,096 on eight temperatures in [0.9, 1.1]:
    their exact crossing (root of the exact difference, 0.99897) lies 0.0036 below the straight
    line through the grid points, far beyond a statistical error of 10⁻⁴. The error must say
    so, and a straight difference must not be charged for curvature it does not have."""
    from scipy.optimize import brentq

    grid = np.round(np.linspace(0.9, 1.1, 8), 4)
    sizes = [1024, 4096]
    exact = brentq(lambda t: _curie_weiss_binder(4096, t) - _curie_weiss_binder(1024, t),
                   0.99, 1.01, xtol=1e-10)
    rng = np.random.default_rng(1)
    e = np.full(grid.size, 1e-4)
    U = [np.array([_curie_weiss_binder(N, t) for t in grid]) + e * rng.standard_normal(grid.size)
         for N in sizes]
    c = dec.crossing(rng, curves(U, [e, e], sizes, T=grid), *sizes)
    assert c.found
    assert abs(c.T - exact) > 0.002               # the straight line's bias is real here
    assert abs(c.T - exact) < 2 * c.T_err < 0.02  # and the error covers it
    straight = [0.5 - s * (grid - 1.0) + e * rng.standard_normal(grid.size) for s in (1, 3)]
    c = dec.crossing(rng, curves(straight, [e, e], sizes, T=grid), *sizes)
    assert c.found and abs(c.T - 1.0) < 4 * c.T_err and c.T_err < 5e-4


def test_one_over_nu_from_exact_cumulants_on_a_coarse_grid():
    """Exact Curie–Weiss cumulants of N = 256, 1,024, 4,096 on eight temperatures in
    [0.9, 1.1] (``U₄`` is a function of ``(T − 1) N^{1/2}``: ``1/ν = ½`` in ``N``): the slopes at
    ``T_c`` give ``1/ν`` near ½. A straight line through the five grid points nearest ``T_c``
    averages the largest size's steep drop with its flat ends and gave 0.30."""
    grid = np.round(np.linspace(0.9, 1.1, 8), 4)
    sizes = [256, 1024, 4096]
    rng = np.random.default_rng(4)
    exact = [np.array([_curie_weiss_binder(N, t) for t in grid]) for N in sizes]
    got = {}
    for noise in (1e-3, 1e-2):
        e = np.full(grid.size, noise)
        U = [u + e * rng.standard_normal(grid.size) for u in exact]
        res = scaling_analysis(jax.random.key(0), {"binder": curves(U, [e] * 3, sizes, T=grid)},
                               binder="binder", n_boot=50)
        got[noise] = {(r["method"], r["quantity"]): r for r in res["estimates"]}
    slope = got[1e-3][("binder_crossing", "one_over_nu")]
    assert abs(slope["value"] - 0.5) < max(0.05, 3 * slope["error"]), slope
    # the collapse at noise 0.01 (at 0.001 the N = 256 cumulant's corrections to scaling show)
    collapse = got[1e-2][("binder_collapse", "one_over_nu")]
    assert abs(collapse["value"] - 0.5) < max(0.05, 3 * collapse["error"]), collapse


def test_merged_curves_that_never_cross_get_no_crossing():
    """The issue's fixture: U(80) = U(40) − gap(T), the gap 0 for T ≥ 1 and up to 0.075 at
    T = 0.5, noise 0.02. The old score found a crossing in 12 of 40 redraws."""
    rng = np.random.default_rng(1)
    gap = np.clip(0.15 * (1.0 - T), 0, None)
    base = 0.6 - 0.5 * (T - 0.5)
    e = np.full(T.size, 0.02)
    found = 0
    for k in range(40):
        U40 = base + e * rng.standard_normal(T.size)
        U80 = base - gap + e * rng.standard_normal(T.size)
        c = dec.crossing(rng, curves([U40, U80], [e, e], [40, 80]), 40, 80)
        found += c.found
    assert found <= 2, found
    assert "do not cross" in c.reason or "never differ" in c.reason


def test_a_crossing_with_the_disordered_side_below_is_refused():
    e = np.full(T.size, 0.005)
    U40, U80 = 0.5 + 0.3 * (T - 1.0), 0.5 + 0.6 * (T - 1.0)        # larger size lower below
    c = dec.crossing(np.random.default_rng(2), curves([U40, U80], [e, e], [40, 80]), 40, 80)
    assert not c.found and "wrong way" in c.reason


def test_curves_that_cross_twice_are_no_crossing():
    """``U(80) − U(40)``: significantly +, then −, then + again. Each adjacent pair alone
    brackets a crossing; together they are two crossings in opposite directions."""
    e = np.full(T.size, 0.005)
    U40 = 0.5 - 0.3 * (T - 1.0)
    d = 0.05 * np.cos(2 * np.pi * (T - 0.5) / 0.8)        # + at 0.5, − at 0.9, + at 1.3
    c = dec.crossing(np.random.default_rng(5), curves([U40, U40 + d], [e, e], [40, 80]), 40,
                     80)
    assert not c.found and "changes sign more than once" in c.reason, c.reason
    assert c.reason.index("+ at T = 0.5") < c.reason.index("− at") < c.reason.rindex("+ at")
    # the first half alone is an ordinary crossing
    half = T < 1.1
    one = dec.crossing(np.random.default_rng(5),
                       curves([U40[half], (U40 + d)[half]], [e[half], e[half]], [40, 80],
                              T=T[half]), 40, 80)
    assert one.found and abs(one.T - 0.7) < 0.05


def test_differences_without_errors_are_no_evidence():
    # a clear crossing whose errors are unknown (nan) names nothing; exact values (error 0) do
    U40, U80 = 0.5 - 0.3 * (T - 1.0), 0.5 - 0.6 * (T - 1.0)
    nan = np.full(T.size, np.nan)
    c = dec.crossing(np.random.default_rng(6), curves([U40, U80], [nan, nan], [40, 80]), 40, 80)
    assert not c.found and "never differ significantly" in c.reason, c.reason
    z, pos, neg, found = dec.sign_change(U80 - U40, np.zeros(T.size), 2.0)
    assert found is not None and np.isinf(z[0])


def test_a_crossing_at_the_gaussian_value_is_no_fixed_point():
    """A finite-range chain's U₄ᶜ ≈ c(T)/N crosses for every pair of sizes where c(T) = 0:
    at U₄ = 0, which the decision refuses."""
    e40, e80 = np.full(T.size, 0.004), np.full(T.size, 0.002)
    c = 8.0 * (T - 1.0)                       # negative below: the larger size is higher there
    U40, U80 = c / 40, c / 80
    res = dec.crossing(np.random.default_rng(3), curves([U40, U80], [e40, e80], [40, 80]), 40,
                       80)
    assert not res.found and "Gaussian" in res.reason


def test_drifting_crossings_are_no_fixed_point_but_steady_ones_are():
    rng = np.random.default_rng(4)
    sizes = [20, 40, 80]
    e = [np.full(T.size, 0.004)] * 3
    slope = {20: 0.3, 40: 0.6, 80: 1.2}
    drifting = {20: 1.2, 40: 1.0, 80: 0.8}        # pair crossings at ≈ 1.4 and ≈ 0.6
    U = [0.5 - slope[N] * (T - drifting[N]) for N in sizes]
    fp = dec.fixed_point(rng, curves(U, e, sizes), n_draws=200)
    assert not fp.found and "drift" in fp.reason
    steady = [0.5 - slope[N] * (T - 1.0) for N in sizes]
    fp = dec.fixed_point(rng, curves(steady, e, sizes), n_draws=200)
    assert fp.found and abs(fp.T - 1.0) < 4 * fp.T_err
    two = dec.fixed_point(rng, curves(steady[1:], e[1:], sizes[1:]), n_draws=50)
    assert not two.found and "three sizes" in two.reason


def test_shared_replicates_give_a_difference_its_true_error():
    """Two sizes cut from the same sequences move together: their replicates carry that, and a
    difference far inside √(e_a² + e_b²) is then significant."""
    rng = np.random.default_rng(5)
    B, sizes = 200, [40, 80]
    common = rng.standard_normal((T.size, B, 1)) * 0.05             # shared by both sizes
    own = rng.standard_normal((T.size, B, 2)) * 0.002
    d = 0.02 * np.sign(1.0 - T)                                      # ± 0.02, crossing at 1
    U40 = 0.5 - 0.2 * (T - 1.0)
    reps = np.stack([U40, U40 + d], 1)[:, None, :] + common + own
    err = reps.std(1, ddof=1)
    v = np.stack([U40, U40 + d], 1)
    joint = dec.crossing(rng, dec.size_curves(T, sizes, v, err, reps), 40, 80)
    apart = dec.crossing(rng, dec.size_curves(T, sizes, v, err, None), 40, 80)
    assert joint.found and not apart.found


def test_a_flat_noisy_susceptibility_has_no_peak():
    """χ flat in T, ∝ N^0.5 with 3 % noise: today's argmax gave γ/ν = 0.50 ± 0.02 in 20 of 20."""
    rng = np.random.default_rng(6)
    named = 0
    for k in range(20):
        rows = []
        for N in (20, 40, 80, 160):
            chi = np.sqrt(N) * (1 + 0.03 * rng.standard_normal(T.size))
            rows += [dict(N=N, T=float(t), observable="susceptibility", mean=float(c),
                          stderr=0.03 * np.sqrt(N)) for t, c in zip(T, chi)]
        res = scaling_analysis(jax.random.key(k), rows, n_boot=50)
        g = next(e for e in res["estimates"] if e["quantity"] == "gamma_over_nu")
        named += np.isfinite(g["value"])
    assert named <= 1, named


def test_a_real_peak_stands_out_and_a_monotone_curve_has_none():
    e = np.full(T.size, 0.02)
    p = dec.peak(T, 1.0 + np.exp(-((T - 1.0) / 0.15) ** 2), e)
    assert p.found and abs(p.T - 1.0) < 0.05
    m = dec.peak(T, 1.0 + T + 0.01 * np.sin(40 * T), e)
    assert not m.found


def test_every_method_names_none_for_curves_without_a_transition():
    """Markov-chain-like curves: U₄ falls and τ saturates with N at every T."""
    rng = np.random.default_rng(7)
    rows = []
    for N in (20, 40, 80, 160):
        xi = np.exp(2.0 / T)
        U = (2 / 3) / (1 + N / xi)
        chi = N / (1 + N / xi) / T
        tau = xi * (1 - xi / N * (1 - np.exp(-N / xi)))
        for name, v in (("binder_connected", U), ("susceptibility", chi), ("tau", tau)):
            e = 0.03 * np.abs(v) + 1e-3
            rows += [dict(N=N, T=float(t), observable=name, mean=float(x), stderr=float(s))
                     for t, x, s in zip(T, v + e * rng.standard_normal(T.size), e)]
    res = scaling_analysis(jax.random.key(7), rows, n_boot=50)
    assert all(np.isnan(v) for v in transitions(res).values())
    for e in res["estimates"]:
        if np.isnan(e["value"]):
            assert e["reason"], e


def test_bad_curves_are_refused():
    with pytest.raises(ValueError, match="shape"):
        dec.size_curves(T, [1, 2], np.zeros((T.size, 3)), np.zeros((T.size, 3)))
    with pytest.raises(ValueError, match="not on the grid"):
        dec.size_curves(T, [1, 2], np.zeros((T.size, 2)), np.zeros((T.size, 2))).size_index(3)
