"""Decoder-only transformers in Flax NNX: GPT-2 and the Llama family in one configurable module.

One block, switched by a frozen :class:`DecoderConfig`: norm kind and placement, learned or
rotary positions (rotary optionally linear or Llama-3 scaled), gated SiLU or GELU(tanh) MLP,
biases, q/k norm per head or over the whole projection, sliding window. Which switches each
family sets is said by its spec in :mod:`phasejax.probe.families`.

Pre-norm block: ``h += attn(norm₁(h))``; ``h += mlp(norm₂(h))``. Post-norm (OLMo-2):
``h += norm₁(attn(h))``; ``h += norm₂(mlp(h))``. Rotary embeddings use Hugging Face's
*rotate-half* layout. Norms, attention scores and softmax run in float32 whatever the
parameter dtype (float32 or bfloat16).

Every call takes an optional :class:`KVCache` of fixed capacity: new keys/values are written at
``cache.index`` and queries attend to every valid earlier slot. Fixed shapes mean one compilation
per (batch, chunk length, capacity), so prompt prefill, option scoring and token-by-token
sampling all reuse compiled code. Left padding is handled by the ``attention_mask``: positions
count only real tokens.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from phasejax.probe import families



@dataclasses.dataclass(frozen=True)
class DecoderConfig:
    """Architecture of one decoder. ``rope_scaling`` is a sorted tuple of ``(key, value)``."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: Optional[int] = None
    family: str = "llama"
    norm: str = "rms"                 # "rms" | "layer"
    norm_eps: float = 1e-5
    post_norm: bool = False           # OLMo-2 placement
    positions: str = "rope"           # "rope" | "learned"
    rope_theta: float = 10000.0
    rope_scaling: Optional[tuple] = None
    activation: str = "silu"          # "silu" (gated MLP) | "gelu_tanh" (plain MLP)
    qkv_bias: bool = False
    out_bias: bool = False
    mlp_bias: bool = False
    qk_norm: Optional[str] = None     # None | "head" (Qwen3) | "full" (OLMo-2)
    sliding_window: Optional[int] = None
    tie_embeddings: bool = True
    max_position: int = 4096

    @property
    def dim_head(self) -> int:
        """Width of one attention head (``head_dim``, else ``hidden_size / num_heads``)."""
        return self.head_dim or self.hidden_size // self.num_heads

    @property
    def gated(self) -> bool:
        """Whether the MLP is gated (SiLU/SwiGLU, the Llama family) rather than GELU (GPT-2)."""
        return self.activation == "silu"

    def __post_init__(self):
        problems = []
        if self.family not in families.FAMILIES:
            problems.append(f"family {self.family!r} not in {tuple(families.FAMILIES)}")
        if self.num_kv_heads <= 0 or self.num_heads % self.num_kv_heads:
            problems.append(f"num_heads={self.num_heads} is not a multiple of "
                            f"num_kv_heads={self.num_kv_heads}")
        if self.positions == "rope" and self.dim_head % 2:
            problems.append(f"rotary embeddings need an even head_dim, got {self.dim_head}")
        for name, value, allowed in [("norm", self.norm, ("rms", "layer")),
                                     ("positions", self.positions, ("rope", "learned")),
                                     ("activation", self.activation, ("silu", "gelu_tanh")),
                                     ("qk_norm", self.qk_norm, (None, "head", "full"))]:
            if value not in allowed:
                problems.append(f"{name}={value!r} not in {allowed}")
        if self.rope_scaling is not None:
            kind = dict(self.rope_scaling).get("rope_type", "default")
            if kind not in ("default", "linear", "llama3", "factors"):
                problems.append(f"rope scaling {kind!r} is not supported "
                                "(default, linear, llama3, factors)")
            elif kind == "factors":
                n = len(dict(self.rope_scaling)["factors"])
                if n != self.dim_head // 2:
                    problems.append(f"{n} rotary frequency factors for head_dim "
                                    f"{self.dim_head} (need head_dim / 2)")
        if problems:
            raise ValueError("invalid decoder config: " + "; ".join(problems))


