"""Single-site samplers with graph-colouring (checkerboard) parallel updates.

All sites of one colour share no bond, so they are updated at once; one sweep visits each
colour in turn. Each site draws its random words once per sweep (see
:mod:`phasejax.lattice.random`), and uses them when its colour comes up.

The colour order of each sweep is random (a random starting colour and direction). With a
fixed order, Metropolis's always-accepted ``ΔE = 0`` moves carry domain walls ballistically
(in the 1D Ising chain a wall moves two sites per sweep, its direction set by its sublattice),
which conserves the difference of left- and right-moving walls and breaks ergodicity; a random
order turns that drift into a random walk. Each colour update keeps the Boltzmann distribution
invariant, so any mixture of orders does too.

On a chain a random order is not enough: walls on the two sublattices move in opposite
directions, walls of one sublattice keep their distance, and even-length domains glide rigidly
without ever annihilating — each replica stays near its own energy for thousands of sweeps.
There Metropolis attempts each site with probability 1/2 per colour pass (a lazy single-site
kernel, still exactly Boltzmann-invariant), which makes every wall a random walker. The coin
uses the low 8 bits of the site's random word, which the 24-bit acceptance uniform leaves
unused, so it costs no extra random numbers.

* **Metropolis**: propose ``t`` (the other token for ``q = 2``, else uniform among the other
  ``q - 1``), accept with ``min(1, exp(-ΔE/T))``. Each site of the active colour attempts its
  move with probability ``attempt`` (1 by default; 1/2 on chains, see below).
* **Heat-bath** (Gibbs): draw the site's token from ``p(t) ∝ exp(-e_i(t)/T)``; for ``q = 2``
  this is a flip with probability ``1 / (1 + exp(ΔE/T))`` and needs no ``(N, q)`` array.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from phasejax.lattice.random import below, random_words, unit_float
from phasejax.lattice.samplers.base import (LatticeState, Sampler, StepInfo, init_random,
                                             register)

_UNROLL_COLOURS = 8


def _colour_sweep(key, model, s, update):
    """Apply ``update(s, mask) -> (s, n_changed)`` to each colour class, in a random order."""
    lat = model.lattice
    C = lat.n_colours
    colours = jnp.asarray(lat.colouring)
    k_start, k_dir = jax.random.split(key)
    start = jax.random.randint(k_start, (), 0, C)
    direction = 2 * jax.random.randint(k_dir, (), 0, 2) - 1

    def colour(k):
        return (start + direction * k) % C

    if C <= _UNROLL_COLOURS:
        changed = jnp.int32(0)
        for k in range(C):
            s, n = update(s, colours == colour(k))
            changed = changed + n
        return s, changed

    def body(k, carry):
        s, changed = carry
        s, n = update(s, colours == colour(k))
        return s, changed + n

    return lax.fori_loop(0, lat.n_colours, body, (s, jnp.int32(0)))


def _proposal(model, s, words):
    if model.q == 2:
        return 1 - s
    shift = 1 + below(words, model.q - 1)
    return ((s.astype(jnp.int32) + shift) % model.q).astype(s.dtype)


@register("metropolis")
def metropolis(attempt: float | None = None) -> Sampler:
    """Checkerboard Metropolis for any model and any ``q``.

    ``step`` takes an optional boolean ``frozen`` mask: those sites keep their tokens (pinned
    seeds).

    Args:
      attempt: probability that a site of the active colour attempts its move (resolution
        1/256). ``None``: 1/2 on chains, 1 elsewhere.
    """
    if attempt is not None and not 0.0 < attempt <= 1.0:
        raise ValueError(f"attempt={attempt!r} must be in (0, 1]")

    def step(key, state, model, temperature, frozen=None):
        beta = 1.0 / jnp.asarray(temperature, jnp.float32)
        key, k_order = jax.random.split(key)
        words = random_words(key, model.shape, 1 if model.q == 2 else 2)
        u = unit_float(words[0])
        p_attempt = attempt if attempt is not None else (
            0.5 if model.lattice.kind == "chain" else 1.0)
        if p_attempt < 1.0:
            coin = (words[0] & jnp.uint32(255)) < jnp.uint32(round(256 * p_attempt))

        def update(s, mask):
            if p_attempt < 1.0:
                mask = mask & coin
            if frozen is not None:
                mask = mask & ~frozen
            t = _proposal(model, s, words[-1])
            accept = mask & (u < jnp.exp(-beta * model.delta_energy(s, t)))
            new = jnp.where(accept, t, s)
            # counted from the result, so XLA need not recompute the acceptance to count it
            return new, jnp.sum(new != s, dtype=jnp.int32)

        s, changed = _colour_sweep(k_order, model, state.tokens, update)
        return LatticeState(s), StepInfo(changed.astype(jnp.float32) / model.n_sites)

    return Sampler(init_random, step, "metropolis", pinnable=True)


@register("heatbath")
def heatbath() -> Sampler:
    """Checkerboard heat-bath (Gibbs) sampler for any model and any ``q``."""

    def step(key, state, model, temperature, frozen=None):
        beta = 1.0 / jnp.asarray(temperature, jnp.float32)
        key, k_order = jax.random.split(key)
        u = unit_float(random_words(key, model.shape)[0])

        def update(s, mask):
            if model.q == 2:
                t = 1 - s
                new = jnp.where(u < jax.nn.sigmoid(-beta * model.delta_energy(s, t)), t, s)
            else:
                e = model.local_energies(s)
                w = jnp.exp(-beta * (e - jnp.min(e, -1, keepdims=True)))
                cdf = jnp.cumsum(w, -1)
                x = u * cdf[..., -1]
                new = jnp.sum(cdf[..., :-1] <= x[..., None], -1).astype(s.dtype)
            if frozen is not None:
                mask = mask & ~frozen
            new = jnp.where(mask, new, s)
            return new, jnp.sum(new != s, dtype=jnp.int32)

        s, changed = _colour_sweep(k_order, model, state.tokens, update)
        return LatticeState(s), StepInfo(changed.astype(jnp.float32) / model.n_sites)

    return Sampler(init_random, step, "heatbath", pinnable=True)
