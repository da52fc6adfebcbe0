"""A Pallas kernel for colour-class Metropolis and heat-bath on ``q``-token lattices.

One ``pallas_call`` updates one colour class: each program takes a block of ``B`` sites (flat
index ``n``), gathers its neighbours' tokens through computed indices, draws its two random
words inside the kernel (Threefry-2x32-20 on counter ``(n, 0)``, keyed per pass; see
:mod:`phasejax.lattice.random`) and writes its block back. The energies are those of the
coupling-matrix form :class:`~phasejax.lattice.model.CouplingModel`,

.. math:: e_i(a) = -h[a] - h^{site}_i[a] - \\sum_r \\sum_{j \\in \\partial_r i} W_r[a, s_j],

so Metropolis accepts ``t`` with ``min(1, exp(−(e_i(t) − e_i(s_i))/T))`` and heat-bath draws
``p_i(a) ∝ exp(−e_i(a)/T)`` — the same rules, random-number resolution and colour order as the
XLA kernels of :mod:`phasejax.lattice.samplers.local`, so the chains have the same statistics
(not the same numbers).

On a GPU it is compiled through Triton; elsewhere it runs in Pallas's interpret mode, which
executes the kernel body with ordinary JAX operations (how it is tested on CPUs). Hypercubic
lattices of any dimension and chains of range ``R ≤`` :data:`MAX_SHELLS` are supported, with any
colouring (parity or greedy).
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as pltriton

from phasejax.lattice.model import CouplingModel
from phasejax.lattice.random import below, key_words, platform, threefry2x32, unit_float

BLOCK = 1024          # sites per program (a power of two, as Triton's blocks must be)
MAX_SHELLS = 8        # the neighbour loop is unrolled: 2 R gathers per site
RULES = ("metropolis", "heatbath")


def unsupported(model) -> Optional[str]:
    """Why ``model`` cannot run on the Pallas kernel, or ``None`` when it can."""
    if not isinstance(model, CouplingModel):
        return f"the Pallas kernel reads a CouplingModel's W, b, h; got {type(model).__name__}"
    lat = model.lattice
    if lat.kind == "complete":
        return "the Pallas kernel needs a sparse lattice (hypercubic or chain), not 'complete'"
    if lat.n_shells > MAX_SHELLS:
        return f"the Pallas kernel unrolls at most {MAX_SHELLS} bond shells; got {lat.n_shells}"
    return None


def _neighbour_index(lattice, n):
    """``[(shell, flat index of the neighbour)]`` of sites ``n`` (int32), both directions."""
    shape = lattice.shape
    strides = np.cumprod((1,) + shape[::-1])[:-1][::-1]
    out = []
    for axis, shift, shell in lattice.directions:
        L, stride = shape[axis], int(strides[axis])
        x = (n // stride) % L
        for sign in (1, -1):
            xn = (x + (sign * shift) % L) % L
            out.append((shell, n + (xn - x) * stride))
    return out


def _kernel(lattice, q: int, rule: str, attempt: float, has_field: bool, block: int):
    """The kernel body for one static configuration."""
    N = lattice.n_sites
    n_coin = round(256 * attempt)

    def kernel(tok_ref, colour_ref, keep_ref, W_ref, b_ref, *rest):
        h_ref = rest[0] if has_field else None
        key_ref, par_ref, out_ref = rest[-3:]
        n = pl.program_id(0) * block + jnp.arange(block, dtype=jnp.int32)
        nc = jnp.minimum(n, N - 1)                      # padding sites read a real site
        s = tok_ref[n].astype(jnp.int32)
        active = (colour_ref[n] == par_ref[1].astype(jnp.int32)) & (keep_ref[n] != 0)
        nbs = [(shell, tok_ref[j].astype(jnp.int32)) for shell, j in _neighbour_index(lattice, nc)]
        w0, w1 = threefry2x32(key_ref[0], key_ref[1], n.astype(jnp.uint32),
                              jnp.zeros((block,), jnp.uint32))
        u = unit_float(w0)
        beta = par_ref[0]

        def energy(a):
            """``e_i(a)`` for per-site tokens ``a``."""
            e = -b_ref[a]
            if has_field:
                e = e - h_ref[nc * q + a]
            for shell, sj in nbs:
                e = e - W_ref[(shell * q + a) * q + sj]
            return e

        if rule == "metropolis":
            if q == 2:
                t = 1 - s
            else:
                t = (s + 1 + below(w1, q - 1)) % q
            accept = u < jnp.exp(-beta * (energy(t) - energy(s)))
            if n_coin < 256:
                accept = accept & ((w0 & jnp.uint32(255)) < jnp.uint32(n_coin))
            new = jnp.where(accept, t, s)
        else:
            e = [energy(jnp.full((block,), a, jnp.int32)) for a in range(q)]
            e_min = e[0]
            for a in range(1, q):
                e_min = jnp.minimum(e_min, e[a])
            cdf, c = [], jnp.zeros((block,), jnp.float32)
            for a in range(q):
                c = c + jnp.exp(-beta * (e[a] - e_min))
                cdf.append(c)
            x = u * cdf[-1]
            new = jnp.zeros((block,), jnp.int32)
            for a in range(q - 1):
                new = new + (cdf[a] <= x).astype(jnp.int32)
        out_ref[...] = jnp.where(active, new, s).astype(out_ref.dtype)

    return kernel


def step(key, tokens: jax.Array, model, temperature, *, rule: str, attempt: float = 1.0,
         frozen: Optional[jax.Array] = None, interpret: Optional[bool] = None,
         block: int = BLOCK):
    """One sweep (every colour class once, in a random order) of the Pallas kernel.

    Args:
      key: PRNG key of the sweep.
      tokens: int8 tokens, shape ``model.shape``.
      model: a :class:`~phasejax.lattice.model.CouplingModel` on a hypercubic or chain lattice.
      temperature: scalar temperature.
      rule: ``"metropolis"`` or ``"heatbath"``.
      attempt: Metropolis's per-pass attempt probability (resolution 1/256).
      frozen: bool mask of sites that keep their tokens, or ``None``.
      interpret: run in Pallas's interpret mode; ``None``: unless the backend is a GPU.
      block: sites per program (a power of two).

    Returns ``(new tokens, number of sites changed)``.
    """
    why = unsupported(model)
    if why is not None:
        raise ValueError(why)
    if rule not in RULES:
        raise ValueError(f"rule={rule!r}; expected one of {RULES}")
    from phasejax.lattice.samplers.local import colour_sweep   # local dispatches to this module

    lat, q, N = model.lattice, model.q, model.n_sites
    if interpret is None:
        interpret = platform() != "gpu"
    B = min(block, 1 << max(N - 1, 1).bit_length())
    Np = -(-N // B) * B
    pad = Np - N
    flat = jnp.pad(tokens.reshape(-1), (0, pad))
    colours = jnp.asarray(np.pad(lat.colouring.reshape(-1), (0, pad), constant_values=-1))
    keep = jnp.ones((N,), jnp.int8) if frozen is None else (~frozen.reshape(-1)).astype(jnp.int8)
    keep = jnp.pad(keep, (0, pad))
    inputs = [colours, keep, model.W.reshape(-1), model.h]
    if model.h_site is not None:
        inputs.append(model.h_site.reshape(-1))
    beta = 1.0 / jnp.asarray(temperature, jnp.float32)
    call = pl.pallas_call(
        _kernel(lat, q, rule, attempt, model.h_site is not None, B),
        out_shape=jax.ShapeDtypeStruct((Np,), flat.dtype),
        grid=(Np // B,),
        in_specs=[pl.no_block_spec] * (len(inputs) + 3),
        out_specs=pl.BlockSpec((B,), lambda i: (i,)),
        interpret=interpret,
        compiler_params=None if interpret else pltriton.CompilerParams(num_warps=4),
        name=f"token_lattice_{rule}",
    )

    k_order, k_words = jax.random.split(key)

    def update(s, colour, k):
        kw = jnp.stack(key_words(jax.random.fold_in(k_words, k)))
        par = jnp.stack([beta, colour.astype(jnp.float32)])
        new = call(s, *inputs, kw, par)
        return new, jnp.sum(new != s, dtype=jnp.int32)

    new, changed = colour_sweep(k_order, lat, flat, update)
    return new[:N].reshape(model.shape), changed
