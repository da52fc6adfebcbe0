"""Parallel tempering (replica exchange) over a temperature ladder.

One configuration per temperature, each advanced by a base sampler; then neighbouring pairs
``(k, k+1)`` — even pairs on even steps, odd pairs on odd steps — swap configurations with
probability ``min(1, exp((1/T_{k+1} - 1/T_k)(E_{k+1} - E_k)))``, which keeps the product of
Boltzmann distributions invariant. Swap attempts and acceptances are counted per pair, and each
configuration carries the label of the walker it belongs to so round trips can be followed.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from phasejax.lattice.samplers.base import LatticeState, Sampler, make, register


class TemperingState(NamedTuple):
    """State of parallel tempering: one configuration per temperature slot."""

    tokens: jax.Array           # (n_T, *shape) int8: configuration at each temperature slot
    walker: jax.Array           # (n_T,) int32: which walker occupies each slot
    swaps_accepted: jax.Array   # (n_T - 1,) int32, cumulative, per neighbouring pair
    swaps_attempted: jax.Array  # (n_T - 1,) int32, cumulative
    parity: jax.Array           # () int32: which pairs are tried next


class TemperingInfo(NamedTuple):
    """What a tempering step reports."""

    acceptance: jax.Array       # (n_T,) float32: base sampler's acceptance per slot
    swap_accepted: jax.Array    # (n_T - 1,) bool: pairs swapped in this step


def tempering(base: Sampler, n_temperatures: int) -> Sampler:
    """Replica exchange over ``n_temperatures`` slots, advancing each with ``base``."""
    if base.ensemble:
        raise ValueError("the base sampler of parallel tempering must act on one system")
    if not isinstance(n_temperatures, int) or n_temperatures < 2:
        raise ValueError(f"parallel tempering needs >= 2 temperatures; got {n_temperatures!r}")
    n_T = n_temperatures

    def init(key, model):
        keys = jax.random.split(key, n_T)
        tokens = jax.vmap(lambda k: base.init(k, model).tokens)(keys)
        z = jnp.zeros(n_T - 1, jnp.int32)
        return TemperingState(tokens, jnp.arange(n_T, dtype=jnp.int32), z, z, jnp.int32(0))

    def step(key, state, model, temperatures):
        k_base, k_swap = jax.random.split(key)
        T = jnp.asarray(temperatures, jnp.float32)
        keys = jax.random.split(k_base, n_T)
        moved, info = jax.vmap(base.step, in_axes=(0, 0, None, 0))(
            keys, LatticeState(state.tokens), model, T)
        E = jax.vmap(model.energy)(moved.tokens)
        beta = 1.0 / T
        log_ratio = (beta[1:] - beta[:-1]) * (E[1:] - E[:-1])
        u = jax.random.uniform(k_swap, (n_T - 1,))
        tried = (jnp.arange(n_T - 1) % 2) == state.parity
        swap = tried & (jnp.log(u) < log_ratio)
        up = jnp.pad(swap, (0, 1)).astype(jnp.int32)
        down = jnp.pad(swap, (1, 0)).astype(jnp.int32)
        perm = jnp.arange(n_T) + up - down
        new = TemperingState(
            moved.tokens[perm], state.walker[perm],
            state.swaps_accepted + swap.astype(jnp.int32),
            state.swaps_attempted + tried.astype(jnp.int32),
            1 - state.parity)
        return new, TemperingInfo(info.acceptance, swap)

    return Sampler(init, step, "tempering", ensemble=True, cluster=base.cluster)


@register("tempering")
def parallel_tempering(n_temperatures: int | None = None, base: str = "metropolis",
                       **base_settings) -> Sampler:
    """:func:`tempering` over ``n_temperatures`` slots, each advanced by the sampler named
    ``base`` (built with ``base_settings``)."""
    if n_temperatures is None:
        raise ValueError("parallel tempering needs n_temperatures (the ladder length)")
    return tempering(make(base, **base_settings), n_temperatures)
