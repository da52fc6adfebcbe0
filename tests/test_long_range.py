"""Long-range Potts chain: exact sampling, the transition, and the pseudo-likelihood fit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import zeta

import toy_models
from helpers import cases, chi_square_pvalue, sample_states
from phasejax.analysis.observables import order_parameter
from phasejax.fit.long_range import fit_long_range
from phasejax.lattice import samplers
from phasejax.lattice.driver import simulate
from phasejax.lattice.model import CouplingModel
from toy_models.long_range_chain import power_law_couplings

P_MIN = 1e-3

# T_c of the σ = 0.5 chain with periodic-image couplings, q = 2, J = 1 (Potts units; the Ising
# chain with K_r = r^-1.5 has T_c = 2 × this, K_c = 0.2300(5)). No published value could be
# retrieved here, so this is our own FSS (module docstring of toy_models.long_range_chain):
# Binder crossings 513/1025 at 2.1753(30) and 1025/2049 at 2.1733(16); test_reference_crossing
# (slow) reruns a smaller version.
T_C_SIGMA_HALF = 2.174


# ----------------------------------------------------------------------------- the model

def test_vectorised_model_matches_the_generic_coupling_model():
    rng = np.random.default_rng(3)
    for L, q, R in [(8, 3, 3), (11, 2, 5), (20, 4, 6)]:
        A = rng.normal(size=(R, q, q))
        m = toy_models.make("long_range_chain", L=L, q=q, J_r=np.ones(R), h=rng.normal(size=q))
        m = type(m)(lattice=m.lattice, q=q, W=jnp.asarray((A + A.transpose(0, 2, 1)) / 2,
                                                             jnp.float32), h=m.h)
        g = CouplingModel(lattice=m.lattice, q=q, W=m.W, h=m.h)
        s = jnp.asarray(rng.integers(0, q, size=(6, L)), jnp.int8)
        t = jnp.asarray(rng.integers(0, q, size=(6, L)), jnp.int8)
        for name in ("energy", "local_energies", "delta_energy"):
            fast, slow = (jax.jit(jax.vmap(getattr(x, name))) for x in (m, g))
            args = (s, t) if name == "delta_energy" else (s,)
            np.testing.assert_allclose(fast(*args), slow(*args), atol=2e-5)
        counts = np.asarray(m.pair_counts(s[0]))
        s0 = np.asarray(s[0])
        for r in range(1, R + 1):
            want = np.zeros((q, q))
            np.add.at(want, (s0, np.roll(s0, -r)), 1)
            np.testing.assert_array_equal(counts[r - 1], want)


def test_power_law_couplings_and_their_periodic_images():
    J = power_law_couplings(9, J=2.0, sigma=0.5)
    np.testing.assert_allclose(J, 2.0 * np.arange(1, 5) ** -1.5)
    L, s = 101, 1.5
    Ji = power_law_couplings(L, sigma=0.5, images=True)
    # brute-force image sum
    n = np.arange(-20000, 20001)
    tail = 2 * L**-s * 20000.5 ** (1 - s) / (s - 1)  # images beyond |n| = 20000, as an integral
    want = [np.sum(np.abs(r + n * L) ** -s) + tail for r in (1, 7, 50)]
    np.testing.assert_allclose(Ji[[0, 6, 49]], want, rtol=1e-7)
    # every site feels the infinite chain's total coupling, less its own images
    np.testing.assert_allclose(2 * Ji.sum(), 2 * zeta(s) * (1 - L**-s), rtol=1e-10)
    with pytest.raises(ValueError, match="odd ring length"):
        power_law_couplings(100, images=True)
    with pytest.raises(ValueError, match="L > 2R"):
        toy_models.make("long_range_chain", L=8, J_r=[1.0, 0.5, 0.2, 0.1])
    m = toy_models.make("long_range_chain", L=33, sigma=0.5)
    assert m.lattice.R == 16 and m.q == 2


# ------------------------------------------------------- samplers against exact enumeration

def tiny_chain(q):
    # L = 8, R = 3, power-law couplings and a field on every token
    h = [0.3, -0.1, 0.0][:q]
    return toy_models.make("long_range_chain", L=8, q=q, J=1.0, sigma=0.5, R=3, h=h)


CASES = [
    (2, 0.9, "swendsen_wang", {"bonds": "poisson"}),
    (2, 0.9, "swendsen_wang", {"bonds": "dense"}),
    (2, 0.9, "wolff", {"clusters_per_step": 2, "bonds": "poisson"}),
    (2, 0.9, "heatbath", {}),
    (3, 0.8, "swendsen_wang", {"bonds": "poisson"}),
    (3, 0.8, "wolff", {"clusters_per_step": 2, "bonds": "poisson"}),
    (3, 0.8, "heatbath", {}),
]


# q = 3 Wolff is slow (7 s); q = 2 Wolff and q = 3 Swendsen–Wang cover its bonds and flips.
# q = 3 Swendsen–Wang draws the same chain at the same T in the default run's
# test_chi_square_detects_a_wrong_temperature, with the same bound on its p-value
@pytest.mark.parametrize("q,T,name,kw", cases(
    CASES, [f"q{c[0]}-{c[2]}-{c[3].get('bonds', '')}" for c in CASES], slow={"q3-wolff-poisson",
                                                              "q3-swendsen_wang-poisson"}))
def test_samplers_match_enumeration(q, T, name, kw):
    model = tiny_chain(q)
    # seed 1: with seed 0 the q=2 poisson case draws p = 5e-4 (12x more samples give p ~ 0.6-0.9)
    toks = sample_states(model, samplers.make(name, **kw), T, n_chains=1024, n_samples=64,
                         thin=4, n_therm=50, seed=1)
    p, n_bins = chi_square_pvalue(model, toks, T)
    assert n_bins > 20
    assert p > P_MIN, f"{name} {kw} on the q={q} chain: chi-square p = {p:.2e}"


def test_chi_square_detects_a_wrong_temperature():
    model = tiny_chain(3)
    T = 0.8
    toks = sample_states(model, samplers.make("swendsen_wang", bonds="poisson"), T,
                         n_chains=1024, n_samples=64, thin=4, n_therm=50)
    assert chi_square_pvalue(model, toks, T)[0] > P_MIN
    assert chi_square_pvalue(model, toks, T * 1.05)[0] < 1e-8


# -------------------------------------------------------------- pseudo-likelihood fit

def ring_sequences(model, *, n_chains, n_per_chain, spacing, n_therm, seed):
    """Configurations of ``n_chains`` Swendsen–Wang chains at ``T = 1``: ``n_per_chain`` from each,
    ``spacing`` sweeps apart (far beyond the autocorrelation time of these disordered chains)."""
    smp = samplers.make("swendsen_wang", bonds="poisson")
    k_init, k_run = jax.random.split(jax.random.key(seed))
    states = jax.vmap(smp.init, in_axes=(0, None))(jax.random.split(k_init, n_chains), model)
    step = jax.vmap(smp.step, in_axes=(0, 0, None, None))

    def sweeps(st, key, n):
        def body(st, k):
            return step(jax.random.split(k, n_chains), st, model, jnp.float32(1.0))[0], None
        return jax.lax.scan(body, st, jax.random.split(key, n))[0]

    @jax.jit
    def run(key, states):
        k_therm, k_meas = jax.random.split(key)
        states = sweeps(states, k_therm, n_therm)

        def measure(st, k):
            st = sweeps(st, k, spacing)
            return st, st.tokens
        return jax.lax.scan(measure, states, jax.random.split(k_meas, n_per_chain))[1]

    toks = np.asarray(run(k_run, states))
    return toks.reshape(-1, toks.shape[-1])


def open_sequences(key, J_r, h, *, n, N, sweeps):
    """Sequential-site Gibbs sampling of ``n`` open chains of ``N`` sites at ``T = 1`` (exact in
    the long run: each site draws from its conditional; no neighbours beyond the ends)."""
    J = jnp.asarray(J_r, jnp.float32)
    h = jnp.asarray(h, jnp.float32)
    R, q = J.shape[0], h.shape[0]
    offs = jnp.arange(1, R + 1, dtype=jnp.int32)
    tokens = jnp.arange(q, dtype=jnp.int32)
    k0, key = jax.random.split(key)

    def site(i, carry):
        s, key = carry
        key, k = jax.random.split(key)
        phi = jnp.broadcast_to(h[None, :], (n, q))
        for sign in (1, -1):
            j = i + sign * offs
            nb = s[:, jnp.clip(j, 0, N - 1)]                                     # (n, R)
            same = (nb[:, :, None] == tokens[None, None, :]) & ((j >= 0) & (j < N))[None, :, None]
            phi = phi + jnp.sum(jnp.where(same, J[None, :, None], 0.0), axis=1)
        return s.at[:, i].set(jax.random.categorical(k, phi, axis=-1).astype(jnp.int32)), key

    @jax.jit
    def run(s, key):
        def sweep(carry, _):
            return jax.lax.fori_loop(0, N, site, carry), None
        return jax.lax.scan(sweep, (s, key), None, length=sweeps)[0][0]

    return np.asarray(run(jax.random.randint(k0, (n, N), 0, q, dtype=jnp.int32), key))


def zscores(fit, J_true):
    J = np.concatenate([J_true, np.zeros(fit.J_r.size - len(J_true))])
    return (fit.J_r - J) / fit.J_r_err


def test_fit_recovers_a_planted_periodic_chain():
    q, L, R = 3, 64, 8
    J_true = 0.5 * np.arange(1, R + 1) ** -1.5
    h_true = np.array([0.0, 0.2, -0.3])
    model = toy_models.make("long_range_chain", L=L, q=q, J_r=J_true, h=h_true)
    seqs = ring_sequences(model, n_chains=1024, n_per_chain=4, spacing=5, n_therm=30, seed=5)

    free = fit_long_range(jax.random.key(0), seqs, q=q, R=12, periodic=True, n_bootstrap=12)
    z = zscores(free, J_true)
    assert np.all(np.abs(z) < 4.5) and np.mean(np.abs(z) < 2.5) >= 0.75, np.round(z, 2)
    assert J_true[-1] / free.J_r_err[R - 1] > 2.5       # the test can see the smallest coupling
    assert np.all(np.abs(free.h - h_true) < 4 * np.maximum(free.h_err, 1e-12))

    pl = fit_long_range(jax.random.key(1), seqs, q=q, R=R, form="power_law", periodic=True,
                   n_bootstrap=12)
    assert abs(pl.sigma - 0.5) < 3.5 * pl.sigma_err and pl.sigma_err < 0.05, pl
    assert abs(pl.A - 0.5) < 3.5 * pl.A_err, (pl.A, pl.A_err)
    assert pl.neg_log_pl >= free.neg_log_pl - 1e-4  # fewer parameters fit no better


def test_fit_recovers_a_planted_open_chain():
    q, N, R = 2, 48, 6
    J_true = 0.6 * np.arange(1, R + 1) ** -1.5
    h_true = np.array([0.0, 0.3])
    seqs = open_sequences(jax.random.key(7), J_true, h_true, n=4096, N=N, sweeps=40)

    free = fit_long_range(jax.random.key(0), seqs, q=q, R=8, n_bootstrap=12)
    z = zscores(free, J_true)
    assert np.all(np.abs(z) < 4.5) and np.mean(np.abs(z) < 2.5) >= 0.75, np.round(z, 2)
    assert abs(free.h[1] - 0.3) < 4 * free.h_err[1]

    pl = fit_long_range(jax.random.key(1), seqs, q=q, R=R, form="power_law", n_bootstrap=12)
    assert abs(pl.sigma - 0.5) < 3.5 * pl.sigma_err and pl.sigma_err < 0.08, pl
    assert abs(pl.A - 0.6) < 3.5 * pl.A_err, (pl.A, pl.A_err)

    # control: the same open data read as rings (spurious wrap-around neighbours) fit worse
    wrong = fit_long_range(jax.random.key(1), seqs, q=q, R=R, form="power_law", periodic=True,
                      n_bootstrap=0)
    print("open vs periodic reading: -ln PL per site", pl.neg_log_pl, wrong.neg_log_pl)
    assert wrong.neg_log_pl > pl.neg_log_pl + 1e-3


def _weakly_coupled(seed, n=64, N=160, spread=0.03):
    """Sequences of coins whose bias differs from sequence to sequence by ``spread``: a weak,
    uniform (mean-field-like) coupling, along which ``σ`` is nearly flat."""
    rng = np.random.default_rng(seed)
    p = np.clip(0.5 + spread * rng.standard_normal((n, 1)), 0, 1)
    return (rng.random((n, N)) < p).astype(np.int32)


def test_power_law_fit_reaches_the_optimum_where_sigma_is_weakly_determined():
    from phasejax.fit.long_range import _Objective

    for seed in (0, 4):
        s = _weakly_coupled(seed, spread=0.1 if seed == 0 else 0.03)
        fit = fit_long_range(jax.random.key(0), s, q=2, R=159, form="power_law",
                             start_field=True, n_bootstrap=0)
        obj = _Objective(s, 2, 159, False, 1 << 22, True)
        theta = np.array([fit.A, fit.sigma, fit.h[1], fit.start[1]])
        grad = obj(theta, np.ones(len(s)), form="power_law", l2=0.0)[1]
        # L-BFGS-B alone stopped on its line search with gradients of 1e-3 (σ 0.18 off)
        assert np.abs(grad).max() < 1e-5, (seed, theta, grad)


@pytest.mark.slow
def test_bootstrap_errors_of_a_weakly_determined_sigma_match_its_sampling_spread():
    # σ over independent data sets of the same source: the error the bootstrap should report
    fits = [fit_long_range(jax.random.key(0), _weakly_coupled(1000 + i), q=2, R=159,
                           form="power_law", start_field=True, n_bootstrap=0).sigma
            for i in range(40)]
    # heavy-tailed (σ from −3 to 19 where A → 0): its robust width, 1.4826 × the median
    # absolute deviation
    truth = 1.4826 * np.median(np.abs(fits - np.median(fits)))
    errs = np.array([fit_long_range(jax.random.key(i), _weakly_coupled(i), q=2, R=159,
                                    form="power_law", start_field=True, n_bootstrap=8).sigma_err
                     for i in (4, 5, 15, 17, 19, 1, 2, 3)])
    print("sampling spread of σ", truth, "bootstrap errors", np.round(errs, 3))
    # refits started at the optimum did not move on the first five (spreads 1e-10 … 6e-4)
    assert errs.min() > 0.25 * truth, (truth, errs)
    assert 0.5 < np.median(errs) / truth < 2.0, (truth, errs)


def test_a_nearest_neighbour_chain_fits_sigma_bounded_from_below_only():
    from phasejax.fit.long_range import SIGMA_NEAREST

    rng = np.random.default_rng(3)
    n, N, J = 256, 64, 1.0
    s = np.zeros((n, N), np.int32)
    s[:, 0] = rng.integers(0, 2, n)
    for i in range(1, N):                      # P(same as the left neighbour) = e^J/(e^J + 1)
        s[:, i] = np.where(rng.random(n) < np.exp(J) / (np.exp(J) + 1), s[:, i - 1],
                           1 - s[:, i - 1])
    fit = fit_long_range(jax.random.key(0), s, q=2, R=N - 1, form="power_law",
                         start_field=True, n_bootstrap=4)
    assert abs(fit.A - J) < 4 * fit.A_err, fit
    # the couplings past r = 1 vanish: σ runs off to where J_2/J_1 is below the objective's
    # resolution, and any finite spread of the refits there (3.4 on these data) means nothing
    assert fit.sigma > SIGMA_NEAREST and fit.sigma_err == np.inf, (fit.sigma, fit.sigma_err)


def test_fit_accepts_padding_and_refuses_bad_input():
    q, N, R = 2, 40, 4
    J_true = 0.5 * np.arange(1, R + 1) ** -1.5
    seqs = open_sequences(jax.random.key(3), J_true, np.zeros(q), n=512, N=N, sweeps=50)
    # padding a sequence with absent sites changes nothing: they are not sites and not neighbours
    padded = np.concatenate([seqs, np.full((seqs.shape[0], 7), -1)], axis=1)
    a = fit_long_range(jax.random.key(0), seqs, q=q, R=R, n_bootstrap=0)
    b = fit_long_range(jax.random.key(0), padded, q=q, R=R, n_bootstrap=0)
    # the FFT lengths differ (other rounding): on a CPU the optimum moves by ~1e-6
    np.testing.assert_allclose(a.J_r, b.J_r, atol=2e-5)
    assert a.n_sites == b.n_sites == seqs.size and np.all(np.isnan(a.J_r_err))
    with pytest.raises(ValueError, match="2R < N"):
        fit_long_range(jax.random.key(0), seqs, q=q, R=20, periodic=True)
    with pytest.raises(ValueError, match="tokens must lie"):
        fit_long_range(jax.random.key(0), seqs + 1, q=q, R=R)
    with pytest.raises(ValueError, match="form"):
        fit_long_range(jax.random.key(0), seqs, q=q, R=R, form="exponential")


# ---------------------------------------------------------------------- open chains
def _open_chain_exact(J_r, h, start, N, T):
    """Exact Boltzmann weights of every open-chain configuration (sites 0 … N−1)."""
    import itertools

    s = np.array(list(itertools.product([0, 1], repeat=N)))
    E = np.zeros(len(s))
    for r, J in enumerate(J_r, start=1):
        E -= J * (s[:, r:] == s[:, :-r]).sum(1)
    E -= np.asarray(h)[s].sum(1) + np.asarray(start)[s[:, 0]]
    w = np.exp(-(E - E.min()) / T)
    return s, w / w.sum()


@pytest.mark.parametrize("name", ["swendsen_wang", "heatbath"])
def test_open_chain_matches_exact_enumeration(name):
    """The open chain built on a padded ring (toy_models.long_range_chain.open_chain) samples
    the open chain's Boltzmann distribution: no coupling across the ends, the start's field on
    site 0, padding that never moves; a wrong temperature is told apart."""
    from scipy import stats

    from toy_models.long_range_chain import open_chain, open_sites, open_start

    N, J_r, h, start, T = 5, [1.0, 0.4, 0.2, 0.1], [0.0, 0.3], [0.0, 1.0], 1.0
    model = open_chain(N, 2, J_r, h, start)
    tr = simulate(jax.random.key(3), model, samplers.make(name), [T], n_replicas=256,
                  n_therm=40, n_measure=60, thin=3, site_histograms=False, record_states=True,
                  start=open_start(N, 2))
    states = tr.states[0].reshape(-1, 2 * N - 1)
    assert np.all(states[:, N:] == 2) and np.all(states[:, :N] < 2)
    y = open_sites(states, N)
    idx = (y * 2 ** np.arange(N)[::-1]).sum(1)
    counts = np.bincount(idx, minlength=2**N)
    for t, ok in ((T, True), (1.3 * T, False)):
        _, p = _open_chain_exact(J_r, h, start, N, t)
        pval = stats.chisquare(counts, p * counts.sum()).pvalue
        assert (pval > P_MIN) == ok, (t, pval)


def test_kac_normalisation_and_where_a_transition_is_possible():
    from toy_models.long_range_chain import kac_norm, mean_field_tc, transition_possible

    J = power_law_couplings(101, J=1.5, sigma=-0.3, kac=True)
    assert 2 * J.sum() == pytest.approx(1.5)                 # every site feels the total J
    assert kac_norm(101, -0.3) == pytest.approx(2 * np.sum(np.arange(1, 51) ** -0.7))
    with pytest.raises(ValueError, match="kac"):
        power_law_couplings(101, sigma=-0.3)
    with pytest.raises(ValueError, match="kac=True"):
        power_law_couplings(101, sigma=0.5, kac=True, images=True)
    assert transition_possible(1.0, 0.5) == ""
    assert "σ = 1.5 > 1" in transition_possible(1.0, 1.5)
    assert "antiferromagnetic" in transition_possible(-0.5, 0.5)
    assert "Kac" in transition_possible(1.0, -0.2)
    assert transition_possible(1.0, -0.2, kac=True) == ""
    assert mean_field_tc(4.0, 2) == 2.0
    q = 3                                                   # β_c J = 2(q−1)ln(q−1)/(q−2)
    assert 4.0 / mean_field_tc(4.0, q) == pytest.approx(2 * (q - 1) * np.log(q - 1) / (q - 2))


# ---------------------------------------------------------------------- the transition

def binder_with_error(L, T, *, n_replicas, n_measure, seed):
    """``U₄`` at each ``T`` from the pooled replicas, and its jackknife error over replicas
    (σ = 0.5 with images, Swendsen–Wang)."""
    model = toy_models.make("long_range_chain", L=L, q=2, sigma=0.5, images=True)
    tr = simulate(jax.random.key(seed), model, samplers.make("swendsen_wang"), T,
                  n_replicas=n_replicas, n_therm=100, n_measure=n_measure,
                  site_histograms=False)
    m = order_parameter(tr.counts, L)                                       # (n_T, R, S)
    m2, m4 = (m**2).mean(-1), (m**4).mean(-1)                               # per replica

    def binder(keep):
        return 1.0 - m4[:, keep].mean(1) / (3.0 * m2[:, keep].mean(1) ** 2)

    full = binder(np.arange(n_replicas))
    jk = np.array([binder(np.delete(np.arange(n_replicas), k)) for k in range(n_replicas)])
    return full, np.sqrt((n_replicas - 1) / n_replicas * ((jk - jk.mean(0)) ** 2).sum(0))


# slow (about 30 s in the default run): the package's own Swendsen–Wang against the table it
# wrote; the independent Wolff bracket below checks the same stored T_c in the default run
@pytest.mark.slow
def test_binder_cumulants_order_on_both_sides_of_the_reference_transition():
    # below T_c the larger chain is more ordered (U₄ nearer 2/3), above it less (U₄ nearer 0)
    T = np.array([0.85, 1.15]) * T_C_SIGMA_HALF
    small, e_small = binder_with_error(33, T, n_replicas=8, n_measure=500, seed=1)
    large, e_large = binder_with_error(129, T, n_replicas=8, n_measure=500, seed=2)
    diff, err = large - small, np.hypot(e_small, e_large)
    assert diff[0] > 4 * err[0] and diff[1] < -4 * err[1], (diff, err)


def _wolff_reference():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "long_range_reference.py"
    spec = importlib.util.spec_from_file_location("long_range_reference", path)
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    return ref


@pytest.mark.parametrize("q, sigma, clusters",
                         [(2, 0.5, 8000), pytest.param(6, 0.8, 24000, marks=pytest.mark.slow)])
def test_the_stored_critical_point_is_bracketed_by_an_independent_sampler(q, sigma, clusters):
    """The table's T_c(σ) (Swendsen–Wang through the package's driver) against a plain numpy
    Wolff sampler that shares no code with it (benchmarks/long_range_reference.py): 10 % below
    the stored T_c the larger ring is more ordered, 10 % above it less. The six-state entry,
    whose small ring's cumulant is near its ordered limit 10 % below, needs three times the
    clusters (about a minute: slow)."""
    from phasejax.lattice.critical import critical_amplitude

    ref = _wolff_reference()
    K_c, K_err, why = critical_amplitude(q, sigma)
    assert why == "" and K_err < 0.02 * K_c
    rng = np.random.default_rng(11)
    U = {L: [ref.wolff_binder(rng, ref.image_couplings(L, sigma), f / K_c, clusters, q=q)
             for f in (0.9, 1.1)] for L in (33, 129)}
    (below_s, e1, _), (above_s, e2, _) = U[33]
    (below_l, e3, _), (above_l, e4, _) = U[129]
    assert below_l - below_s > 4 * np.hypot(e1, e3), U
    assert above_l - above_s < -4 * np.hypot(e2, e4), U


@pytest.mark.slow
def test_a_stored_first_order_point_is_bracketed_by_an_independent_sampler():
    """q = 6, σ = ½ is first order; the table's entry is an equal-weight point (Swendsen–Wang
    through the package's driver, rings up to 257). The independent numpy Wolff sampler on 129
    sites, from an ordered and a random start, spends more than q/(q + 1) of its samples
    ordered 1.5 % below the stored T_c and less 1.5 % above it (about 30 s)."""
    from phasejax.lattice.critical import table

    ref = _wolff_reference()
    (row,) = [r for r in table() if r[:2] == (6, 0.5)]
    T_c = row[2]
    assert np.isfinite(T_c) and row[3] < 0.01 * T_c
    rng = np.random.default_rng(1)
    J = ref.image_couplings(129, 0.5)
    (below, e1), (above, e2) = (ref.wolff_ordered_weight(rng, J, f * T_c, 20000, q=6)
                                for f in (0.985, 1.015))
    assert below - 6 / 7 > 3 * e1 and 6 / 7 - above > 3 * e2, (below, e1, above, e2)


@pytest.mark.slow
def test_reference_crossing():
    """A smaller rerun of the reference FSS: the 257/1025 Binder crossing (reweighted,
    jackknife over replicas) lies at the reference T_c within the drift seen between sizes."""
    from phasejax.analysis import fss

    T = np.linspace(2.11, 2.23, 6)
    sizes = {}
    for L in (257, 1025):
        model = toy_models.make("long_range_chain", L=L, q=2, sigma=0.5, images=True)
        tr = simulate(jax.random.key(L), model, samplers.make("swendsen_wang"), T,
                      n_replicas=8, n_therm=300, n_measure=4000, site_histograms=False)
        sizes[L] = (np.round(tr.energy, 1), order_parameter(tr.counts, L))

    def crossing(keep):
        a, b = (fss.SizeData(L, L, T, E[:, keep], m[:, keep]) for L, (E, m) in sizes.items())
        return fss.binder_crossing(a, b)[0]

    t = crossing(np.arange(8))
    jk = np.array([crossing(np.delete(np.arange(8), k)) for k in range(8)])
    err = np.sqrt(7 / 8 * ((jk - jk.mean()) ** 2).sum())
    print(f"257/1025 Binder crossing: T = {t:.4f} +- {err:.4f} (reference {T_C_SIGMA_HALF})")
    assert abs(t - T_C_SIGMA_HALF) < 0.015 + 3 * err, (t, err)


def test_the_critical_coupling_between_table_entries_is_interpolated_within_its_error():
    """Leave-out check on the stored q = 2 table: each interior entry, predicted from the
    others with one or two neighbours removed (gaps of 0.2–0.3 in σ), lies within 3 combined
    errors of its stored value. Over the wide gap 0.4 → 0.8 the ratio to mean field still
    predicts T_c(0.6); a straight line in T_c misses it by more than 10 %."""
    from phasejax.lattice.critical import critical_amplitude, table

    two = [r for r in table() if r[0] == 2]
    assert len(two) >= 8
    for i in range(1, len(two) - 1):
        _, s, t, e = two[i]
        for drop in ({i}, {i - 1, i}, {i, i + 1}):
            if max(drop) >= len(two) - 1 or min(drop) < 1:
                continue
            K, K_err, why = critical_amplitude(2, s, [r for k, r in enumerate(two)
                                                      if k not in drop])
            assert why == ""
            T, T_err = 1 / K, K_err / K**2
            assert abs(T - t) < 3 * np.hypot(T_err, e), (s, drop, T, T_err, t, e)
    ends = [r for r in two if r[1] in (0.4, 0.8)]
    t6 = next(r[2] for r in two if r[1] == 0.6)
    K, _, _ = critical_amplitude(2, 0.6, ends)
    assert abs(1 / K - t6) < 0.02 * t6
    assert abs(np.mean([ends[0][2], ends[1][2]]) - t6) > 0.1 * t6


def test_below_the_first_entry_the_critical_coupling_runs_to_its_mean_field_limit():
    """σ → 0⁺ is the Kac limit, where T_c/T_MF → 1. Without the stored σ = 0.1 entry, that limit
    and the entries from σ = 0.2 predict it within 2 combined errors; K_c ζ(1+σ) → 1 for
    q = 2 (K_c → 0); and an entry without a T_c between 0 and the first named one bars the
    bracket as anywhere else."""
    from scipy.special import zeta

    from phasejax.lattice.critical import critical_amplitude, table

    two = [r for r in table() if r[0] == 2]
    (_, s0, t0, e0), rest = two[0], two[1:]
    assert s0 == 0.1 and rest[0][1] == 0.2
    K, K_err, why = critical_amplitude(2, s0, rest)
    assert why == ""
    assert abs(1 / K - t0) < 2 * np.hypot(K_err / K**2, e0), (1 / K, K_err / K**2, t0, e0)
    ratios = [critical_amplitude(2, x)[0] * float(zeta(1 + x)) for x in (0.1, 0.05, 0.01, 1e-3)]
    assert all(b <= a for a, b in zip(ratios, ratios[1:]))     # T_c/T_MF rises towards 1
    assert abs(ratios[-1] - 1) < 2e-3 and ratios[0] < 1.02, ratios
    nan = float("nan")
    rows = [(6, 0.2, nan, nan), (6, 0.4, 1.40, 0.02), (6, 0.7, 0.90, 0.01)]
    K, _, why = critical_amplitude(6, 0.1, rows)
    assert np.isnan(K) and "mean-field limit σ → 0⁺ and σ = 0.4, across σ = 0.2" in why, why
    K, _, why = critical_amplitude(6, 0.1, rows[1:])
    assert why == "" and 0.9 < 1 / K / (2 * float(zeta(1.1)) * 4 / (10 * np.log(5))) < 1


@pytest.mark.slow
def test_the_first_order_locator_refuses_a_continuous_transition():
    """The two-state chain at σ = ½ orders continuously: its energy distribution never has two
    peaks, so the equal-weight locator names no T_c (1.5 min)."""
    from phasejax.lattice.critical import equal_weight_temperature

    c = equal_weight_temperature(jax.random.key(0), q=2, sigma=0.5, guess_size=33,
                                 fine_sizes=(33, 65), n_replicas=8, n_therm=100, n_measure=400,
                                 n_boot=5)
    assert np.isnan(c.T_c) and "one peak at every T" in c.reason, c.reason


@pytest.mark.slow
def test_a_stored_first_order_entry_is_reproduced_with_other_seeds():
    """q = 6, σ = ½ (first order): the equal-weight locator with another seed lands within
    the two entries' combined errors of the stored T_c (4 min)."""
    from phasejax.lattice.critical import equal_weight_temperature, table

    (row,) = [r for r in table() if r[:2] == (6, 0.5)]
    c = equal_weight_temperature(jax.random.key(123), q=6, sigma=0.5)
    assert c.reason == "", c.reason
    assert abs(c.T_c - row[2]) < 2 * np.hypot(c.T_c_err, row[3]), (c.T_c, c.T_c_err, row)


def test_no_critical_coupling_is_interpolated_across_an_entry_where_none_was_named():
    from phasejax.lattice.critical import critical_amplitude

    nan = float("nan")
    rows = [(6, 0.4, 1.40, 0.02), (6, 0.5, nan, nan), (6, 0.7, 0.90, 0.01), (6, 0.8, 0.79, 0.01)]
    K, _, why = critical_amplitude(6, 0.6, rows)
    assert np.isnan(K) and "across σ = 0.5 where none was named" in why
    for s, T in ((0.4, 1.40), (0.7, 0.90)):                     # the entries themselves stand
        K, _, why = critical_amplitude(6, s, rows)
        assert why == "" and abs(1 / K - T) < 1e-12
    K, _, why = critical_amplitude(6, 0.75, rows)                # no gap in this bracket
    assert why == "" and 0.79 < 1 / K < 0.90