def inverse_frequencies(c: DecoderConfig) -> np.ndarray:
    """Rotary inverse frequencies ``θ^(-2i/d)``, with linear or Llama-3 scaling applied, or
    divided by explicit per-frequency ``factors`` (a GGUF's ``rope_freqs`` tensor).

    Llama 3 divides the low frequencies (wavelength above ``original_max / low_freq_factor``)
    by ``factor``, keeps the high ones (wavelength below ``original_max / high_freq_factor``),
    and interpolates linearly in ``original_max / wavelength`` in between.
    """
    d = c.dim_head
    inv = 1.0 / (c.rope_theta ** (np.arange(0, d, 2, dtype=np.float64) / d))
    s = dict(c.rope_scaling or ())
    kind = s.get("rope_type", "default")
    if kind == "linear":
        inv = inv / s["factor"]
    elif kind == "factors":
        inv = inv / np.asarray(s["factors"], np.float64)
    elif kind == "llama3":
        factor, lo, hi = s["factor"], s["low_freq_factor"], s["high_freq_factor"]
        old = s["original_max_position_embeddings"]
        wavelen = 2 * math.pi / inv
        scaled = np.where(wavelen > old / lo, inv / factor, inv)
        smooth = (old / wavelen - lo) / (hi - lo)
        medium = (wavelen >= old / hi) & (wavelen <= old / lo)
        inv = np.where(medium, (1 - smooth) * scaled / factor + smooth * scaled, scaled)
    return inv.astype(np.float32)


def apply_rope(x, cos, sin):
    """``x·cos + rotate_half(x)·sin`` for ``x`` of shape ``(B, S, H, D)``, tables ``(B, S, D)``."""
    half = x.shape[-1] // 2
    rot = jnp.concatenate([-x[..., half:], x[..., :half]], -1)
    xf = x.astype(jnp.float32)
    rotf = rot.astype(jnp.float32)
    return (xf * cos[:, :, None, :] + rotf * sin[:, :, None, :]).astype(x.dtype)


class KVCache(NamedTuple):
    """Keys and values of every layer, written chunk by chunk at ``index``."""

    k: jax.Array          # (layers, B, capacity, kv_heads, head_dim)
    v: jax.Array          # (layers, B, capacity, kv_heads, head_dim)
    valid: jax.Array      # (B, capacity) bool: slot holds a real token
    position: jax.Array   # (B, capacity) int32 position id of each slot
    index: jax.Array      # () int32 next free slot
    next_position: jax.Array  # (B,) int32 position id of the next real token

    @classmethod
    def empty(cls, c: DecoderConfig, batch: int, capacity: int, dtype=jnp.float32):
        """An empty cache of ``capacity`` slots for ``batch`` rows."""
        shape = (c.num_layers, batch, capacity, c.num_kv_heads, c.dim_head)
        return cls(jnp.zeros(shape, dtype), jnp.zeros(shape, dtype),
                   jnp.zeros((batch, capacity), bool), jnp.zeros((batch, capacity), jnp.int32),
                   jnp.zeros((), jnp.int32), jnp.zeros((batch,), jnp.int32))

    def repeat(self, n: int) -> "KVCache":
        """Each row repeated ``n`` times (row-major): a shared prefix for ``n`` continuations."""
        rep = lambda a, axis: jnp.repeat(a, n, axis=axis)
        return KVCache(rep(self.k, 1), rep(self.v, 1), rep(self.valid, 0),
                       rep(self.position, 0), self.index, rep(self.next_position, 0))


class Norm(nnx.Module):
    """RMSNorm (``x / rms(x) · w``) or LayerNorm (``(x − μ)/σ · w + b``), computed in float32."""

    def __init__(self, dim: int, eps: float, kind: str = "rms", dtype=jnp.float32):
        self.weight = nnx.Param(jnp.ones((dim,), dtype))
        if kind == "layer":
            self.bias = nnx.Param(jnp.zeros((dim,), dtype))
        self.eps = eps
        self.kind = kind

    def __call__(self, x):
        xf = x.astype(jnp.float32)
        if self.kind == "layer":
            xf = xf - jnp.mean(xf, -1, keepdims=True)
        y = xf * jax.lax.rsqrt(jnp.mean(xf * xf, -1, keepdims=True) + self.eps)
        shape = (1,) * (y.ndim - 1) + (-1,)
        y = y * self.weight[...].astype(jnp.float32).reshape(shape)
        if self.kind == "layer":
            y = y + self.bias[...].astype(jnp.float32).reshape(shape)
        return y.astype(x.dtype)


class LoRAWeight(nnx.Variable):
    """A low-rank adapter factor: trained under LoRA, never part of the saved parameters."""


class Linear(nnx.Linear):
    """``nnx.Linear``, plus the low-rank update ``y += (α/r)·(x A) B`` (``A``: in × r, ``B``:
    r × out, float32) when :mod:`phasejax.train.lora` attaches ``lora_a``, ``lora_b`` and
    ``lora_scale`` (to a copy of the model; plain models have none). Applied this way, the
    backward pass forms gradients of ``A`` and ``B`` only — never an in × out one."""

    def __call__(self, x):
        y = super().__call__(x)
        a = getattr(self, "lora_a", None)
        if a is None:
            return y
        delta = (x.astype(jnp.float32) @ a[...]) @ self.lora_b[...]
        return (y.astype(jnp.float32) + self.lora_scale * delta).astype(y.dtype)


