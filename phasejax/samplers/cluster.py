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
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from phasejax.random import random_words, unit_float
from phasejax.samplers.base import LatticeState, Sampler, StepInfo, init_random


def _compress(labels):
    """Pointer jumping until every site points at a root (``l[l] == l``)."""
    return lax.while_loop(lambda l: jnp.any(l[l] != l), lambda l: l[l], labels)


def label_components(n: int, src: jax.Array, dst: jax.Array, active: jax.Array) -> jax.Array:
    """Label the connected components of the graph of ``active`` edges on ``n`` nodes.

    Returns int32 labels: nodes share a label iff an active path joins them; each label is the
    index of a node of its component (its root). Labels only decrease, each is at most its
    node's index, so the loop terminates; it stops when every active edge has equal labels at
    both ends, which is exactly the property asked for.
    """

    def body(carry):
        labels, _ = carry
        ls, ld = labels[src], labels[dst]
        m = jnp.minimum(ls, ld)
        new = labels.at[ls].min(jnp.where(active, m, ls))
        new = new.at[ld].min(jnp.where(active, m, ld))
        new = _compress(new)
        return new, jnp.any(new != labels)

    labels, _ = lax.while_loop(lambda c: c[1], body, (jnp.arange(n, dtype=jnp.int32), True))
    return labels


def _bonds(model, s_flat, beta, key):
    src, dst, shell = (jnp.asarray(a) for a in model.lattice.edges)
    K = model.bond_couplings()
    p = -jnp.expm1(-beta * K)[shell]
    u = unit_float(random_words(key, (src.shape[0],))[0])
    return src, dst, (s_flat[src] == s_flat[dst]) & (u < p)


def _field_table(model):
    """``f_i(t)`` for every site and token, shape ``(N, q)``."""
    return jnp.stack([model.field_energy(jnp.full(model.shape, t, jnp.int8)).reshape(-1)
                      for t in range(model.q)], -1)


def swendsen_wang() -> Sampler:
    """Swendsen–Wang: relabel every FK cluster from its exact conditional."""

    def step(key, state, model, temperature):
        beta = 1.0 / jnp.asarray(temperature, jnp.float32)
        k_bond, k_colour = jax.random.split(key)
        n = model.n_sites
        s_flat = state.tokens.reshape(-1)
        src, dst, active = _bonds(model, s_flat, beta, k_bond)
        labels = label_components(n, src, dst, active)
        e_cluster = jax.ops.segment_sum(_field_table(model), labels, num_segments=n)  # (n, q)
        w = jnp.exp(-beta * (e_cluster - jnp.min(e_cluster, -1, keepdims=True)))
        cdf = jnp.cumsum(w, -1)
        x = unit_float(random_words(k_colour, (n,))[0]) * cdf[:, -1]
        t_cluster = jnp.sum(cdf[:, :-1] <= x[:, None], -1).astype(s_flat.dtype)
        new = t_cluster[labels]
        changed = jnp.mean((new != s_flat).astype(jnp.float32))
        return LatticeState(new.reshape(model.shape)), StepInfo(changed)

    return Sampler(init_random, step, "swendsen_wang", cluster=True)


def wolff(clusters_per_step: int = 1) -> Sampler:
    """Wolff single-cluster updates; ``clusters_per_step`` clusters make one step."""
    if not isinstance(clusters_per_step, int) or clusters_per_step < 1:
        raise ValueError(f"clusters_per_step={clusters_per_step!r} must be a positive integer")

    def one_cluster(key, s_flat, model, beta):
        k_site, k_tok, k_bond, k_acc = jax.random.split(key, 4)
        n, q = model.n_sites, model.q
        i0 = jax.random.randint(k_site, (), 0, n)
        a = s_flat[i0]
        b = ((a.astype(jnp.int32) + jax.random.randint(k_tok, (), 1, q)) % q).astype(a.dtype)
        src, dst, same = _bonds(model, s_flat, beta, k_bond)
        active = same & (s_flat[src] == a)
        labels = label_components(n, src, dst, active)
        cluster = labels == labels[i0]
        fa = model.field_energy(jnp.full(model.shape, a)).reshape(-1)
        fb = model.field_energy(jnp.full(model.shape, b)).reshape(-1)
        d_field = jnp.sum(jnp.where(cluster, fb - fa, 0.0))
        accept = jax.random.uniform(k_acc) < jnp.exp(-beta * d_field)
        flip = cluster & accept
        return jnp.where(flip, b, s_flat), jnp.sum(flip, dtype=jnp.int32)

    def step(key, state, model, temperature):
        beta = 1.0 / jnp.asarray(temperature, jnp.float32)

        def body(carry, k):
            s, changed = carry
            s, c = one_cluster(k, s, model, beta)
            return (s, changed + c), None

        keys = jax.random.split(key, clusters_per_step)
        (s, changed), _ = lax.scan(body, (state.tokens.reshape(-1), jnp.int32(0)), keys)
        return (LatticeState(s.reshape(model.shape)),
                StepInfo(changed.astype(jnp.float32) / model.n_sites))

    return Sampler(init_random, step, "wolff", cluster=True)
