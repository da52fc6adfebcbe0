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

**Kernels.** Both samplers run one of three kernels, chosen once when ``step`` is traced
(``kernel=``); every kernel has the same chain statistics, not the same numbers:

* ``"xla"`` — whole-lattice arrays: ``jnp.roll`` neighbours, the model's ``delta_energy`` /
  ``local_energies``, any model and lattice.
* ``"multispin"`` — two-token models whose flip energy depends only on the site's token and its
  number of unlike neighbours (:meth:`~phasejax.lattice.model.EnergyModel.flip_energies`) on
  2D/3D hypercubic lattices of even ``L``: 32 sites per ``uint32`` word, bitwise adders and a
  bit-sliced exact acceptance (:mod:`phasejax.lattice.samplers.multispin`).
* ``"pallas"`` — a Pallas kernel that gathers neighbours and draws its random words inside the
  kernel (:mod:`phasejax.lattice.samplers.pallas_kernel`); Triton on GPUs, interpret mode
  elsewhere (slow: for tests).

``"auto"`` (the default) takes ``"multispin"`` wherever it applies (and Metropolis attempts
every site), else ``"xla"``. ``rng=`` picks the source of the random words
(:mod:`phasejax.lattice.random`): ``"auto"`` is the backend's fastest (``"fused"`` Threefry on
CPUs); ``"fused"``, ``"bulk"`` and ``"philox"`` force one, so that every variant can be tested on
any backend. The Pallas kernel always draws its words inside the kernel.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from phasejax.lattice.random import below, random_words, resolve_source, unit_float
from phasejax.lattice.samplers import multispin
from phasejax.lattice.samplers.base import (LatticeState, Sampler, StepInfo, init_random,
                                             register)

_UNROLL_COLOURS = 8
KERNELS = ("auto", "xla", "multispin", "pallas")


def colour_sweep(key, lattice, s, update):
    """Apply ``update(s, colour, k) -> (s, n_changed)`` to each colour class in a random order
    (``colour`` the traced class index, ``k`` the pass number, both int32)."""
    C = lattice.n_colours
    k_start, k_dir = jax.random.split(key)
    start = jax.random.randint(k_start, (), 0, C)
    direction = 2 * jax.random.randint(k_dir, (), 0, 2) - 1

    def colour(k):
        return (start + direction * k) % C

    if C <= _UNROLL_COLOURS:
        changed = jnp.int32(0)
        for k in range(C):
            s, n = update(s, colour(k), jnp.int32(k))
            changed = changed + n
        return s, changed

    def body(k, carry):
        s, changed = carry
        s, n = update(s, colour(k), k)
        return s, changed + n

    return lax.fori_loop(0, C, body, (s, jnp.int32(0)))


def _masked(model, update):
    """``update(s, mask)`` as a :func:`colour_sweep` update (mask: the colour's sites)."""
    colours = jnp.asarray(model.lattice.colouring)
    return lambda s, colour, k: update(s, colours == colour)


def _proposal(model, s, words):
    if model.q == 2:
        return 1 - s
    shift = 1 + below(words, model.q - 1)
    return ((s.astype(jnp.int32) + shift) % model.q).astype(s.dtype)


def _check_settings(kernel: str, rng: str) -> None:
    if kernel not in KERNELS:
        raise ValueError(f"kernel={kernel!r}; expected one of {KERNELS}")
    resolve_source(rng)                       # refuses an unknown source
    if kernel == "pallas" and rng not in ("auto", "fused"):
        raise ValueError(f"kernel='pallas' draws its words inside the kernel; rng={rng!r} "
                         "applies to the 'xla' and 'multispin' kernels")


def choose_kernel(kernel: str, model, *, every_site: bool = True) -> str:
    """The kernel a step of ``model`` runs (see the module docstring), decided while tracing.

    ``every_site``: each site of the active colour is updated (Metropolis's ``attempt = 1``);
    the multispin kernel has no per-site coin. A kernel asked for by name that cannot run the
    model raises a ``ValueError`` that says why.
    """
    if kernel == "auto":
        ok = every_site and multispin.unsupported(model) is None
        return "multispin" if ok else "xla"
    if kernel == "multispin":
        why = multispin.unsupported(model)
        if why is None and not every_site:
            why = "it updates every site of a colour (attempt = 1); use kernel='xla'"
        if why is not None:
            raise ValueError(f"kernel='multispin' cannot run {model.name}: {why}")
    if kernel == "pallas":
        from phasejax.lattice.samplers import pallas_kernel
        why = pallas_kernel.unsupported(model)
        if why is not None:
            raise ValueError(f"kernel='pallas' cannot run {model.name}: {why}")
    return kernel


