"""Decoder families: one frozen :class:`Family` spec per family, in the registry :data:`FAMILIES`.

A spec says everything that differs between families, and every reader and writer of model
files takes it from here: the decoder's list of family names
(:data:`phasejax.probe.decoder.FAMILIES`), the Hugging Face ``model_type`` → family table and
the ``DecoderConfig`` switches (:mod:`~phasejax.probe.hf_loader`), the GGUF architectures and
llama.cpp's q/k layout (:mod:`~phasejax.probe.gguf_loader`), and the ``config.json`` written
back (:mod:`~phasejax.probe.hf_writer`).

What is shared by several families stays in those modules, keyed by :attr:`Family.layout`:

- ``"llama"``: the Llama-kind layout — ``model.layers.N.self_attn.q_proj`` … tensor names,
  RMSNorm, RoPE, gated SiLU MLP; its config read from transformers' ``hidden_size`` /
  ``num_attention_heads`` / ``rope_parameters`` … entries, and GGUF's ``blk.N.attn_q`` … tensors;
- ``"gpt2"``: GPT-2's layout — fused ``c_attn``, Conv1D ``(in, out)`` weights, LayerNorm,
  learned positions, GELU; its config read from ``n_embd`` / ``n_layer`` ….

Adding a family of the Llama kind whose switches the decoder already has (norm placement, q/k
norm, biases, sliding window) is one ``register(Family(...))`` below, plus its parity fixture
in ``tests/parity/make_reference.py``. This module imports no loader: the loaders import it.
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType
from typing import Any, Mapping, Optional

from phasejax.registry import Registry

# layouts the loaders and the writer know (their per-layout tables are keyed by these names)
LAYOUTS = ("llama", "gpt2")
GGUF_LAYOUTS = ("llama",)   # the layouts the GGUF loader reads
# how a sliding attention window appears in transformers' config.json (see Family.hf_window)
HF_WINDOWS = (None, "always", "layer_types")


@dataclasses.dataclass(frozen=True)
class Family:
    """One decoder family.

    - ``name``: the family, as in ``DecoderConfig.family``;
    - ``hf_model_types``: transformers ``model_type`` values read as this family (the first is
      the one :mod:`~phasejax.probe.hf_writer` writes);
    - ``hf_architecture``: the transformers model class written to ``architectures``;
    - ``layout``: the shared tensor-name rules and config reader (:data:`LAYOUTS`);
    - ``switches``: ``DecoderConfig`` keyword arguments fixed for the family, whatever the file
      (``post_norm``, ``qk_norm``, …), applied by every loader;
    - ``hf_switches``: keyword arguments fixed only when read from a Hugging Face config, for
      what transformers' config class does not state (Qwen2's q/k/v biases; a GGUF file shows
      its biases by its tensors). Biases not fixed here follow the config's ``attention_bias``;
    - ``hf_window``: how transformers' config states a sliding window: ``"always"`` (its
      ``sliding_window`` applies to every layer: Mistral), ``"layer_types"`` (only with every
      ``layer_types`` entry ``sliding_attention``, written with ``use_sliding_window``:
      Qwen2/3), or ``None`` (the loader still honours all-sliding ``layer_types``; the writer
      cannot write a window);
    - ``hf_config_extras``: entries the writer adds to ``config.json`` as they are;
    - ``gguf_arch``: the GGUF ``general.architecture`` read as this family, or ``None`` (not
      read from GGUF);
    - ``gguf_permuted_qk``: llama.cpp stored ``attn_q``/``attn_k`` rows permuted for its
      interleaved rotary layout (its ``llama`` converter does; ``qwen2`` and the others do not);
    - ``gguf_sliding_window``: a GGUF file of this architecture may carry
      ``attention.sliding_window`` (Mistral's files are written as ``llama``).
    """

    name: str
    hf_model_types: tuple
    hf_architecture: str
    layout: str = "llama"
    switches: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    hf_switches: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    hf_window: Optional[str] = None
    hf_config_extras: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    gguf_arch: Optional[str] = None
    gguf_permuted_qk: bool = False
    gguf_sliding_window: bool = False

    def __post_init__(self):
        problems = []
        if isinstance(self.hf_model_types, str) or not self.hf_model_types:
            problems.append(f"hf_model_types must be a non-empty tuple, got "
                            f"{self.hf_model_types!r}")
        if self.layout not in LAYOUTS:
            problems.append(f"layout {self.layout!r} not in {LAYOUTS}")
        if self.gguf_arch is not None and self.layout not in GGUF_LAYOUTS:
            problems.append(f"a GGUF architecture needs layout in {GGUF_LAYOUTS}, got "
                            f"{self.layout!r}")
        if self.hf_window not in HF_WINDOWS:
            problems.append(f"hf_window {self.hf_window!r} not in {HF_WINDOWS}")
        if problems:
            raise ValueError(f"invalid family {self.name!r}: " + "; ".join(problems))
        object.__setattr__(self, "hf_model_types", tuple(self.hf_model_types))
        for field in ("switches", "hf_switches", "hf_config_extras"):   # read-only copies
            object.__setattr__(self, field, MappingProxyType(dict(getattr(self, field))))

    @property
    def hf_model_type(self) -> str:
        """The ``model_type`` written to ``config.json`` (the first of :attr:`hf_model_types`)."""
        return self.hf_model_types[0]


FAMILIES = Registry("decoder family")     # name -> Family


def register(family: Family) -> Family:
    """Add ``family`` to :data:`FAMILIES`; a name, ``model_type`` or GGUF architecture already
    claimed by another family is an error. Families are registered in this module only, so
    that the tables the loaders derive at import are complete."""
    taken = {t: f.name for f in FAMILIES.values() for t in f.hf_model_types}
    archs = {f.gguf_arch: f.name for f in FAMILIES.values() if f.gguf_arch}
    clash = [f"model_type {t!r} ({taken[t]})" for t in family.hf_model_types if t in taken]
    if family.gguf_arch in archs:
        clash.append(f"GGUF architecture {family.gguf_arch!r} ({archs[family.gguf_arch]})")
    if family.name in FAMILIES:
        clash.append(f"name {family.name!r}")
    if clash:
        raise ValueError(f"family {family.name!r} claims what is taken: " + ", ".join(clash))
    FAMILIES.add(family.name, family)
    return family


def get(name: str) -> Family:
    """The spec of family ``name``; an unknown name is a ``ValueError`` naming the known ones."""
    return FAMILIES.lookup(name)


def by_model_type() -> dict[str, Family]:
    """Every transformers ``model_type`` read → its family's spec."""
    return {t: f for f in FAMILIES.values() for t in f.hf_model_types}


def by_gguf_arch() -> dict[str, Family]:
    """Every GGUF architecture read → its family's spec, in registration order."""
    return {f.gguf_arch: f for f in FAMILIES.values() if f.gguf_arch is not None}


# GPT-2: LayerNorm, learned positions, GELU(tanh) MLP, biases everywhere; Hugging Face only
register(Family("gpt2", ("gpt2",), "GPT2LMHeadModel", layout="gpt2"))

# Llama 2/3, SmolLM2: RMSNorm, RoPE (optionally linear or Llama-3 scaled), SiLU-gated MLP, no
# biases. llama.cpp writes Mistral models as architecture llama, sliding window included.
register(Family("llama", ("llama",), "LlamaForCausalLM", gguf_arch="llama",
                gguf_permuted_qk=True, gguf_sliding_window=True))

# Mistral: as llama, with a sliding attention window on every layer
register(Family("mistral", ("mistral",), "MistralForCausalLM", hf_window="always"))

# Qwen2: as llama, with q/k/v biases (and none on the output projection)
register(Family("qwen2", ("qwen2",), "Qwen2ForCausalLM",
                hf_switches=dict(qkv_bias=True, out_bias=False), hf_window="layer_types",
                gguf_arch="qwen2"))

# Qwen3: as llama, with an RMSNorm over each query/key head (head_dim)
register(Family("qwen3", ("qwen3",), "Qwen3ForCausalLM", switches=dict(qk_norm="head"),
                hf_window="layer_types", gguf_arch="qwen3"))

# OLMo-2: as llama, norms after attention and MLP, RMSNorm over the whole q/k projections
register(Family("olmo2", ("olmo2",), "Olmo2ForCausalLM",
                switches=dict(post_norm=True, qk_norm="full"), gguf_arch="olmo2"))