def _linear(i, o, bias, rngs, dtype):
    return Linear(i, o, use_bias=bias, param_dtype=dtype, dtype=dtype, rngs=rngs)


class Attention(nnx.Module):
    """Multi-head attention with grouped key/value heads, optional query/key norm and rotary
    positions: ``softmax(q kᵀ/√d + mask) v`` per head.
    """

    def __init__(self, c: DecoderConfig, rngs: nnx.Rngs, dtype=jnp.float32):
        d, h, kv = c.dim_head, c.num_heads, c.num_kv_heads
        self.q_proj = _linear(c.hidden_size, h * d, c.qkv_bias, rngs, dtype)
        self.k_proj = _linear(c.hidden_size, kv * d, c.qkv_bias, rngs, dtype)
        self.v_proj = _linear(c.hidden_size, kv * d, c.qkv_bias, rngs, dtype)
        self.o_proj = _linear(h * d, c.hidden_size, c.out_bias, rngs, dtype)
        if c.qk_norm == "head":
            self.q_norm = Norm(d, c.norm_eps, "rms", dtype)
            self.k_norm = Norm(d, c.norm_eps, "rms", dtype)
        elif c.qk_norm == "full":
            self.q_norm = Norm(h * d, c.norm_eps, "rms", dtype)
            self.k_norm = Norm(kv * d, c.norm_eps, "rms", dtype)
        self.c = c

    def __call__(self, x, rope, keys_values, attend):
        """``keys_values(k, v) -> (K, V)`` merges this chunk with the cache (or not)."""
        B, S, _ = x.shape
        c = self.c
        d = c.dim_head
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        if c.qk_norm == "full":
            q, k = self.q_norm(q), self.k_norm(k)
        q = q.reshape(B, S, c.num_heads, d)
        k = k.reshape(B, S, c.num_kv_heads, d)
        v = v.reshape(B, S, c.num_kv_heads, d)
        if c.qk_norm == "head":
            q, k = self.q_norm(q), self.k_norm(k)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        K, V = keys_values(k, v)
        rep = c.num_heads // c.num_kv_heads
        qg = q.reshape(B, S, c.num_kv_heads, rep, d).astype(jnp.float32)
        scores = jnp.einsum("bqgrd,bkgd->bgrqk", qg, K.astype(jnp.float32))
        scores = scores * jnp.float32(1.0 / math.sqrt(d))
        scores = jnp.where(attend[:, None, None], scores, jnp.float32(-1e30))
        w = jax.nn.softmax(scores, axis=-1)
        out = jnp.einsum("bgrqk,bkgd->bqgrd", w, V.astype(jnp.float32)).astype(x.dtype)
        return self.o_proj(out.reshape(B, S, c.num_heads * d))


class MLP(nnx.Module):
    """Feed-forward block: ``down(silu(gate(x)) ⊙ up(x))`` when gated, else
    ``down(gelu(up(x)))``."""

    def __init__(self, c: DecoderConfig, rngs: nnx.Rngs, dtype=jnp.float32):
        if c.gated:
            self.gate_proj = _linear(c.hidden_size, c.intermediate_size, c.mlp_bias, rngs, dtype)
        self.up_proj = _linear(c.hidden_size, c.intermediate_size, c.mlp_bias, rngs, dtype)
        self.down_proj = _linear(c.intermediate_size, c.hidden_size, c.mlp_bias, rngs, dtype)
        self.gated = c.gated

    def __call__(self, x):
        if self.gated:
            return self.down_proj(jax.nn.silu(self.gate_proj(x)) * self.up_proj(x))
        return self.down_proj(jax.nn.gelu(self.up_proj(x), approximate=True))


class Block(nnx.Module):
    """One transformer layer: pre-norm ``x + attn(norm x)``, ``x + mlp(norm x)`` (post-norm for
    OLMo-2: ``x + norm(attn x)``, ``x + norm(mlp x)``).
    """

    def __init__(self, c: DecoderConfig, rngs: nnx.Rngs, dtype=jnp.float32):
        if not c.post_norm:
            self.input_layernorm = Norm(c.hidden_size, c.norm_eps, c.norm, dtype)
        self.self_attn = Attention(c, rngs, dtype)
        self.post_attention_layernorm = Norm(c.hidden_size, c.norm_eps, c.norm, dtype)
        self.mlp = MLP(c, rngs, dtype)
        if c.post_norm:
            self.post_feedforward_layernorm = Norm(c.hidden_size, c.norm_eps, c.norm, dtype)
        self.post_norm = c.post_norm

    def __call__(self, x, rope, keys_values, attend):
        if self.post_norm:
            x = x + self.post_attention_layernorm(self.self_attn(x, rope, keys_values, attend))
            return x + self.post_feedforward_layernorm(self.mlp(x))
        x = x + self.self_attn(self.input_layernorm(x), rope, keys_values, attend)
        return x + self.mlp(self.post_attention_layernorm(x))


