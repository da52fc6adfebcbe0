"""Every kernel variant of Metropolis and heat-bath (multispin, Pallas, each random-word source)
against exact enumeration, and the multispin kernel's pieces against plain integer arithmetic."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import toy_models
from helpers import chi_square_pvalue, sample_states
from phasejax.lattice import bitlattice
from phasejax.lattice import random as lrandom
from phasejax.lattice import samplers
from phasejax.lattice.exact import onsager_energy, yang_magnetisation
from phasejax.lattice.geometry import hypercubic
from phasejax.lattice.model import NotIsingLike
from phasejax.lattice.samplers import multispin
from phasejax.lattice.samplers.local import choose_kernel
from test_samplers_exact import general_chain_range2, potts_3x3_field

P_MIN = 1e-3


def ising_4x4_field():
    return toy_models.make("ising", L=4, dim=2, J=1.0, h=0.15)


def ising_2x2x2_field():
    return toy_models.make("ising", L=2, dim=3, J=1.0, h=-0.2)


def two_token_4x4():
    # a general two-token lattice (bias and an asymmetric W), Ising-like by flip_energies
    return toy_models.make("token_lattice", L=4, q=2, dim=2, geometry="hypercubic",
                           W=[[0.8, -0.3], [-0.3, 0.5]], h=[0.1, 0.0])


def assert_matches_enumeration(model, sampler, T, n_chains=1024):
    """χ² of visited states at ``T`` passes, and the same samples fail at ``1.2 T`` (the weak
    couplings of the range-2 chain need more than 5 % to be told apart)."""
    toks = sample_states(model, sampler, T, n_chains=n_chains, n_samples=64, thin=4, n_therm=50)
    p, n_bins = chi_square_pvalue(model, toks, T)
    assert n_bins > 20
    assert p > P_MIN, f"chi-square p = {p:.2e}"
    assert chi_square_pvalue(model, toks, 1.2 * T)[0] < 1e-8    # the test can fail


# ----------------------------------------------------------------------------- enumeration
FAST = [   # (model, T, sampler, settings, chains); the wrong-temperature control fails by
           # tens of orders of magnitude at these sample sizes
    (ising_4x4_field, 2.5, "metropolis", {"kernel": "multispin"}, 512),
    (ising_2x2x2_field, 4.0, "heatbath", {"kernel": "multispin", "rng": "bulk"}, 512),
    (two_token_4x4, 1.5, "metropolis", {"kernel": "multispin", "rng": "philox"}, 512),
    (potts_3x3_field, 1.3, "metropolis", {"kernel": "pallas"}, 256),   # interpret mode: slow
]
SLOW = [
    (potts_3x3_field, 1.3, "heatbath", {"kernel": "xla", "rng": "bulk"}),
    (ising_4x4_field, 2.5, "heatbath", {"kernel": "multispin"}),
    (ising_2x2x2_field, 4.0, "metropolis", {"kernel": "multispin"}),
    (ising_4x4_field, 2.5, "metropolis", {"kernel": "multispin", "rng": "bulk"}),
    (ising_4x4_field, 2.5, "metropolis", {"kernel": "multispin", "rng": "philox"}),
    (potts_3x3_field, 1.3, "heatbath", {"kernel": "pallas"}),
    (general_chain_range2, 1.0, "metropolis", {"kernel": "pallas"}),
    (general_chain_range2, 1.0, "heatbath", {"kernel": "pallas"}),
    (ising_4x4_field, 2.5, "metropolis", {"kernel": "pallas"}),
    (potts_3x3_field, 1.3, "metropolis", {"kernel": "xla", "rng": "philox"}),
    (general_chain_range2, 1.0, "heatbath", {"kernel": "xla", "rng": "philox"}),
    (general_chain_range2, 1.0, "metropolis", {"kernel": "xla", "rng": "bulk"}),
]


def _ids(cases):
    return [f"{c[0].__name__}-{c[2]}-{'-'.join(c[3].values())}" for c in cases]


@pytest.mark.parametrize("factory,T,name,kw,chains", FAST, ids=_ids(FAST))
def test_kernel_matches_enumeration(factory, T, name, kw, chains):
    assert_matches_enumeration(factory(), samplers.make(name, **kw), T, n_chains=chains)


@pytest.mark.slow
@pytest.mark.parametrize("factory,T,name,kw", SLOW, ids=_ids(SLOW))
def test_every_kernel_variant_matches_enumeration(factory, T, name, kw):
    assert_matches_enumeration(factory(), samplers.make(name, **kw), T)


# ----------------------------------------------------------------------------- physics
def test_multispin_matches_onsager_and_yang_on_full_words():
    """L = 64 uses the production layout (32 sites per word); T = 1.5 is deep in the ordered
    phase, where finite-size corrections at L = 64 are far below the error bars."""
    from phasejax.analysis import observables
    from phasejax.lattice.driver import simulate

    model = toy_models.make("ising", L=64)
    assert multispin.layout(model.lattice).bits == 32
    trace = simulate(jax.random.key(3), model, samplers.make("metropolis"), [1.5],
                     n_replicas=4, n_therm=100, n_measure=400, start="ordered",
                     site_histograms=False)
    rows = {r["observable"]: r for r in observables.summarise(trace)}
    for obs, exact in (("energy", onsager_energy(1.5)),
                       ("abs_magnetisation", yang_magnetisation(1.5))):
        r = rows[obs]
        assert abs(r["mean"] - exact) < 4 * r["stderr"] + 1e-5, (obs, r["mean"], exact)
        assert r["stderr"] < 5e-4                                # resolving power
    assert abs(onsager_energy(1.5) + 1.95112) < 1e-5 and abs(yang_magnetisation(1.5) - 0.98650) < 1e-5


# ----------------------------------------------------------------------------- multispin pieces
LAYOUTS = [(4, 2), (6, 2), (128, 2), (6, 3), (64, 3)]     # 2, 3 and 32 sites per word


@pytest.mark.parametrize("L,dim", LAYOUTS, ids=[f"{d}D-L{L}" for L, d in LAYOUTS])
def test_packed_neighbour_counts_equal_rolled_counts(L, dim):
    """Pack/unpack round-trips, and per site the bitwise count of unlike neighbours (strip
    wrap by rotation, row-parity shifts) equals the count from rolled token arrays."""
    lat = hypercubic(L, dim)
    lay = multispin.layout(lat)
    tok = np.random.default_rng(L + dim).integers(0, 2, lat.shape).astype(np.int8)
    planes = multispin.pack(lay, jnp.asarray(tok))
    assert np.array_equal(np.asarray(multispin.unpack(lay, *planes)), tok)
    expected = sum((np.roll(tok, sh, ax) != tok).astype(int)
                   for ax in range(dim) for sh in (1, -1))
    pi = jnp.asarray(multispin._odd(lay))
    full = jnp.uint32((1 << lay.bits) - 1)
    for c, (p, q, odd) in enumerate([(planes[0], planes[1], pi), (planes[1], planes[0], ~pi)]):
        digits = multispin.bit_count([p ^ n for n in multispin.neighbour_words(lay, q, odd)])
        count = np.zeros(lat.shape, int)
        for j, d in enumerate(digits):
            d = d & full
            plane_pair = (d, jnp.zeros_like(d)) if c == 0 else (jnp.zeros_like(d), d)
            count += np.asarray(multispin.unpack(lay, *plane_pair)).astype(int) << j
        colour = np.indices(lat.shape).sum(0) % 2 == c
        assert np.array_equal(count[colour], expected[colour])


def test_bit_sliced_acceptance_is_the_integer_comparison():
    """Lane by lane, the bit-sliced decision equals ``m < ⌈p 2^24⌉`` for the lane's own
    24-bit uniform ``m`` and its class's ``p`` (including p = 0, tiny, 1/2 and 1)."""
    rng = np.random.default_rng(0)
    dE = jnp.asarray([[-1.0, 0.0, 2.0, 40.0, 1e-6], [0.69314718, 3.0, 8.0, 200.0, 0.5]],
                     jnp.float32)
    beta = jnp.float32(1.0)
    bits, always = multispin.thresholds(dE, beta, "metropolis")
    p = np.minimum(np.exp(-np.asarray(dE, np.float64).reshape(-1)), 1.0).astype(np.float32)
    T = np.ceil(p * np.float32(2**24)).astype(np.int64)
    n_words = 4096
    words = rng.integers(0, 2**32, (24, n_words), dtype=np.uint64).astype(np.uint32)
    lane_class = rng.integers(0, T.size, (n_words, 32))
    classes = [jnp.asarray((((lane_class == c) << np.arange(32)).sum(1)).astype(np.uint32))
               for c in range(T.size)]
    flip = np.asarray(bitlattice.below_threshold(classes, bits, always, jnp.asarray(words)))
    got = (flip[:, None] >> np.arange(32, dtype=np.uint32)) & 1
    m = sum(((words[23 - k][:, None] >> np.arange(32, dtype=np.uint32)) & 1).astype(np.int64) << k
            for k in range(24))                     # bit 23 - l of m is level l's bit
    assert np.array_equal(got.astype(bool), m < T[lane_class])
    assert T[0] == 2**24 and T[8] == 0 and T[5] == 2**23       # always, never, one half


