"""Connected-component labelling is exact: compared with scipy on random and adversarial graphs."""

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from phasejax.lattice.geometry import chain, hypercubic
from phasejax.lattice.samplers import label_components


def same_partition(a, b):
    a, b = np.asarray(a), np.asarray(b)
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def scipy_labels(n, src, dst, active):
    g = coo_matrix((np.ones(active.sum()), (src[active], dst[active])), shape=(n, n))
    return connected_components(g, directed=False)[1]


@pytest.mark.parametrize("lat", [hypercubic(16, 2), hypercubic(6, 3), chain(50, 3),
                                 hypercubic(33, 2)], ids=str)
@pytest.mark.parametrize("p", [0.3, 0.5, 0.7, 1.0])
def test_random_bond_percolation(lat, p):
    src, dst, _ = lat.edges
    active = np.random.default_rng(int(p * 10)).random(src.size) < p
    got = label_components(lat.n_sites, jnp.asarray(src), jnp.asarray(dst), jnp.asarray(active))
    assert same_partition(got, scipy_labels(lat.n_sites, src, dst, active))
    # every label is the index of a node in its own component (a root)
    got = np.asarray(got)
    assert np.all(got[got] == got)


def test_long_snake_path_is_one_cluster():
    # a boustrophedon path through a 40x40 lattice: chemical distance ~ N, the worst case
    L = 40
    idx = np.arange(L * L).reshape(L, L)
    order = np.concatenate([idx[r] if r % 2 == 0 else idx[r][::-1] for r in range(L)])
    src, dst = order[:-1], order[1:]
    perm = np.random.default_rng(0).permutation(src.size)
    labels = label_components(L * L, jnp.asarray(src[perm]), jnp.asarray(dst[perm]),
                              jnp.ones(src.size, bool))
    assert np.unique(np.asarray(labels)).size == 1


@pytest.mark.parametrize("lat", [hypercubic(16, 2), hypercubic(33, 2), hypercubic(6, 3),
                                 hypercubic(50, 1), hypercubic(2, 2), hypercubic(64, 2)], ids=str)
@pytest.mark.parametrize("p", [0.55])          # near 2D bond percolation: large, ragged clusters
def test_grown_cluster_is_the_seed_component(lat, p):
    """Wolff's bit-parallel growth (cluster.grow_cluster) gives exactly the seed's connected
    component, compared with scipy on random bonds (strips of 1 to 32 sites per word)."""
    from phasejax.lattice import bitlattice
    from phasejax.lattice.samplers.cluster import grow_cluster

    rng = np.random.default_rng(int(100 * p) + lat.n_sites)
    st = bitlattice.strips(lat.shape)
    active = rng.random((lat.dim, *lat.shape)) < p            # bond (x, x + e_axis) per axis
    src, dst, _ = lat.edges                                     # the same bonds, axis by axis
    labels = scipy_labels(lat.n_sites, src, dst, active.reshape(-1))
    bonds = [bitlattice.pack(st, jnp.asarray(a)) for a in active]
    for i0 in rng.integers(0, lat.n_sites, 3):
        seed = np.zeros(lat.n_sites, bool)
        seed[i0] = True
        got = grow_cluster(st, bonds, bitlattice.pack(st, jnp.asarray(seed.reshape(lat.shape))))
        got = np.asarray(bitlattice.unpack(st, got, jnp.bool_)).reshape(-1)
        assert np.array_equal(got, labels == labels[i0])