class Decoder(nnx.Module):
    """``__call__(tokens, attention_mask=None, cache=None)``.

    Returns float32 logits ``(B, S, V)``, or ``(logits, cache)`` when a cache is given.
    """

    def __init__(self, c: DecoderConfig, rngs: nnx.Rngs, dtype=jnp.float32):
        self.config = c
        self.dtype = dtype
        self.embed_tokens = nnx.Embed(c.vocab_size, c.hidden_size, param_dtype=dtype,
                                      dtype=dtype, rngs=rngs)
        if c.positions == "learned":
            self.embed_positions = nnx.Embed(c.max_position, c.hidden_size, param_dtype=dtype,
                                             dtype=dtype, rngs=rngs)
        self.layers = nnx.List([Block(c, rngs, dtype) for _ in range(c.num_layers)])
        self.norm = Norm(c.hidden_size, c.norm_eps, c.norm, dtype)
        if not c.tie_embeddings:
            self.lm_head = _linear(c.hidden_size, c.vocab_size, False, rngs, dtype)

    def init_cache(self, batch: int, capacity: int) -> KVCache:
        """An empty :class:`KVCache` for ``batch`` rows of ``capacity`` tokens."""
        return KVCache.empty(self.config, batch, capacity, self.dtype)

    def __call__(self, tokens, attention_mask=None, cache: KVCache | None = None):
        c = self.config
        B, S = tokens.shape
        mask = (jnp.ones((B, S), bool) if attention_mask is None
                else attention_mask.astype(bool))
        start = jnp.zeros((B,), jnp.int32) if cache is None else cache.next_position
        positions = start[:, None] + jnp.maximum(jnp.cumsum(mask, -1, dtype=jnp.int32) - 1, 0)
        positions = jnp.where(mask, positions, 0)
        if cache is None:
            key_valid, key_pos, key_slot, q_slot = mask, positions, jnp.arange(S), jnp.arange(S)
        else:
            idx = cache.index
            key_valid = jax.lax.dynamic_update_slice(cache.valid, mask, (0, idx))
            key_pos = jax.lax.dynamic_update_slice(cache.position, positions, (0, idx))
            key_slot = jnp.arange(cache.valid.shape[1])
            q_slot = idx + jnp.arange(S)
        attend = (key_slot[None, None, :] <= q_slot[None, :, None]) & key_valid[:, None, :]
        if c.sliding_window is not None:
            attend &= positions[:, :, None] - key_pos[:, None, :] < c.sliding_window
        x = self.embed_tokens(tokens)
        rope = None
        if c.positions == "rope":
            inv = jnp.asarray(inverse_frequencies(c))
            ang = positions.astype(jnp.float32)[..., None] * inv[None, None]
            ang = jnp.concatenate([ang, ang], -1)
            rope = (jnp.cos(ang), jnp.sin(ang))
        else:
            x = x + self.embed_positions(positions)
        ck = cv = None
        if cache is not None:
            ck, cv = cache.k, cache.v
        for i, layer in enumerate(self.layers):
            if cache is None:
                kv = lambda k, v: (k, v)
            else:
                def kv(k, v, i=i):
                    # write into the stacked buffers in place; read back this layer's slice
                    nonlocal ck, cv
                    at = (i, 0, cache.index, 0, 0)
                    ck = jax.lax.dynamic_update_slice(ck, k.astype(ck.dtype)[None], at)
                    cv = jax.lax.dynamic_update_slice(cv, v.astype(cv.dtype)[None], at)
                    return ck[i], cv[i]
            x = layer(x, rope, kv, attend)
        x = self.norm(x)
        if c.tie_embeddings:
            logits = self.embed_tokens.attend(x).astype(jnp.float32)
        else:
            logits = self.lm_head(x).astype(jnp.float32)
        if cache is None:
            return logits
        new = KVCache(ck, cv, key_valid, key_pos,
                      cache.index + S, start + mask.sum(-1, dtype=jnp.int32))
        return logits, new
