"""Energy models: the protocol's local quantities agree with brute-force energy differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import toy_models
from phasejax.lattice.model import NotPottsLike

def sym(q, n=None, scale=0.5, seed=0):
    """A random symmetric coupling matrix (``(q, q)`` or ``(n, q, q)``), fixed by ``seed``."""
    A = np.random.default_rng(seed).normal(size=(q, q) if n is None else (n, q, q))
    return scale * (A + np.swapaxes(A, -1, -2)) / 2


# every random draw is seeded where it is made: a test gives the same numbers alone (-k) as
# in the whole file
MODELS = {
    "ising_2d_field": lambda: toy_models.make("ising", L=4, J=0.7, h=0.3),
    "ising_3d": lambda: toy_models.make("ising", L=4, dim=3, J=1.0),
    "ising_chain_r2": lambda: toy_models.make("ising", L=9, geometry="chain", R=2, J=[1.0, -0.4]),
    "potts_2d_field": lambda: toy_models.make("potts", L=5, q=4, h=[0.2, -0.1, 0.0, 0.3]),
    "token_chain_r2_site_field": lambda: toy_models.make(
        "token_lattice", L=8, q=3, R=2, W=sym(3, 2, seed=1), h=[0.1, 0, -0.2],
        h_site=np.random.default_rng(2).normal(size=(8, 3))),
    "token_2d": lambda: toy_models.make("token_lattice", L=3, q=3, dim=2, geometry="hypercubic",
                                        W=sym(3, seed=3)),
    "curie_weiss": lambda: toy_models.make("mean_field", L=7, h=0.2),
    "mean_field_potts": lambda: toy_models.make("mean_field", L=6, q=3, J=1.5),
}


@pytest.mark.parametrize("name", ["token_chain_r2_site_field", "token_2d"])
def test_random_models_do_not_depend_on_the_tests_before_them(name):
    first, again = jax.tree.leaves(MODELS[name]()), jax.tree.leaves(MODELS[name]())
    assert all(np.array_equal(a, b) for a, b in zip(first, again))


@pytest.mark.parametrize("name", MODELS)
def test_delta_and_local_energies_match_energy_differences(name):
    model = MODELS[name]()
    rng = np.random.default_rng(0)
    E = jax.jit(model.energy)
    for trial in range(3):
        s = model.random_tokens(jax.random.key(trial))
        t = jnp.asarray(rng.integers(0, model.q, size=model.shape), jnp.int8)
        dE = np.asarray(model.delta_energy(s, t))
        loc = np.asarray(model.local_energies(s))
        assert dE.shape == model.shape and loc.shape == (*model.shape, model.q)
        flat_s = np.asarray(s).reshape(-1)
        for i in rng.choice(model.n_sites, size=min(6, model.n_sites), replace=False):
            idx = np.unravel_index(i, model.shape)
            s2 = np.asarray(s).copy()
            s2[idx] = np.asarray(t)[idx]
            want = float(E(jnp.asarray(s2)) - E(s))
            assert dE[idx] == pytest.approx(want, abs=1e-4)
            assert loc[idx][np.asarray(t)[idx]] - loc[idx][flat_s[i]] == pytest.approx(want, abs=1e-4)


def test_ising_energy_is_the_textbook_formula():
    J, h, L = 0.8, -0.3, 6
    model = toy_models.make("ising", L=L, J=J, h=h)
    s = np.asarray(model.random_tokens(jax.random.key(2)))
    sig = 2.0 * s - 1
    want = -J * (sig * np.roll(sig, 1, 0) + sig * np.roll(sig, 1, 1)).sum() - h * sig.sum()
    assert float(model.energy(jnp.asarray(s))) == pytest.approx(want, rel=1e-6)


def test_curie_weiss_energy_formula():
    N, J, h = 9, 1.3, 0.2
    model = toy_models.make("mean_field", L=N, J=J, h=h)
    s = np.asarray(model.random_tokens(jax.random.key(4)))
    M = (2.0 * s - 1).sum()
    want = -(J / (2 * N)) * (M**2 - N) - h * M
    assert float(model.energy(jnp.asarray(s))) == pytest.approx(want, rel=1e-5)


def test_bond_couplings():
    assert np.allclose(toy_models.make("ising", L=4, J=0.7).bond_couplings(), [1.4])
    assert np.allclose(toy_models.make("potts", L=4, q=3, J=0.9).bond_couplings(), [0.9])
    assert np.allclose(toy_models.make("mean_field", L=8, J=1.0).bond_couplings(), [2.0 / 8])
    with pytest.raises(NotPottsLike):
        toy_models.make("token_lattice", L=6, q=3, W=sym(3)).bond_couplings()
    with pytest.raises(NotPottsLike, match="K >= 0"):
        toy_models.make("ising", L=4, J=-1.0).bond_couplings()


@pytest.mark.parametrize("kwargs,match", [
    (dict(name="potts", L=4, q=1), "q=1"),
    (dict(name="potts", L=1, q=3), "L=1"),
    (dict(name="potts", L=4, q=3, h=[0.1, 0.2]), r"length \(2,\)"),
    (dict(name="token_lattice", L=6, q=2, W=[[0.0, 1.0], [0.5, 0.0]]), "symmetric"),
    (dict(name="token_lattice", L=6, q=3, W=np.eye(2)), r"shape \(2, 2\)"),
    (dict(name="token_lattice", L=6, q=2, W=np.eye(2), h_site=np.zeros((5, 2))), r"per-site field"),
    (dict(name="ising", L=4, dim=5), "dim=5"),
    (dict(name="ising", L=4, geometry="torus"), "torus"),
    (dict(name="spin_glass", L=4), "unknown model 'spin_glass'"),
])
def test_bad_model_input_raises_one_clear_error(kwargs, match):
    name = kwargs.pop("name")
    with pytest.raises(ValueError, match=match):
        toy_models.make(name, **kwargs)


def test_registry_discovers_every_model_file():
    assert {"ising", "potts", "token_lattice", "mean_field"} <= set(toy_models.available())