@pytest.mark.parametrize("factory", [ising_4x4_field, two_token_4x4, ising_2x2x2_field])
def test_flip_energies_agree_with_delta_energy(factory):
    model = factory()
    dE = np.asarray(model.flip_energies())
    lat = model.lattice
    for seed in range(3):
        s = jnp.asarray(np.random.default_rng(seed).integers(0, 2, lat.shape).astype(np.int8))
        k = sum((jnp.roll(s, sh, ax) != s).astype(jnp.int32)
                for ax in range(lat.dim) for sh in (1, -1))
        want = np.asarray(model.delta_energy(s, 1 - s))
        np.testing.assert_allclose(dE[np.asarray(s), np.asarray(k)], want, rtol=1e-6, atol=1e-6)


def test_frozen_sites_keep_their_tokens_in_the_multispin_kernel():
    model = toy_models.make("ising", L=64)
    frozen = jnp.asarray(np.random.default_rng(1).random(model.shape) < 0.3)
    tok = jnp.asarray(np.random.default_rng(2).integers(0, 2, model.shape).astype(np.int8))
    sampler = samplers.make("metropolis", kernel="multispin")
    new, info = jax.jit(sampler.step)(jax.random.key(0), samplers.LatticeState(tok), model,
                                      jnp.float32(2.0), frozen)
    new = np.asarray(new.tokens)
    assert np.array_equal(new[np.asarray(frozen)], np.asarray(tok)[np.asarray(frozen)])
    changed = new != np.asarray(tok)
    assert changed.sum() > 1000 and float(info.acceptance) == pytest.approx(changed.mean())


