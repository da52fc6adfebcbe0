import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from phasejax.lattice.random import below, random_words, threefry2x32, unit_float

# Known-answer tests of Threefry-2x32-20 from the Random123 distribution (kat_vectors).
KAT = [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]


@pytest.mark.parametrize("key,ctr,out", KAT)
def test_threefry_known_answers(key, ctr, out):
    u = lambda v: jnp.uint32(v)
    x0, x1 = threefry2x32(u(key[0]), u(key[1]), u(ctr[0]), u(ctr[1]))
    assert (int(x0), int(x1)) == out


def test_unit_floats_are_uniform_and_streams_differ():
    w = random_words(jax.random.key(0), (200_000,))[0]
    u = np.asarray(unit_float(w))
    assert u.min() >= 0.0 and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    w2 = np.asarray(random_words(jax.random.key(1), (200_000,))[0])
    assert np.mean(np.asarray(w) == w2) < 1e-3


def test_two_words_per_site_are_uncorrelated():
    w = random_words(jax.random.key(3), (100_000,), n=2)
    a, b = (np.asarray(unit_float(x)) for x in w)
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.015


def test_below_is_uniform_on_small_ranges():
    w = random_words(jax.random.key(5), (120_000,))[0]
    for n in (2, 3, 7):
        counts = np.bincount(np.asarray(below(w, n)), minlength=n)
        assert counts.size == n
        assert stats.chisquare(counts).pvalue > 1e-3


def test_same_key_same_words():
    a = random_words(jax.random.key(9), (4, 6))
    b = random_words(jax.random.key(9), (4, 6))
    assert a.shape == (1, 4, 6) and a.dtype == jnp.uint32
    assert np.array_equal(np.asarray(a), np.asarray(b))
