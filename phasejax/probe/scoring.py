"""Exact answer distributions by teacher forcing, at every sampling temperature at once.

For a prompt ``P`` and options ``a_k`` (token ids of ``" option" + terminator``), one batched
forward pass over ``P ⊕ a_k`` gives every target token's logits ``ℓ_t``. Per-token
temperature sampling produces option ``k`` with probability

.. math:: p_T(a_k | P) = \\prod_t \\mathrm{softmax}(ℓ_t / T)[a_{k,t}],

so the logits of one pass serve every ``T``. The *captured mass* ``Σ_k p_T(a_k | P)`` is the
probability that sampling lands exactly on one of the options; the renormalised distribution
``p_T(a_k | P) / Σ_j p_T(a_j | P)`` is what the shared statistics read. A low captured mass
means the renormalised distribution describes a rare event, and is warned about.
``T → 0`` gives the greedy path's option (if it is one) and ``T → ∞`` the uniform
distribution over token paths, ``Π_t 1/V``.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

LOW_CAPTURED_MASS = 0.05


class LowCapturedMass(UserWarning):
    """Most of the model's probability falls outside the option set."""


class AnswerDistribution(NamedTuple):
    temperatures: np.ndarray    # (n_T,)
    log_prob: np.ndarray        # (n_T, K) log p_T(a_k | P), unnormalised over options
    captured: np.ndarray        # (n_T,) Σ_k p_T(a_k | P)
    p: np.ndarray               # (n_T, K) renormalised over the options


def check_options(option_ids: Sequence[Sequence[int]]):
    """Token sequences must be non-empty and none may be a prefix of another."""
    seqs = [tuple(o) for o in option_ids]
    if any(len(s) == 0 for s in seqs):
        raise ValueError("an option tokenizes to nothing")
    for i, a in enumerate(seqs):
        for j, b in enumerate(seqs):
            if i != j and b[:len(a)] == a:
                raise ValueError(f"option {i} {list(a)} is a token prefix of option {j} "
                                 f"{list(b)}: add a terminator so that one cannot swallow "
                                 "the other")


def score(model, prompt_ids: Sequence[int], option_ids: Sequence[Sequence[int]],
          temperatures=(1.0,), max_length: int | None = None) -> AnswerDistribution:
    """Exact option probabilities after ``prompt_ids`` at each temperature (one pass)."""
    check_options(option_ids)
    T = np.asarray(temperatures, np.float64).reshape(-1)
    if np.any(T <= 0) or not np.all(np.isfinite(T)):
        raise ValueError(f"temperatures must be finite and > 0; got {T.tolist()}")
    P = list(prompt_ids)
    K = len(option_ids)
    width = len(P) + max(len(o) for o in option_ids)
    if max_length is not None and width > max_length:
        raise ValueError(f"prompt of {len(P)} tokens plus the longest option needs {width} "
                         f"positions; the model's context is {max_length}")
    tokens = np.zeros((K, width), np.int32)
    mask = np.zeros((K, width), bool)
    target = np.zeros((K, width), bool)
    for k, o in enumerate(option_ids):
        seq = P + list(o)
        tokens[k, :len(seq)] = seq
        mask[k, :len(seq)] = True
        target[k, len(P):len(seq)] = True
    logits = np.asarray(_forward(model, jnp.asarray(tokens), jnp.asarray(mask)), np.float64)
    # logits at position t predict token t+1
    pred = logits[:, :-1]                                        # (K, W-1, V)
    tgt = tokens[:, 1:]
    sel = target[:, 1:]
    l_tgt = np.take_along_axis(pred, tgt[..., None], -1)[..., 0]  # (K, W-1)
    logp = np.empty((T.size, K))
    for i, t in enumerate(T):
        lp = l_tgt / t - np.asarray(logsumexp(pred / t, axis=-1))
        logp[i] = np.where(sel, lp, 0.0).sum(-1)
    captured = np.exp(logsumexp(logp, axis=-1))
    p = np.exp(logp - logsumexp(logp, axis=-1, keepdims=True))
    low = captured < LOW_CAPTURED_MASS
    if np.any(low):
        warnings.warn(f"captured mass {captured[low].min():.3g} < {LOW_CAPTURED_MASS} at "
                      f"T={T[low].tolist()}: the renormalised distribution describes a rare "
                      "event (consider an answer prefix)", LowCapturedMass, stacklevel=2)
    return AnswerDistribution(T, logp, captured, p)


@jax.jit
def _jit_forward(graphdef_state, tokens, mask):
    from flax import nnx

    model = nnx.merge(*graphdef_state)
    return model(tokens, mask)


def _forward(model, tokens, mask):
    from flax import nnx

    return _jit_forward(nnx.split(model), tokens, mask)


def render_chat(template: str, user: str, assistant_prefix: str = "") -> str:
    """The chat prompt text (Jinja template from the model file) with an assistant prefill."""
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    text = env.from_string(template).render(
        messages=[{"role": "user", "content": user}], add_generation_prompt=True)
    return text + assistant_prefix