# ----------------------------------------------------------------------------- selection
def test_auto_picks_multispin_only_where_it_applies():
    ising = toy_models.make("ising", L=8)
    assert choose_kernel("auto", ising) == "multispin"
    assert choose_kernel("auto", ising, every_site=False) == "xla"
    assert choose_kernel("auto", toy_models.make("ising", L=8, dim=3)) == "multispin"
    for other in (toy_models.make("ising", L=7), toy_models.make("ising", L=8, geometry="chain"),
                  toy_models.make("potts", L=8, q=3), potts_3x3_field()):
        assert choose_kernel("auto", other) == "xla"
    assert choose_kernel("xla", ising) == "xla"                       # the way to turn it off
    with pytest.raises(ValueError, match="multispin"):
        choose_kernel("multispin", toy_models.make("potts", L=8, q=3))
    with pytest.raises(NotIsingLike):
        general_chain_range2().flip_energies()
    with pytest.raises(ValueError, match="kernel="):
        samplers.make("metropolis", kernel="bitwise")
    with pytest.raises(ValueError, match="rng="):
        samplers.make("heatbath", rng="mersenne")


def test_auto_source_is_chosen_per_backend(monkeypatch):
    assert lrandom.resolve_source("auto") == lrandom.BACKEND_SOURCES[lrandom.platform()]
    monkeypatch.setattr(lrandom, "platform", lambda: "gpu")
    assert lrandom.resolve_source("auto") == "bulk"
    assert lrandom.resolve_source("philox") == "philox"


VARIANTS = [("metropolis", {"kernel": "multispin", "rng": "fused"}),
            ("heatbath", {"kernel": "multispin", "rng": "philox"}),
            ("metropolis", {"kernel": "xla", "rng": "bulk"}),
            ("heatbath", {"kernel": "pallas"})]


@pytest.mark.parametrize("name,kw", VARIANTS, ids=[f"{n}-{'-'.join(k.values())}" for n, k in VARIANTS])
def test_same_key_same_numbers(name, kw):
    model = toy_models.make("ising", L=8, h=0.1)
    sampler = samplers.make(name, **kw)
    state = sampler.init(jax.random.key(0), model)
    step = jax.jit(sampler.step)
    a = np.asarray(step(jax.random.key(1), state, model, jnp.float32(2.0))[0].tokens)
    b = np.asarray(step(jax.random.key(1), state, model, jnp.float32(2.0))[0].tokens)
    c = np.asarray(step(jax.random.key(2), state, model, jnp.float32(2.0))[0].tokens)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_pallas_kernel_lowers_to_triton_for_cuda():
    """Lowering only (no GPU here): the sweep becomes one Triton kernel per colour."""
    from phasejax.lattice.samplers import pallas_kernel

    model = toy_models.make("token_lattice", L=16, q=3, dim=2, geometry="hypercubic",
                            W=np.eye(3), h_site=np.zeros((16, 16, 3)))
    tok = jnp.zeros(model.shape, jnp.int8)
    for rule in pallas_kernel.RULES:
        fn = jax.jit(lambda k, t, m, T: pallas_kernel.step(k, t, m, T, rule=rule, interpret=False))
        text = fn.trace(jax.random.key(0), tok, model, jnp.float32(1.0)).lower(
            lowering_platforms=("cuda",)).as_text()
        assert text.count("__gpu$xla.gpu.triton") == model.lattice.n_colours


# heat bath is slow (9 s); both kernels share the several-sweeps loop
@pytest.mark.parametrize("name", ["metropolis", pytest.param("heatbath", marks=pytest.mark.slow)])
def test_several_sweeps_per_call_match_enumeration(name):
    """The multispin kernel packed once for several sweeps (what the driver runs between two
    measurements with thin > 1) samples the same distribution; a wrong temperature fails."""
    from phasejax.lattice.driver import simulate

    model, T = ising_4x4_field(), 2.5
    sampler = samplers.make(name, kernel="multispin")
    tr = simulate(jax.random.key(0), model, sampler, [T], n_replicas=256, n_therm=20,
                  n_measure=64, thin=4, site_histograms=False, record_states=True)
    toks = tr.states[0].reshape(-1, *model.shape)
    p, n_bins = chi_square_pvalue(model, toks, T)
    assert n_bins > 20 and p > P_MIN, p
    assert chi_square_pvalue(model, toks, 1.2 * T)[0] < 1e-8
    assert np.all((tr.acceptance > 0) & (tr.acceptance < 1))
