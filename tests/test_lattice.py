import numpy as np
import pytest

from phasejax.lattice.geometry import Lattice, chain, complete, hypercubic

LATTICES = [hypercubic(L, d) for L in (3, 4, 5) for d in (1, 2, 3)] + [
    chain(7, 2), chain(9, 2), chain(10, 3), chain(12, 1), complete(5)]


@pytest.mark.parametrize("lat", LATTICES, ids=str)
def test_colouring_is_proper_and_edges_counted(lat):
    src, dst, shell = lat.edges
    col = lat.colouring.reshape(-1)
    assert np.all(col[src] != col[dst])
    n = lat.n_sites
    expected = {"hypercubic": lat.dim * n, "chain": lat.R * n, "complete": n * (n - 1) // 2}
    assert src.size == expected[lat.kind]
    assert set(np.unique(shell)) == set(range(lat.n_shells))
    assert lat.colouring.shape == lat.shape


def test_even_hypercubic_uses_two_colours_and_chain_uses_r_plus_one():
    assert hypercubic(8, 3).n_colours == 2
    assert chain(9, 2).n_colours == 3
    assert complete(6).n_colours == 6


def test_coordination():
    assert hypercubic(4, 3).coordination() == (6,)
    assert chain(10, 3).coordination() == (2, 2, 2)
    assert complete(7).coordination() == (6,)


@pytest.mark.parametrize("kwargs,match", [
    (dict(kind="hypercubic", L=1, dim=2), "L=1"),
    (dict(kind="hypercubic", L=4, dim=4), "dim=4"),
    (dict(kind="torus", L=4), "torus"),
    (dict(kind="chain", L=4, R=2), "L > 2R"),
])
def test_bad_lattices_raise_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Lattice(**kwargs)