def _sweeps(step, which_of, rule, rng):
    """``sweeps(key, state, model, temperature, n, frozen=None)``: through the multispin kernel
    (packed once for all ``n`` sweeps) where ``which_of(model)`` picks it, else ``n`` steps;
    ``info.acceptance`` is summed over the sweeps."""
    def sweeps(key, state, model, temperature, n, frozen=None):
        if which_of(model) == "multispin":
            s, changed = multispin.steps(key, state.tokens, model, temperature, n, rule=rule,
                                         source=resolve_source(rng), frozen=frozen)
            return LatticeState(s), StepInfo(changed.astype(jnp.float32) / model.n_sites)

        def body(j, carry):
            state, acc = carry
            state, info = step(jax.random.fold_in(key, j), state, model, temperature, frozen)
            return state, acc + info.acceptance

        state, acc = lax.fori_loop(0, n, body, (state, jnp.float32(0.0)))
        return state, StepInfo(acc)

    return sweeps


def _other_kernel(which, key, state, model, temperature, frozen, rule, source, attempt=1.0):
    """A step through the multispin or Pallas kernel, as ``(state, info)``."""
    if which == "multispin":
        s, changed = multispin.step(key, state.tokens, model, temperature, rule=rule,
                                    source=source, frozen=frozen)
    else:
        from phasejax.lattice.samplers import pallas_kernel
        s, changed = pallas_kernel.step(key, state.tokens, model, temperature, rule=rule,
                                        attempt=attempt, frozen=frozen)
    return LatticeState(s), StepInfo(changed.astype(jnp.float32) / model.n_sites)


@register("metropolis")
def metropolis(attempt: float | None = None, kernel: str = "auto", rng: str = "auto") -> Sampler:
    """Checkerboard Metropolis for any model and any ``q``.

    ``step`` takes an optional boolean ``frozen`` mask: those sites keep their tokens (pinned
    seeds).

    Args:
      attempt: probability that a site of the active colour attempts its move (resolution
        1/256). ``None``: 1/2 on chains, 1 elsewhere.
      kernel: ``"auto"``, ``"xla"``, ``"multispin"`` or ``"pallas"`` (module docstring);
        ``"xla"`` turns the multispin kernel off.
      rng: source of the random words, ``"auto"``, ``"fused"``, ``"bulk"`` or ``"philox"``.
    """
    if attempt is not None and not 0.0 < attempt <= 1.0:
        raise ValueError(f"attempt={attempt!r} must be in (0, 1]")
    _check_settings(kernel, rng)

    def step(key, state, model, temperature, frozen=None):
        p_attempt = attempt if attempt is not None else (
            0.5 if model.lattice.kind == "chain" else 1.0)
        which = choose_kernel(kernel, model, every_site=p_attempt == 1.0)
        source = resolve_source(rng)
        if which != "xla":
            return _other_kernel(which, key, state, model, temperature, frozen, "metropolis",
                                 source, p_attempt)
        beta = 1.0 / jnp.asarray(temperature, jnp.float32)
        key, k_order = jax.random.split(key)
        words = random_words(key, model.shape, 1 if model.q == 2 else 2, source)
        u = unit_float(words[0])
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

        s, changed = colour_sweep(k_order, model.lattice, state.tokens, _masked(model, update))
        return LatticeState(s), StepInfo(changed.astype(jnp.float32) / model.n_sites)

    which_of = lambda model: choose_kernel(kernel, model, every_site=(
        attempt if attempt is not None else 0.5 if model.lattice.kind == "chain" else 1.0) == 1.0)
    return Sampler(init_random, step, "metropolis", pinnable=True,
                   sweeps=_sweeps(step, which_of, "metropolis", rng))


@register("heatbath")
def heatbath(kernel: str = "auto", rng: str = "auto") -> Sampler:
    """Checkerboard heat-bath (Gibbs) sampler for any model and any ``q``.

    Args:
      kernel: ``"auto"``, ``"xla"``, ``"multispin"`` or ``"pallas"`` (module docstring);
        ``"xla"`` turns the multispin kernel off.
      rng: source of the random words, ``"auto"``, ``"fused"``, ``"bulk"`` or ``"philox"``.
    """
    _check_settings(kernel, rng)

    def step(key, state, model, temperature, frozen=None):
        which = choose_kernel(kernel, model)
        source = resolve_source(rng)
        if which != "xla":
            return _other_kernel(which, key, state, model, temperature, frozen, "heatbath",
                                 source)
        beta = 1.0 / jnp.asarray(temperature, jnp.float32)
        key, k_order = jax.random.split(key)
        u = unit_float(random_words(key, model.shape, 1, source)[0])

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

        s, changed = colour_sweep(k_order, model.lattice, state.tokens, _masked(model, update))
        return LatticeState(s), StepInfo(changed.astype(jnp.float32) / model.n_sites)

    return Sampler(init_random, step, "heatbath", pinnable=True,
                   sweeps=_sweeps(step, lambda model: choose_kernel(kernel, model), "heatbath",
                                  rng))
