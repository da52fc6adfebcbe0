"""Llama-family decoder in Flax NNX (Llama 2/3, Mistral, SmolLM2 share this layout).

``h₀ = embed(tokens)``; per block ``h += attn(rms(h))``, ``h += mlp(rms(h))``; logits from
the final RMSNorm through the (optionally tied) output matrix. Attention uses rotary position
embeddings in Hugging Face's *rotate-half* convention, grouped-query heads, a causal mask and
a padding mask (left padding: positions count only real tokens). Norms and softmax run in
float32 whatever the parameter dtype.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import jax
import jax.numpy as jnp
from flax import nnx


@dataclasses.dataclass(frozen=True)
class LlamaConfig:
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    rope_theta: float = 10000.0
    rms_eps: float = 1e-5
    tie_embeddings: bool = True
    max_position: int = 4096
    head_dim: Optional[int] = None

    @property
    def dim_head(self) -> int:
        return self.head_dim or self.hidden_size // self.num_heads

    def __post_init__(self):
        if self.num_heads % self.num_kv_heads:
            raise ValueError(f"num_heads={self.num_heads} is not a multiple of "
                             f"num_kv_heads={self.num_kv_heads}")


class RMSNorm(nnx.Module):
    def __init__(self, dim: int, eps: float, dtype=jnp.float32):
        self.weight = nnx.Param(jnp.ones((dim,), dtype))
        self.eps = eps

    def __call__(self, x):
        x32 = x.astype(jnp.float32)
        y = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, -1, keepdims=True) + self.eps)
        w = self.weight[...].astype(jnp.float32)
        return (y * w.reshape((1,) * (y.ndim - 1) + (-1,))).astype(x.dtype)


def rope_tables(positions, dim: int, theta: float):
    """cos, sin of shape ``(B, S, dim)`` for integer ``positions`` ``(B, S)``."""
    inv = 1.0 / (theta ** (jnp.arange(0, dim, 2, dtype=jnp.float32) / dim))
    ang = positions.astype(jnp.float32)[..., None] * inv[None, None, :]
    ang = jnp.concatenate([ang, ang], -1)
    return jnp.cos(ang), jnp.sin(ang)


def apply_rope(x, cos, sin):
    """``x * cos + rotate_half(x) * sin`` with ``x`` of shape ``(B, S, H, D)``."""
    half = x.shape[-1] // 2
    rot = jnp.concatenate([-x[..., half:], x[..., :half]], -1)
    return (x * cos[:, :, None, :] + rot * sin[:, :, None, :]).astype(x.dtype)


class Attention(nnx.Module):
    def __init__(self, c: LlamaConfig, rngs: nnx.Rngs, dtype=jnp.float32):
        d, h, kv = c.dim_head, c.num_heads, c.num_kv_heads
        lin = lambda i, o: nnx.Linear(i, o, use_bias=False, param_dtype=dtype, dtype=dtype,
                                      rngs=rngs)
        self.q_proj = lin(c.hidden_size, h * d)
        self.k_proj = lin(c.hidden_size, kv * d)
        self.v_proj = lin(c.hidden_size, kv * d)
        self.o_proj = lin(h * d, c.hidden_size)
        self.c = c

    def __call__(self, x, cos, sin, mask):
        B, S, _ = x.shape
        c = self.c
        d = c.dim_head
        q = self.q_proj(x).reshape(B, S, c.num_heads, d)
        k = self.k_proj(x).reshape(B, S, c.num_kv_heads, d)
        v = self.v_proj(x).reshape(B, S, c.num_kv_heads, d)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        rep = c.num_heads // c.num_kv_heads
        k = jnp.repeat(k, rep, axis=2)
        v = jnp.repeat(v, rep, axis=2)
        scores = jnp.einsum("bqhd,bkhd->bhqk", q.astype(jnp.float32), k.astype(jnp.float32))
        scores = scores / jnp.sqrt(jnp.float32(d))
        scores = jnp.where(mask[:, None, :, :], scores, jnp.float32(-1e30))
        w = jax.nn.softmax(scores, axis=-1).astype(x.dtype)
        out = jnp.einsum("bhqk,bkhd->bqhd", w, v).reshape(B, S, c.num_heads * d)
        return self.o_proj(out)


class MLP(nnx.Module):
    def __init__(self, c: LlamaConfig, rngs: nnx.Rngs, dtype=jnp.float32):
        lin = lambda i, o: nnx.Linear(i, o, use_bias=False, param_dtype=dtype, dtype=dtype,
                                      rngs=rngs)
        self.gate_proj = lin(c.hidden_size, c.intermediate_size)
        self.up_proj = lin(c.hidden_size, c.intermediate_size)
        self.down_proj = lin(c.intermediate_size, c.hidden_size)

    def __call__(self, x):
        return self.down_proj(jax.nn.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nnx.Module):
    def __init__(self, c: LlamaConfig, rngs: nnx.Rngs, dtype=jnp.float32):
        self.input_layernorm = RMSNorm(c.hidden_size, c.rms_eps, dtype)
        self.self_attn = Attention(c, rngs, dtype)
        self.post_attention_layernorm = RMSNorm(c.hidden_size, c.rms_eps, dtype)
        self.mlp = MLP(c, rngs, dtype)

    def __call__(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class Llama(nnx.Module):
    """Decoder-only Llama. ``__call__(tokens, attention_mask=None) -> logits (B, S, V)``."""

    def __init__(self, c: LlamaConfig, rngs: nnx.Rngs, dtype=jnp.float32):
        self.config = c
        self.embed_tokens = nnx.Embed(c.vocab_size, c.hidden_size, param_dtype=dtype,
                                      dtype=dtype, rngs=rngs)
        self.layers = nnx.List([Block(c, rngs, dtype) for _ in range(c.num_layers)])
        self.norm = RMSNorm(c.hidden_size, c.rms_eps, dtype)
        if not c.tie_embeddings:
            self.lm_head = nnx.Linear(c.hidden_size, c.vocab_size, use_bias=False,
                                      param_dtype=dtype, dtype=dtype, rngs=rngs)

    def __call__(self, tokens, attention_mask=None):
        B, S = tokens.shape
        if attention_mask is None:
            attention_mask = jnp.ones((B, S), bool)
        attention_mask = attention_mask.astype(bool)
        positions = jnp.maximum(jnp.cumsum(attention_mask, -1) - 1, 0)
        cos, sin = rope_tables(positions, self.config.dim_head, self.config.rope_theta)
        causal = jnp.tril(jnp.ones((S, S), bool))
        mask = causal[None] & attention_mask[:, None, :]
        x = self.embed_tokens(tokens)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        x = self.norm(x)
        if self.config.tie_embeddings:
            return self.embed_tokens.attend(x).astype(jnp.float32)
        return self.lm_head(x).astype(jnp.float32)
