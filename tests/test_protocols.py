"""Schedules, annealing, seeding, nucleation against CNT, and the toy alignment protocol."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import toy_models
from phasejax.lattice import nucleation as nuc
from phasejax.lattice import samplers, schedules as S, seeding
from phasejax.lattice.alignment import AlignmentProtocol, run_alignment
from phasejax.lattice.anneal import anneal
from phasejax.lattice.driver import simulate


def test_schedules_give_exactly_the_configured_values():
    assert np.allclose(S.values(S.constant(2.5), 4), 2.5)
    lin = S.values(S.linear(3.0, 1.0, 4), 7)
    assert np.allclose(lin, [3.0, 2.5, 2.0, 1.5, 1.0, 1.0, 1.0])
    geo = S.values(S.geometric(4.0, 1.0, 2), 4)
    assert np.allclose(geo, [4.0, 2.0, 1.0, 1.0])
    q = S.values(S.exponential_quench(3.0, 1.0, 2.0), 3)
    assert np.allclose(q, 1.0 + 2.0 * np.exp(-np.arange(3) / 2.0))
    pw = S.values(S.piecewise([S.constant(5.0), S.linear(5.0, 1.0, 2), S.constant(0.5)],
                              [3, 6]), 8)
    assert np.allclose(pw, [5, 5, 5, 5, 3, 1, 0.5, 0.5])
    cyc = S.values(S.cycles(S.linear(2.0, 1.0, 2), 3), 6)
    assert np.allclose(cyc, [2.0, 1.5, 1.0, 2.0, 1.5, 1.0])
    assert np.allclose(S.values(S.shifted(S.linear(1.0, 0.0, 2), 2), 5), [1, 1, 1, 0.5, 0])


@pytest.mark.parametrize("make,match", [
    (lambda: S.linear(1.0, 2.0, 0), "positive integer"),
    (lambda: S.geometric(1.0, -1.0, 5), "one sign"),
    (lambda: S.piecewise([S.constant(1.0)], [3]), "boundaries"),
    (lambda: S.exponential_quench(1.0, 0.5, 0.0), "timescale"),
])
def test_bad_schedules(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.slow
def test_anneal_at_fixed_temperature_is_an_equilibrium_run():
    model = toy_models.make("ising", L=12)
    sampler = samplers.make("metropolis")
    a = anneal(jax.random.key(0), model, sampler, S.constant(2.6), 1500, n_replicas=16)
    b = anneal(jax.random.key(0), model, sampler, 2.6, 1500, n_replicas=16)
    assert np.array_equal(a.energy, b.energy)  # a constant schedule is the number itself
    e_anneal = a.energy[:, 300:].mean(1) / model.n_sites
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eq = simulate(jax.random.key(1), model, sampler, [2.6], n_replicas=16, n_therm=300,
                      n_measure=1200)
    e_eq = eq.energy[0].mean(1) / model.n_sites
    diff = e_anneal.mean() - e_eq.mean()
    err = np.hypot(e_anneal.std(ddof=1), e_eq.std(ddof=1)) / 4
    assert abs(diff) < 4 * err, (diff, err)
    assert np.allclose(a.temperature, 2.6)


def test_pinned_seed_stays_until_release():
    model = toy_models.make("ising", L=16)
    mask = seeding.ball_mask(model.shape, 3)
    init = seeding.place_seed(0, mask, 1)
    kw = dict(n_replicas=4, init=init, frozen=mask)
    held = anneal(jax.random.key(0), model, samplers.make("heatbath"), 10.0, 50, **kw)
    assert np.all(held.tokens[:, mask] == 1)
    freed = anneal(jax.random.key(0), model, samplers.make("heatbath"), 10.0, 50, release=10,
                   **kw)
    assert not np.all(freed.tokens[:, mask] == 1)
    with pytest.raises(ValueError, match="cannot pin"):
        anneal(jax.random.key(0), model, samplers.make("wolff"), 2.0, 10, frozen=mask)


def test_seeding_helpers():
    assert seeding.ball_mask((9, 9), 2).sum() == 13
    assert seeding.ball_mask((9, 9), 1, shape="box").sum() == 9
    wrapped = seeding.ball_mask((8, 8), 1.0, center=(0, 0))
    assert wrapped[7, 0] and wrapped[0, 7] and wrapped.sum() == 5
    p0 = np.array([0.5, 0.3, 0.2])
    # at λ = T and no coupling, every site is distributed exactly as p0
    model = toy_models.make("token_lattice", L=64, q=3, W=np.zeros((3, 3)),
                            h=np.asarray(seeding.seed_field(p0, 1.0)))
    tr = anneal(jax.random.key(3), model, samplers.make("heatbath"), 1.0, 200, n_replicas=8,
                record_every=10)
    freq = tr.counts[:, 2:].sum((0, 1)) / tr.counts[:, 2:].sum()
    assert np.allclose(freq, p0, atol=0.01)
    tok = seeding.sample_tokens(jax.random.key(0), (200, 200), p0)
    assert np.allclose(np.bincount(np.asarray(tok).ravel(), minlength=3) / 40000, p0, atol=0.01)


def test_cluster_sizes_and_rates_on_known_cases():
    model = toy_models.make("ising", L=6)
    s = np.zeros((6, 6), np.int8)
    s[1:3, 1:4] = 1     # a 2x3 block
    s[5, 5] = 1         # a single site, touching nothing (periodic neighbours are 0)
    s[0, 5] = 0
    assert int(nuc.largest_cluster(model, jnp.asarray(s), 1)) == 6
    rng = np.random.default_rng(0)
    true_rate, N = 1e-4, 100
    t = rng.exponential(1 / (true_rate * N), size=4000)
    cens = t > 150.0
    r = nuc.nucleation_rate(np.minimum(t, 150.0), ~cens, N)
    assert abs(r.rate / true_rate - 1) < 4 * r.stderr / true_rate
    h = np.array([0.2, 0.25, 0.3, 0.4])
    fit = nuc.fit_rate_vs_field(h, np.exp(-3.0 - 1.5 / h))
    assert fit["xi"] == pytest.approx(1.5) and fit["a"] == pytest.approx(-3.0)
    assert fit["r2"] == pytest.approx(1.0)
    assert nuc.interface_tension(0.05) == pytest.approx(2.0, abs=1e-6)
    assert nuc.interface_tension(2.269185) == pytest.approx(0.0, abs=1e-4)


def test_seeded_committor_crosses_half_near_cnt_radius():
    from experiments.nucleation import committor
    from omegaconf import OmegaConf
    c = OmegaConf.create(dict(L=40, T=1.2, h=0.1, radii=[3, 5, 7, 9, 11, 13], replicas=48,
                              steps=250, pin_steps=0))
    rows = committor(jax.random.key(0), c, samplers.make("metropolis"))
    P = np.array([r["survival"] for r in rows])
    err = np.array([r["stderr"] for r in rows])
    assert np.all(np.diff(P) >= -2 * np.maximum(err[1:], 0.03))     # monotone within noise
    assert P[0] < 0.2 and P[-1] > 0.8
    R_half = nuc.crossing(c.radii, P)
    R_star = nuc.cnt_ising_2d(1.2, 0.1)["critical_radius"]
    assert 0.5 < R_half / R_star < 2.0, (R_half, R_star)


# slow (20 s): four fields × 24 replicas × 1,500 sweeps; the critical-nucleus test above covers
# the same classical nucleation theory in the default run
@pytest.mark.slow
def test_rate_follows_ln_rate_linear_in_inverse_field():
    from experiments.nucleation import rates
    from omegaconf import OmegaConf
    c = OmegaConf.create(dict(L=24, T=1.5, fields=[0.22, 0.26, 0.31, 0.37], replicas=24,
                              steps=1500, record_every=10))
    rrow, trow, clusters = rates(jax.random.key(1), c, samplers.make("metropolis"))
    I = np.array([r["rate"] for r in rrow])
    assert np.all(I > 0) and np.all(np.diff(I) > 0)
    fit = nuc.fit_rate_vs_field(c.fields, I, [r["stderr"] for r in rrow])
    assert fit["r2"] > 0.9 and fit["xi"] > 0
    xi_cnt = nuc.cnt_ising_2d(1.5, 0.3)["xi"]
    assert 0.4 < fit["xi"] / xi_cnt < 2.5, (fit, xi_cnt)


@pytest.fixture(scope="module")
def alignment_result():
    return run_alignment(AlignmentProtocol())


def test_alignment_protocol_goes_liquid_nucleated_settled(alignment_result):
    st = alignment_result["stages"]
    assert [st[s]["phase"] for s in ("liquid", "nucleation", "settling")] == \
        ["liquid", "nucleated", "settled"]
    # nucleation: I(prompt; token) drops at least tenfold, the overlap with p0 exceeds 0.95
    assert st["nucleation"]["mutual_information"] < st["liquid"]["mutual_information"] / 10
    assert st["liquid"]["n_distinct"] >= 8 and st["nucleation"]["n_distinct"] == 1
    assert st["nucleation"]["seed_overlap"] > 0.95 > st["liquid"]["seed_overlap"]
    # settling: support retention stays above 0.9 while JS to p0 grows by at least 0.03
    assert st["settling"]["support_retention"] > 0.9
    assert st["settling"]["js_to_seed"] > st["nucleation"]["js_to_seed"] + 0.03
    p0 = alignment_result["seed"]
    assert p0[alignment_result["reward_token"]] > 0.02      # the reward favours a seed option


def test_alignment_is_reproducible(alignment_result):
    again = run_alignment(AlignmentProtocol())
    assert np.array_equal(again["families"], alignment_result["families"])


def test_bad_alignment_protocols():
    with pytest.raises(ValueError, match="seed_prompt"):
        AlignmentProtocol(seed_prompt=40)
    with pytest.raises(ValueError, match="reward_token"):
        AlignmentProtocol(reward_token=9)
    with pytest.raises(ValueError, match="multiple of record_every"):
        AlignmentProtocol(liquid_steps=403)
