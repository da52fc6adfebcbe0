r"""Exact answer distributions by teacher forcing, at every sampling temperature at once.

For a prompt ``P`` and options ``a_k`` (token ids of ``" option" + terminator``), one batched
forward pass over ``P ⊕ a_k`` gives every target token's logits ``ℓ_t``. Per-token
temperature sampling produces option ``k`` with probability

.. math:: p_T(a_k | P) = \\prod_t \\mathrm{softmax}(ℓ_t / T)[a_{k,t}],

so the logits of one pass serve every ``T``. With a *stop class* ``S`` (token ids that cannot continue
an answer: whitespace, punctuation, end of turn — :func:`stop_class`) the scored event is the
option's tokens followed by *any* stop token, still exact:

.. math:: p_T(a_k\,S | P) = p_T(a_k | P) \sum_{v ∈ S} \mathrm{softmax}(ℓ_{a_k}/T)_v,

the event a sampler actually produces (``" 7."``, ``" 7!"``, ``" 7<end of turn>"`` are one
answer), where a single terminator token captures a sliver of it. Options may then be token
prefixes of one another (``" 1"``, ``" 10"``) as long as the longer one continues with a
non-stop token. The *captured mass* ``Σ_k p_T(a_k | P)`` is the probability that sampling
lands on one of the options; the renormalised distribution
``p_T(a_k | P) / Σ_j p_T(a_j | P)`` is what the shared statistics read. A low captured mass
means the renormalised distribution describes a rare event, and is warned about.
``T → 0`` gives the greedy path's option (if it is one) and ``T → ∞`` the uniform
distribution over token paths, ``Π_t 1/V``.
"""

from __future__ import annotations

import warnings
from functools import partial
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from phasejax.checks import check_temperatures
from flax import nnx
from jax.scipy.special import logsumexp
from scipy.special import logsumexp as np_logsumexp

LOW_CAPTURED_MASS = 0.05


class LowCapturedMass(UserWarning):
    """Most of the model's probability falls outside the option set."""


class AnswerDistribution(NamedTuple):
    """Exact option probabilities after one prompt, at every temperature."""

    temperatures: np.ndarray    # (n_T,)
    log_prob: np.ndarray        # (n_T, K) log p_T(a_k | P), unnormalised over options
    captured: np.ndarray        # (n_T,) Σ_k p_T(a_k | P)
    p: np.ndarray               # (n_T, K) renormalised over the options


def check_options(option_ids: Sequence[Sequence[int]], stop_mask=None):
    """Token sequences must be non-empty and the scored events disjoint: no option a token
    prefix of another (with a stop class: unless the longer one continues with a token outside
    it, so that the shorter option's event excludes it)."""
    seqs = [tuple(o) for o in option_ids]
    if any(len(s) == 0 for s in seqs):
        raise ValueError("an option tokenizes to nothing")
    for i, a in enumerate(seqs):
        for j, b in enumerate(seqs):
            if stop_mask is not None and len(b) > len(a) and not stop_mask[b[len(a)]]:
                continue
            if i != j and b[:len(a)] == a:
                raise ValueError(f"option {i} {list(a)} is a token prefix of option {j} "
                                 f"{list(b)}: add a terminator so that one cannot swallow "
                                 "the other")


