"""Cluster samplers for Potts-like couplings: Swendsen–Wang and Wolff.

Both use the Fortuin–Kasteleyn representation of ``-K_r δ(s_i, s_j)`` bonds: a bond between
equal tokens is activated with probability ``p_r = 1 - exp(-K_r / T)``. Single-site terms
(bias ``b``, per-site field ``h_i``) stay outside the bonds and are handled exactly:

* **Swendsen–Wang**: every cluster of the activated-bond graph draws a new token from
  ``p_C(t) ∝ exp(-Σ_{i∈C} f_i(t) / T)`` where ``f_i(t)`` is the site's field energy — the exact
  conditional of the joint spin–bond measure (a ghost-spin-free treatment of fields).
* **Wolff**: grow the cluster of a uniformly chosen site ``i0`` holding token ``a`` (bonds only
  between ``a``-tokens), propose a new token ``b ≠ a`` uniformly, and accept the relabelling
  with ``min(1, exp(-Σ_{i∈C} (f_i(b) - f_i(a)) / T))``.

Connected components are found exactly by :func:`label_components` — hooking with scatter-min
and pointer jumping, iterated until no active bond joins two labels — on every lattice size;
there is no iteration budget that could stop early.

**Wolff on hypercubic lattices** (``search="grow"``, the ``"auto"`` choice there) needs only the
seed's cluster, so it grows that cluster instead of labelling every component. Sites are bits of
``uint32`` words (:mod:`phasejax.lattice.bitlattice`, up to 32 per word): the mask of sites holding
the seed's token ``a`` is packed, each forward bond ``(x, x + e_r)`` along axis ``r`` is active
with bit ``F_r = M ∧ M(x + e_r) ∧ B``, ``B`` an exact Bernoulli word of ``p = 1 − e^{−K/T}``
(the same probability, at the same 24-bit resolution, as the float bonds), and the cluster
``C`` (first the seed's bit) grows by ``C ← C ∨ shift_{+r}(C ∧ F_r) ∨ (shift_{−r}(C) ∧ F_r)`` over
all axes until a pass of :data:`GROW_STEPS` steps changes nothing: exactly the connected
component of the seed. Each step is a few bitwise operations per word; the number of steps is
the cluster's chemical radius.

**Bond drawing.** ``bonds="dense"`` draws one uniform per bond of ``lattice.edges``: ``O(N R)``
work per sweep on a range-``R`` chain even though, for summable couplings, only ``O(N)`` bonds
are activated. ``bonds="poisson"`` (chains only; the ``"auto"`` choice for ``R >= 8``) draws the
activated bonds directly, in the spirit of Luijten & Blöte (1995) and Fukui & Todo (2009):
``p_r = 1 - exp(-λ_r)`` with ``λ_r = K_r / T`` is the probability that a Poisson process of rate
``λ_r`` has at least one event, so a bond is activated exactly as often if one draws
``M ~ Poisson(N Σ_r λ_r)`` events, puts each on a uniform site ``i`` and a shell ``r`` with
probability ``λ_r / Σ λ``, and keeps the events whose bond ``(i, i + r)`` joins equal tokens
(Poisson splitting makes the per-bond counts independent ``Poisson(λ_r)``). Events are handled in
fixed-size chunks of ``2N`` until all ``M`` are used, each chunk hooked into the labels of the
previous ones, so the work is ``O(N (1 + Σ_r λ_r))`` and the result is exact for any ``M``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from phasejax.lattice import bitlattice
from phasejax.lattice.random import random_words, unit_float
from phasejax.lattice.samplers.base import (LatticeState, Sampler, StepInfo, init_random,
                                             register)


def _compress(labels):
    """Pointer jumping until every site points at a root (``l[l] == l``)."""
    return lax.while_loop(lambda l: jnp.any(l[l] != l), lambda l: l[l], labels)


def label_components(n: int, src: jax.Array, dst: jax.Array, active: jax.Array,
                     labels: jax.Array | None = None) -> jax.Array:
    """Label the connected components of the graph of ``active`` edges on ``n`` nodes.

    Returns int32 labels: nodes share a label iff an active path joins them; each label is the
    index of a node of its component (its root). Labels only decrease, each is at most its
    node's index, so the loop terminates; it stops when every active edge has equal labels at
    both ends, which is exactly the property asked for.

    ``labels``, if given, are the root labels of an earlier call (every node points at a root);
    the result then labels the union of those components with the new edges, so edges can be
    added chunk by chunk. Nodes sharing a root keep sharing one, because every update moves a
    root and pointer jumping carries all its nodes along.
    """

    def body(carry):
        labels, _ = carry
        ls, ld = labels[src], labels[dst]
        m = jnp.minimum(ls, ld)
        new = labels.at[ls].min(jnp.where(active, m, ls))
        new = new.at[ld].min(jnp.where(active, m, ld))
        new = _compress(new)
        return new, jnp.any(new != labels)

    if labels is None:
        labels = jnp.arange(n, dtype=jnp.int32)
    labels, _ = lax.while_loop(lambda c: c[1], body, (labels, True))
    return labels


BOND_MODES = ("auto", "dense", "poisson")
SEARCHES = ("auto", "grow", "label")
GROW_STEPS = 8            # growth steps between checks for a fixed point
_POISSON_MIN_RANGE = 8


def _bond_mode(bonds: str) -> str:
    if bonds not in BOND_MODES:
        raise ValueError(f"bonds={bonds!r}; expected one of {BOND_MODES}")
    return bonds


def _resolve_bonds(bonds: str, lattice) -> str:
    if bonds == "auto":
        return "poisson" if lattice.kind == "chain" and lattice.R >= _POISSON_MIN_RANGE else "dense"
    if bonds == "poisson" and lattice.kind != "chain":
        raise ValueError(f"bonds='poisson' needs a chain lattice; got {lattice.kind!r}")
    return bonds


def _bonds(model, s_flat, beta, key):
    src, dst, shell = (jnp.asarray(a) for a in model.lattice.edges)
    K = model.bond_couplings()
    p = -jnp.expm1(-beta * K)[shell]
    u = unit_float(random_words(key, (src.shape[0],))[0])
    return src, dst, (s_flat[src] == s_flat[dst]) & (u < p)


def _poisson_labels(model, s_flat, beta, key, token):
    """FK cluster labels of a chain from Poisson-drawn bond events (see the module docstring).

    The shell of an event is an inverse-CDF draw over the rates summed from the *longest* range
    down, against a uniform with float32's relative (not absolute) resolution: the weak far
    shells sit near 0, where their interval ends are accurate to ``~1e-7 × 2r`` relative, rather
    than at the top of a sum of order one, where float32 would blur them by percents at
    ``R ~ 1000``.
    """
    n = model.n_sites
    rate = beta * model.bond_couplings()                      # (R,) λ_r per bond of shell r
    R = rate.shape[0]
    cum = jnp.cumsum(rate[::-1])                              # tail first: cum[k] = Σ_{r > R-k-2} λ
    per_site = cum[-1]
    k_count, k_events = jax.random.split(key)
    M = jax.random.poisson(k_count, n * per_site, dtype=jnp.int32)
    chunk = 2 * n
    slot = jnp.arange(chunk, dtype=jnp.int32)

    def body(carry):
        k, labels = carry
        words = random_words(jax.random.fold_in(k_events, k), (chunk,), 2)
        src = (words[0] % jnp.uint32(n)).astype(jnp.int32)   # bias n / 2^32: negligible
        u = words[1].astype(jnp.float32) * jnp.float32(2.0**-32)
        back = jnp.searchsorted(cum, u * per_site, side="right")
        shell = R - 1 - jnp.minimum(back, R - 1).astype(jnp.int32)
        dst = (src + shell + 1) % n
        active = (k * chunk + slot < M) & (s_flat[src] == s_flat[dst])
        if token is not None:
            active = active & (s_flat[src] == token)
        return k + 1, label_components(n, src, dst, active, labels)

    _, labels = lax.while_loop(lambda c: c[0] * chunk < M, body,
                               (jnp.int32(0), jnp.arange(n, dtype=jnp.int32)))
    return labels


def _fk_labels(model, s_flat, beta, key, bonds, token=None):
    """Components of the FK graph: bonds between equal tokens (all equal to ``token`` if given),
    each activated with probability ``1 - exp(-K_r / T)``."""
    if bonds == "poisson":
        return _poisson_labels(model, s_flat, beta, key, token)
    src, dst, active = _bonds(model, s_flat, beta, key)
    if token is not None:
        active = active & (s_flat[src] == token)
    return label_components(model.n_sites, src, dst, active)


def _field_table(model):
    """``f_i(t)`` for every site and token, shape ``(N, q)``."""
    return jnp.stack([model.field_energy(jnp.full(model.shape, t, jnp.int8)).reshape(-1)
                      for t in range(model.q)], -1)


@register("swendsen_wang")
def swendsen_wang(bonds: str = "auto") -> Sampler:
    """Swendsen–Wang: relabel every FK cluster from its exact conditional.

    Args:
      bonds: ``"dense"`` (a uniform per bond), ``"poisson"`` (activated bonds drawn directly;
        chains only) or ``"auto"`` (``"poisson"`` on chains with ``R >= 8``).
    """
    _bond_mode(bonds)

    def step(key, state, model, temperature):
        beta = 1.0 / jnp.asarray(temperature, jnp.float32)
        k_bond, k_colour = jax.random.split(key)
        n = model.n_sites
        s_flat = state.tokens.reshape(-1)
        labels = _fk_labels(model, s_flat, beta, k_bond, _resolve_bonds(bonds, model.lattice))
        e_cluster = jax.ops.segment_sum(_field_table(model), labels, num_segments=n)  # (n, q)
        w = jnp.exp(-beta * (e_cluster - jnp.min(e_cluster, -1, keepdims=True)))
        cdf = jnp.cumsum(w, -1)
        x = unit_float(random_words(k_colour, (n,))[0]) * cdf[:, -1]
        t_cluster = jnp.sum(cdf[:, :-1] <= x[:, None], -1).astype(s_flat.dtype)
        new = t_cluster[labels]
        changed = jnp.mean((new != s_flat).astype(jnp.float32))
        return LatticeState(new.reshape(model.shape)), StepInfo(changed)

    return Sampler(init_random, step, "swendsen_wang", cluster=True)


def grow_cluster(st: bitlattice.Strips, bonds: list, seed: jax.Array) -> jax.Array:
    """Words of the sites joined to ``seed`` (words) by active bonds.

    ``bonds[r]`` holds, for every site ``x``, whether the bond ``(x, x + e_r)`` is active. Grows
    by whole steps until :data:`GROW_STEPS` steps in a row add nothing.
    """

    def grow(_, c):
        new = c
        for axis, f in enumerate(bonds):
            new = (new | bitlattice.shift(st, c & f, axis, -1)
                   | (bitlattice.shift(st, c, axis, +1) & f))
        return new

    def passes(carry):
        c, _ = carry
        new = lax.fori_loop(0, GROW_STEPS, grow, c)
        return new, jnp.any(new != c)

    return lax.while_loop(lambda carry: carry[1], passes, (seed, jnp.bool_(True)))[0]


def _grown_cluster(model, s, a, i0, beta, key):
    """The Wolff cluster of site ``i0`` (token ``a``) as a bool lattice, by bit growth."""
    st = bitlattice.strips(model.shape)
    same = bitlattice.pack(st, s == a)
    p = -jnp.expm1(-beta * model.bond_couplings()[0])
    keys = jax.random.split(key, len(model.shape))
    bonds = [same & bitlattice.shift(st, same, axis, +1)
             & bitlattice.bernoulli(keys[axis], st.word_shape, p)
             for axis in range(len(model.shape))]
    rest = int(np.prod(model.shape[1:]))
    x0, j0 = i0 // rest, i0 % rest
    seed = (jnp.zeros((st.rows, rest), jnp.uint32)
            .at[x0 % st.rows, j0].set(jnp.uint32(1) << (x0 // st.rows).astype(jnp.uint32)))
    c = grow_cluster(st, bonds, seed.reshape(st.word_shape))
    return bitlattice.unpack(st, c, jnp.bool_)


def _resolve_search(search: str, lattice, bonds: str) -> str:
    if search == "auto":
        return "grow" if lattice.kind == "hypercubic" and bonds != "poisson" else "label"
    if search == "grow" and lattice.kind != "hypercubic":
        raise ValueError(f"search='grow' needs a hypercubic lattice; got {lattice.kind!r}")
    return search


@register("wolff")
def wolff(clusters_per_step: int = 1, bonds: str = "auto", search: str = "auto") -> Sampler:
    """Wolff single-cluster updates; ``clusters_per_step`` clusters make one step.

    Args:
      clusters_per_step: clusters grown and relabelled per step.
      bonds: how FK bonds are drawn, as for :func:`swendsen_wang` (``"label"`` search only).
      search: ``"grow"`` (bit-parallel growth of the seed's cluster; hypercubic lattices),
        ``"label"`` (label every component) or ``"auto"`` (``"grow"`` where it applies).
    """
    if not isinstance(clusters_per_step, int) or clusters_per_step < 1:
        raise ValueError(f"clusters_per_step={clusters_per_step!r} must be a positive integer")
    _bond_mode(bonds)
    if search not in SEARCHES:
        raise ValueError(f"search={search!r}; expected one of {SEARCHES}")

    def one_cluster(key, s, model, beta):
        k_site, k_tok, k_bond, k_acc = jax.random.split(key, 4)
        n, q = model.n_sites, model.q
        s_flat = s.reshape(-1)
        i0 = jax.random.randint(k_site, (), 0, n)
        a = s_flat[i0]
        b = ((a.astype(jnp.int32) + jax.random.randint(k_tok, (), 1, q)) % q).astype(a.dtype)
        mode = _resolve_bonds(bonds, model.lattice)
        if _resolve_search(search, model.lattice, mode) == "grow":
            cluster = _grown_cluster(model, s, a, i0, beta, k_bond)
        else:
            labels = _fk_labels(model, s_flat, beta, k_bond, mode, token=a)
            cluster = (labels == labels[i0]).reshape(model.shape)
        fa = model.field_energy(jnp.full(model.shape, a))
        fb = model.field_energy(jnp.full(model.shape, b))
        d_field = jnp.sum(jnp.where(cluster, fb - fa, 0.0))
        accept = jax.random.uniform(k_acc) < jnp.exp(-beta * d_field)
        flip = cluster & accept
        return jnp.where(flip, b, s), jnp.sum(flip, dtype=jnp.int32)

    def step(key, state, model, temperature):
        beta = 1.0 / jnp.asarray(temperature, jnp.float32)

        def body(carry, k):
            s, changed = carry
            s, c = one_cluster(k, s, model, beta)
            return (s, changed + c), None

        keys = jax.random.split(key, clusters_per_step)
        (s, changed), _ = lax.scan(body, (state.tokens, jnp.int32(0)), keys)
        return LatticeState(s), StepInfo(changed.astype(jnp.float32) / model.n_sites)

    return Sampler(init_random, step, "wolff", cluster=True)
