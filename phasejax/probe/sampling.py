"""Jit-compiled generation: temperature, top-k, top-p; reproducible by key.

One step turns the last logits ``ℓ`` into a token: ``ℓ/T`` (``T = 0`` is greedy), keep the
``top_k`` largest (0 keeps all), keep the smallest set of most probable tokens whose mass
reaches ``top_p``, sample. Prompts are prefilled once into a KV cache and the cache is repeated
for every sample, so ``n`` samples per prompt cost ``n`` token-steps each, not ``n`` prompt reads.
A row stops at its first stop token; later positions hold ``pad_id``.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from phasejax.probe.scoring import bucket


class Generation(NamedTuple):
    """Sampled continuations of every prompt (host arrays)."""

    tokens: np.ndarray     # (n_prompts, n_samples, max_new) int32; pad_id after the stop
    length: np.ndarray     # (n_prompts, n_samples) tokens generated, stop token included
    finished: np.ndarray   # (n_prompts, n_samples) bool: a stop token was produced


def filter_logits(logits, temperature, top_k: int = 0, top_p=1.0):
    """Logits after temperature, top-k and top-p (``-inf`` outside the kept set)."""
    neg = jnp.float32(-jnp.inf)
    z = logits / jnp.maximum(temperature, jnp.float32(1e-30))
    if top_k:
        kth = jax.lax.top_k(z, top_k)[0][..., -1:]
        z = jnp.where(z < kth, neg, z)
    order = jnp.argsort(-z, axis=-1)
    zs = jnp.take_along_axis(z, order, -1)
    ps = jax.nn.softmax(zs, axis=-1)
    before = jnp.cumsum(ps, -1) - ps                 # mass of strictly more probable tokens
    keep_sorted = before < top_p
    keep = jnp.zeros_like(keep_sorted).at[
        jnp.arange(z.shape[0])[:, None], order].set(keep_sorted)
    return jnp.where(keep | (top_p >= 1.0), z, neg)


def sample_token(key, logits, temperature, top_k: int = 0, top_p=1.0, filtered: bool = True):
    """One token per row by inverting the CDF with one uniform; greedy where ``T == 0``.

    ``filtered=False`` skips the top-k/top-p sort (plain temperature sampling).
    """
    z = (filter_logits(logits, temperature, top_k, top_p) if filtered
         else logits / jnp.maximum(temperature, jnp.float32(1e-30)))
    w = jnp.exp(z - jnp.max(z, -1, keepdims=True))
    cdf = jnp.cumsum(w, -1)
    u = jax.random.uniform(key, (logits.shape[0], 1), jnp.float32) * cdf[:, -1:]
    drawn = jnp.minimum(jnp.sum(cdf <= u, -1), logits.shape[-1] - 1)
    return jnp.where(temperature > 0, drawn, jnp.argmax(logits, -1)).astype(jnp.int32)


@partial(jax.jit, static_argnames=("max_new", "n_samples", "top_k", "filtered"))
def _generate(graph_state, key, toks, mask, temperature, top_p, stop, pad_id, bias, *, max_new,
              n_samples, top_k, filtered):
    model = nnx.merge(*graph_state)
    B = toks.shape[0]
    cache = model.init_cache(B, toks.shape[1] + max_new)
    logits, cache = model(toks, mask, cache)
    last = jnp.repeat(logits[:, -1], n_samples, axis=0)
    bias = bias.astype(last.dtype)
    cache = cache.repeat(n_samples)
    rows = B * n_samples

    def step(carry, t):
        last, cache, done = carry
        tok = sample_token(jax.random.fold_in(key, t), last + bias[None, :], temperature,
                           top_k, top_p, filtered)
        tok = jnp.where(done, pad_id, tok)
        live = ~done
        done = done | jnp.isin(tok, stop)
        out, cache = model(tok[:, None], live[:, None], cache)
        return (out[:, 0], cache, done), (tok, live)

    (_, _, done), (tokens, live) = jax.lax.scan(
        step, (last, cache, jnp.zeros((rows,), bool)), jnp.arange(max_new))
    return tokens.T, live.sum(0), done


def generate(key, model, prompts: Sequence[Sequence[int]], max_new_tokens: int,
             temperature=1.0, top_k: int = 0, top_p=1.0, stop_ids: Sequence[int] = (),
             n_samples: int = 1, pad_id: int = 0, max_rows: int = 1024,
             banned_ids: Sequence[int] = ()) -> Generation:
    """``n_samples`` continuations of each prompt (left-padded, cached, one compilation).

    Rows are processed in chunks of at most ``max_rows``; chunk ``c`` uses ``fold_in(key, c)``,
    so results depend only on the key and the arguments.

    Args:
      key: JAX PRNG key; the samples are a deterministic function of it.
      model: a decoder (:class:`phasejax.probe.decoder.Decoder`).
      prompts: token ids of each prompt.
      max_new_tokens: tokens generated per row.
      temperature: softmax temperature (``0``: greedy).
      top_k: keep the ``top_k`` most likely tokens (``0``: all).
      top_p: nucleus sampling mass (``1``: off).
      stop_ids: tokens that end a row.
      n_samples: continuations per prompt.
      pad_id: token written after a row has stopped.
      max_rows: rows per compiled call.
      banned_ids: tokens that are never sampled (their logits are ``-inf``): sampling is then
        conditioned on not producing them, step by step (e.g. every special token, so free
        generation never ends).

    Returns:
      A :class:`Generation` with arrays of shape ``(prompts, n_samples, …)``.
    """
    if max_new_tokens < 1 or n_samples < 1:
        raise ValueError("max_new_tokens and n_samples must be positive")
    if not 0 < top_p <= 1 or temperature < 0 or top_k < 0:
        raise ValueError(f"need temperature >= 0, top_k >= 0, 0 < top_p <= 1; got "
                         f"{temperature}, {top_k}, {top_p}")
    prompts = [list(p) for p in prompts]
    longest = max(len(p) for p in prompts)
    limit = model.config.max_position
    if longest + max_new_tokens > limit:
        raise ValueError(f"a prompt of {longest} tokens plus {max_new_tokens} new tokens "
                         f"exceeds the model's context of {limit}")
    width = min(bucket(longest), limit - max_new_tokens)
    per_call = max(1, min(len(prompts), max_rows // n_samples))
    samples = min(n_samples, max_rows)
    stop = jnp.asarray(list(stop_ids) or [-1], jnp.int32)
    V = model.config.vocab_size
    banned = np.asarray(list(banned_ids), np.int64)
    if banned.size and (banned.min() < 0 or banned.max() >= V):
        raise ValueError(f"banned_ids must lie in [0, {V}); got [{banned.min()}, {banned.max()}]")
    bias = np.zeros(V, np.float32)
    bias[banned] = -np.inf
    if banned.size >= V:
        raise ValueError("banned_ids ban the whole vocabulary: nothing could be sampled")
    bias = jnp.asarray(bias)
    graph_state = nnx.split(model)
    toks_all = np.zeros((len(prompts), n_samples, max_new_tokens), np.int32)
    length = np.zeros((len(prompts), n_samples), np.int64)
    done = np.zeros((len(prompts), n_samples), bool)
    chunk = 0
    for p0 in range(0, len(prompts), per_call):
        group = prompts[p0:p0 + per_call]
        toks = np.zeros((per_call, width), np.int32)
        mask = np.zeros((per_call, width), bool)
        for b in range(per_call):
            p = group[min(b, len(group) - 1)]
            toks[b, width - len(p):] = p
            mask[b, width - len(p):] = True
        for s0 in range(0, n_samples, samples):
            t, n, d = _generate(graph_state, jax.random.fold_in(key, chunk), jnp.asarray(toks),
                                jnp.asarray(mask), jnp.float32(temperature),
                                jnp.float32(top_p), stop, jnp.int32(pad_id), bias,
                                max_new=max_new_tokens, n_samples=samples, top_k=top_k,
                                filtered=bool(top_k) or top_p < 1.0)
            chunk += 1
            take = min(samples, n_samples - s0)
            shape = (per_call, samples)
            t = np.asarray(t).reshape(*shape, max_new_tokens)[:len(group), :take]
            toks_all[p0:p0 + len(group), s0:s0 + take] = t
            length[p0:p0 + len(group), s0:s0 + take] = np.asarray(n).reshape(shape)[
                :len(group), :take]
            done[p0:p0 + len(group), s0:s0 + take] = np.asarray(d).reshape(shape)[
                :len(group), :take]
    return Generation(toks_all, length, done)


def match_options(tokens: np.ndarray, option_ids: Sequence[Sequence[int]]) -> np.ndarray:
    """Index of the option each generated row starts with, ``-1`` for anything else."""
    tokens = np.asarray(tokens)
    out = np.full(tokens.shape[:-1], -1, np.int64)
    for k, o in enumerate(option_ids):
        o = np.asarray(o)
        if len(o) <= tokens.shape[-1]:
            hit = np.all(tokens[..., :len(o)] == o, axis=-1)
            out = np.where(hit & (out < 0), k, out)
    return out


def decode(tokenizer, generation: Generation) -> list[list[str]]:
    """Generated text per prompt and sample (stop and padding removed)."""
    return [[tokenizer.decode([int(t) for t in row[:n]], skip_special_tokens=True)
             for row, n in zip(rows, lens)]
            for rows, lens in zip(generation.tokens, generation.length)]