def bucket(n: int, step: int = 16) -> int:
    """Round widths up so that prompts of similar length share one compilation."""
    return max(step, -(-n // step) * step)


def stop_class(tokenizer) -> np.ndarray:
    """``(V,)`` bool: the tokens that cannot continue an answer — special tokens and tokens whose
    text (decoded alone) is empty or starts with neither a letter nor a digit (whitespace,
    punctuation, symbols). After ``" 7"`` the tokens ``"."``, ``" apples"``, ``"<|im_end|>"``
    end the answer; ``"0"`` and ``"th"`` continue it."""
    V = tokenizer.get_vocab_size(with_added_tokens=True)
    texts = tokenizer.decode_batch([[i] for i in range(V)], skip_special_tokens=False)
    special = {i for i, t in tokenizer.get_added_tokens_decoder().items() if t.special}
    return np.array([i in special or not t or not t[0].isalnum() for i, t in enumerate(texts)])


def score_prompts(model, prompts: Sequence[Sequence[int]], option_ids: Sequence[Sequence[int]],
                  temperatures=(1.0,), max_length: int | None = None,
                  max_rows: int = 512, stop_mask=None) -> list[AnswerDistribution]:
    """Exact option probabilities after each prompt, every temperature from one pass.

    Prompts are left-padded into a batch and run once into a KV cache; the cache is repeated for
    the ``K`` options, which then run as one ``(prompts·K, option width)`` chunk, so the prompt
    is read once per prompt, not once per option. At most ``max_rows`` option rows per call.
    ``stop_mask`` (``(V,)`` bool, :func:`stop_class`) scores each option followed by any stop
    token (the logits after an option's last token come from the same pass).
    """
    check_options(option_ids, stop_mask)
    T = check_temperatures(temperatures)
    prompts = [list(p) for p in prompts]
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("every prompt needs at least one token")
    config = getattr(model, "config", None)
    if max_length is None and config is not None:
        max_length = config.max_position
    K = len(option_ids)
    w_opt = max(len(o) for o in option_ids)
    longest = max(len(p) for p in prompts)
    if max_length is not None and longest + w_opt > max_length:
        raise ValueError(f"a prompt of {longest} tokens plus the longest option needs "
                         f"{longest + w_opt} positions; the model's context is {max_length}")
    w_prompt = bucket(longest)
    if max_length is not None:
        w_prompt = min(w_prompt, max_length - w_opt)
    opt = np.zeros((K, w_opt), np.int32)
    opt_mask = np.zeros((K, w_opt), bool)
    for k, o in enumerate(option_ids):
        opt[k, :len(o)] = o
        opt_mask[k, :len(o)] = True
    stop = (jnp.zeros((1,), bool) if stop_mask is None
            else jnp.asarray(np.asarray(stop_mask, bool)))
    per_call = max(1, min(len(prompts), max_rows // K))
    logp = []
    for start in range(0, len(prompts), per_call):
        chunk = prompts[start:start + per_call]
        toks = np.zeros((per_call, w_prompt), np.int32)
        mask = np.zeros((per_call, w_prompt), bool)
        for b, p in enumerate(chunk):
            toks[b, w_prompt - len(p):] = p
            mask[b, w_prompt - len(p):] = True
        for b in range(len(chunk), per_call):   # pad the last chunk: same shapes, no recompile
            toks[b], mask[b] = toks[0], mask[0]
        lp = _score_chunk(nnx.split(model), jnp.asarray(toks), jnp.asarray(mask),
                          jnp.asarray(opt), jnp.asarray(opt_mask),
                          jnp.asarray(T, jnp.float32), stop, use_stop=stop_mask is not None)
        logp.append(np.asarray(lp, np.float64)[:, :len(chunk)])
    logp = np.concatenate(logp, 1)                                  # (n_T, n_prompts, K)
    out = []
    for i in range(len(prompts)):
        lp = logp[:, i]
        captured = np.exp(np_logsumexp(lp, axis=-1))
        p = np.exp(lp - np_logsumexp(lp, axis=-1, keepdims=True))
        out.append(AnswerDistribution(T, lp, np.asarray(captured), np.asarray(p)))
    lowest = min(float(d.captured.min()) for d in out)
    if lowest < LOW_CAPTURED_MASS:
        warnings.warn(f"captured mass down to {lowest:.3g} < {LOW_CAPTURED_MASS}: the "
                      "renormalised distribution describes a rare event (consider an answer "
                      "prefix)", LowCapturedMass, stacklevel=2)
    return out


def score(model, prompt_ids: Sequence[int], option_ids: Sequence[Sequence[int]],
          temperatures=(1.0,), max_length: int | None = None,
          stop_mask=None) -> AnswerDistribution:
    """Exact option probabilities after one prompt at each temperature."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LowCapturedMass)
        (d,) = score_prompts(model, [prompt_ids], option_ids, temperatures, max_length,
                             stop_mask=stop_mask)
    for w in caught:
        warnings.warn(w.message, w.category, stacklevel=2)
    return d


@partial(jax.jit, static_argnames="use_stop")
def _score_chunk(graph_state, toks, mask, opt, opt_mask, temperatures, stop, *, use_stop):
    model = nnx.merge(*graph_state)
    B, K = toks.shape[0], opt.shape[0]
    cache = model.init_cache(B, toks.shape[1] + opt.shape[1])
    logits, cache = model(toks, mask, cache)
    last = logits[:, -1]                                            # (B, V) predicts token 0
    rows = jnp.tile(opt, (B, 1))                                    # row b·K + k: option k
    rows_mask = jnp.tile(opt_mask, (B, 1))
    out, _ = model(rows, rows_mask, cache.repeat(K))
    pred = jnp.concatenate([jnp.repeat(last, K, axis=0)[:, None], out[:, :-1]], 1)
    picked = jnp.take_along_axis(pred, rows[..., None], -1)[..., 0]  # (B·K, W)

    lens = rows_mask.sum(-1)                                        # (B·K,)
    after = jnp.take_along_axis(out, (lens - 1)[:, None, None], 1)[:, 0]   # logits after it

    def at(t):
        lp = picked / t - logsumexp(pred / t, axis=-1)
        lp = jnp.where(rows_mask, lp, 0.0).sum(-1)
        if use_stop:   # + ln Σ_{v ∈ S} softmax(ℓ/T)_v after the option's last token
            z = after / t
            lp = lp + logsumexp(jnp.where(stop, z, -jnp.inf), -1) - logsumexp(z, -1)
        return lp.reshape(B, K)

    return jax.lax.map(at, temperatures)                            # (n_T, B, K)
