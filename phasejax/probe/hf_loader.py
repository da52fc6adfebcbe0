"""Load a local Hugging Face model folder into the Flax decoder, without torch.

A folder holds ``config.json``, the weights (``model.safetensors``, or shards listed by
``model.safetensors.index.json``), ``tokenizer.json`` and a chat template (``chat_template.jinja``
or the ``chat_template`` entry of ``tokenizer_config.json``).

``config.json`` is read by ``transformers.AutoConfig`` (torch-free, no code from the folder runs),
so every value the file omits takes transformers' own default for that architecture (Qwen3's
``head_dim`` = 128, Mistral's 8 key/value heads and 4096-token window, …), exactly as the
reference implementation would build the model. Weights are read lazily into an abstractly
built module (:func:`phasejax.probe.weights.build`).

The folder is untrusted data: before anything is parsed, every file in it and every file name
its JSON gives is checked to stay inside it, and every text file to be of a sane size
(:mod:`phasejax.probe.model_folder`).
"""

from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
from flax import nnx

from phasejax.probe import families, safetensors_io
from phasejax.probe.chat_template import SPECIAL_TOKEN_NAMES, check_template
from phasejax.probe.decoder import Decoder, DecoderConfig
from phasejax.probe.model_folder import check_folder, check_size, inside, read_json, read_text
from phasejax.probe.weights import ModelFileError, Rule, build, identity, split, transpose

# transformers' model_type -> decoder family (from the registry)
MODEL_TYPES = {t: f.name for t, f in families.by_model_type().items()}

_LLAMA_RULES = [
    Rule(r"model\.embed_tokens\.weight", ("embed_tokens.embedding",), identity),
    Rule(r"model\.norm\.weight", ("norm.weight",), identity),
    Rule(r"model\.layers\.(\d+)\.(input_layernorm|post_attention_layernorm|"
         r"post_feedforward_layernorm)\.weight", ("layers.{0}.{1}.weight",), identity),
    Rule(r"model\.layers\.(\d+)\.self_attn\.([qkvo]_proj)\.weight",
         ("layers.{0}.self_attn.{1}.kernel",), transpose),
    Rule(r"model\.layers\.(\d+)\.self_attn\.([qkvo]_proj)\.bias",
         ("layers.{0}.self_attn.{1}.bias",), identity),
    Rule(r"model\.layers\.(\d+)\.self_attn\.([qk]_norm)\.weight",
         ("layers.{0}.self_attn.{1}.weight",), identity),
    Rule(r"model\.layers\.(\d+)\.mlp\.(gate_proj|up_proj|down_proj)\.weight",
         ("layers.{0}.mlp.{1}.kernel",), transpose),
    Rule(r"model\.layers\.(\d+)\.mlp\.(gate_proj|up_proj|down_proj)\.bias",
         ("layers.{0}.mlp.{1}.bias",), identity),
    Rule(r"model\.rotary_emb\.inv_freq|model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq",
         (), identity),
]

_T = r"(?:transformer\.)?"
_GPT2_RULES = [   # GPT-2 stores Conv1D weights as (in, out): already Flax's kernel layout
    Rule(_T + r"wte\.weight", ("embed_tokens.embedding",), identity),
    Rule(_T + r"wpe\.weight", ("embed_positions.embedding",), identity),
    Rule(_T + r"ln_f\.(weight|bias)", ("norm.{0}",), identity),
    Rule(_T + r"h\.(\d+)\.ln_1\.(weight|bias)", ("layers.{0}.input_layernorm.{1}",), identity),
    Rule(_T + r"h\.(\d+)\.ln_2\.(weight|bias)", ("layers.{0}.post_attention_layernorm.{1}",),
         identity),
    Rule(_T + r"h\.(\d+)\.attn\.c_attn\.weight",
         tuple(f"layers.{{0}}.self_attn.{p}_proj.kernel" for p in "qkv"), split(3, 1)),
    Rule(_T + r"h\.(\d+)\.attn\.c_attn\.bias",
         tuple(f"layers.{{0}}.self_attn.{p}_proj.bias" for p in "qkv"), split(3, 0)),
    Rule(_T + r"h\.(\d+)\.attn\.c_proj\.weight", ("layers.{0}.self_attn.o_proj.kernel",),
         identity),
    Rule(_T + r"h\.(\d+)\.attn\.c_proj\.bias", ("layers.{0}.self_attn.o_proj.bias",), identity),
    Rule(_T + r"h\.(\d+)\.mlp\.c_fc\.weight", ("layers.{0}.mlp.up_proj.kernel",), identity),
    Rule(_T + r"h\.(\d+)\.mlp\.c_fc\.bias", ("layers.{0}.mlp.up_proj.bias",), identity),
    Rule(_T + r"h\.(\d+)\.mlp\.c_proj\.weight", ("layers.{0}.mlp.down_proj.kernel",), identity),
    Rule(_T + r"h\.(\d+)\.mlp\.c_proj\.bias", ("layers.{0}.mlp.down_proj.bias",), identity),
    Rule(_T + r"h\.\d+\.attn\.(masked_)?bias", (), identity),   # causal-mask buffers
]


# each layout's tensor-name rules (families.LAYOUTS)
RULES = {"llama": _LLAMA_RULES, "gpt2": _GPT2_RULES}


def rules_for(c: DecoderConfig) -> list[Rule]:
    """The weight-mapping rules (Hugging Face tensor names → decoder paths) for config ``c``:
    its family's layout's table, and ``lm_head`` as the config ties it or not."""
    rules = [r for r in RULES[families.get(c.family).layout]
             if not r.pattern.startswith("lm_head")]
    # tied checkpoints may still carry a copy of the embedding as lm_head
    rules.append(Rule(r"lm_head\.weight", () if c.tie_embeddings else ("lm_head.kernel",),
                      transpose))
    return rules


def read_config(folder: Path):
    """``transformers.AutoConfig.from_pretrained(folder)`` (local files only, no remote code),
    with every failure turned into one error naming ``config.json``."""
    from transformers import AutoConfig

    path = Path(folder) / "config.json"
    if not path.is_file():
        raise ModelFileError(f"{folder}: config.json is missing")
    raw = read_json(path)
    if not isinstance(raw, dict):
        raise ModelFileError(f"{path}: expected a JSON object, got {type(raw).__name__}")
    if raw.get("model_type") not in MODEL_TYPES:
        raise _unsupported(path, raw.get("model_type"))
    try:
        return AutoConfig.from_pretrained(str(folder), local_files_only=True,
                                          trust_remote_code=False)
    except Exception as e:  # transformers raises OSError, ValueError, TypeError, …
        raise ModelFileError(f"{path}: transformers cannot read it "
                             f"({type(e).__name__}: {e})") from None


def _rope(hc):
    """``(theta, scaling)`` from a transformers config (v5 ``rope_parameters``, or the legacy
    ``rope_theta`` + ``rope_scaling`` it converts)."""
    params = dict(getattr(hc, "rope_parameters", None) or getattr(hc, "rope_scaling", None)
                  or {})
    theta = params.pop("rope_theta", getattr(hc, "rope_theta", None))
    theta = 10000.0 if theta is None else float(theta)
    legacy = params.pop("type", "default")
    kind = params.pop("rope_type", legacy)
    if kind == "default":
        return theta, None
    return theta, tuple(sorted({**params, "rope_type": kind}.items()))


def _unsupported(source, model_type):
    return ModelFileError(f"{source}: model_type {model_type!r} is not supported "
                          f"(supported: {sorted(MODEL_TYPES)})")


def _gpt2_config(cfg, spec: families.Family, source) -> DecoderConfig:
    """GPT-2's layout: ``n_embd``, ``n_layer``, … (LayerNorm, learned positions, GELU(tanh),
    biases everywhere)."""
    g = lambda name, default=None: getattr(cfg, name, default)
    act = g("activation_function")
    if act not in ("gelu_new", "gelu_pytorch_tanh"):
        raise ModelFileError(f"{source}: GPT-2 activation {act!r} is not supported")
    if not g("scale_attn_weights", True) or g("scale_attn_by_inverse_layer_idx"):
        raise ModelFileError(f"{source}: GPT-2 attention scaling other than 1/√d "
                             "(scale_attn_weights / scale_attn_by_inverse_layer_idx) "
                             "is not supported")
    d = cfg.n_embd
    kw = dict(vocab_size=cfg.vocab_size, hidden_size=d,
              intermediate_size=g("n_inner") or 4 * d, num_layers=cfg.n_layer,
              num_heads=cfg.n_head, num_kv_heads=cfg.n_head, norm="layer",
              norm_eps=cfg.layer_norm_epsilon, positions="learned",
              activation="gelu_tanh", qkv_bias=True, out_bias=True, mlp_bias=True,
              tie_embeddings=bool(cfg.tie_word_embeddings), max_position=cfg.n_positions)
    return DecoderConfig(family=spec.name, **{**kw, **spec.switches, **spec.hf_switches})


def _llama_config(cfg, spec: families.Family, source) -> DecoderConfig:
    """The Llama-kind layout: ``hidden_size``, ``num_attention_heads``, ``rope_parameters``, …,
    with the family's switches."""
    g = lambda name, default=None: getattr(cfg, name, default)
    if g("hidden_act") != "silu":
        raise ModelFileError(f"{source}: activation {g('hidden_act')!r} is not supported")
    kinds = set(g("layer_types") or ())
    window = g("sliding_window") if spec.hf_window == "always" else None
    if kinds - {"full_attention"}:
        if kinds != {"sliding_attention"}:
            raise ModelFileError(f"{source}: per-layer sliding windows are not supported "
                                 f"(layer_types {sorted(kinds)})")
        window = g("sliding_window")
    theta, scaling = _rope(cfg)
    heads = cfg.num_attention_heads
    bias = bool(g("attention_bias", False))
    kw = dict(vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size,
              intermediate_size=cfg.intermediate_size, num_layers=cfg.num_hidden_layers,
              num_heads=heads, num_kv_heads=g("num_key_value_heads") or heads,
              head_dim=g("head_dim") or cfg.hidden_size // heads,
              norm_eps=float(cfg.rms_norm_eps), rope_theta=theta, rope_scaling=scaling,
              qkv_bias=bias, out_bias=bias, mlp_bias=bool(g("mlp_bias", False)),
              sliding_window=window, tie_embeddings=bool(cfg.tie_word_embeddings),
              max_position=g("max_position_embeddings") or 4096)
    return DecoderConfig(family=spec.name, **{**kw, **spec.switches, **spec.hf_switches})


# each layout's config reader (families.LAYOUTS)
CONFIG_READERS = {"llama": _llama_config, "gpt2": _gpt2_config}


def config_from_hf(cfg, source="config.json") -> DecoderConfig:
    """A :class:`DecoderConfig` from a transformers config object, or from a ``config.json``
    dictionary (built into transformers' config class first, so omitted keys take its
    defaults): read by the family's layout, with the family's switches."""
    if isinstance(cfg, dict):
        from transformers import CONFIG_MAPPING

        model_type = cfg.get("model_type")
        if model_type not in MODEL_TYPES:
            raise _unsupported(source, model_type)
        try:
            cfg = CONFIG_MAPPING[model_type].from_dict(cfg)
        except Exception as e:
            raise ModelFileError(f"{source}: transformers cannot read it "
                                 f"({type(e).__name__}: {e})") from None
    model_type = getattr(cfg, "model_type", None)
    if model_type not in MODEL_TYPES:
        raise _unsupported(source, model_type)
    spec = families.get(MODEL_TYPES[model_type])
    try:
        return CONFIG_READERS[spec.layout](cfg, spec, source)
    except AttributeError as e:
        raise ModelFileError(f"{source}: required entry missing ({e})") from None
    except ValueError as e:
        if isinstance(e, ModelFileError):
            raise
        raise ModelFileError(f"{source}: {e}") from e


def weight_files(folder: Path) -> list[Path]:
    """The safetensors files of a model folder (the shards an index names, each inside the
    folder, or the single file)."""
    index = folder / "model.safetensors.index.json"
    single = folder / "model.safetensors"
    if index.is_file():
        weight_map = read_json(index)
        weight_map = weight_map.get("weight_map") if isinstance(weight_map, dict) else None
        if not isinstance(weight_map, dict):
            raise ModelFileError(f"{index}: no weight_map object")
        shards = sorted(set(map(str, weight_map.values())))
        paths = [inside(folder, s, named_by=index) for s in shards]
        missing = [s for s, p in zip(shards, paths) if not p.is_file()]
        if missing:
            raise ModelFileError(f"{folder}: shards named in the index are missing: {missing}")
        return paths
    if single.is_file():
        return [single]
    raise ModelFileError(f"{folder}: no model.safetensors or model.safetensors.index.json "
                         "(PyTorch .bin weights are not read)")


def tokenizer_from_folder(folder: Path):
    """The folder's ``tokenizer.json`` as a ``tokenizers.Tokenizer`` (size checked; a file the
    library cannot parse is an error naming it)."""
    from tokenizers import Tokenizer

    path = folder / "tokenizer.json"
    if not path.is_file():
        raise ModelFileError(f"{folder}: tokenizer.json is missing (the probe needs the "
                             "model's tokenizer)")
    check_size(inside(folder, path.name))
    try:
        return Tokenizer.from_file(str(path))
    except Exception as e:   # the library raises a bare Exception naming no file
        raise ModelFileError(f"{path} is not a tokenizer file the tokenizers library can read "
                             f"({type(e).__name__}: {e})") from None


def chat_template_from_folder(folder: Path) -> tuple[str | None, str]:
    """``(source, where)``: the chat template's Jinja source (``chat_template.jinja``, else
    ``tokenizer_config.json``'s default one, else ``None``) and the file it came from."""
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return read_text(jinja), str(jinja)
    tc = folder / "tokenizer_config.json"
    if tc.is_file():
        config = read_json(tc)
        template = config.get("chat_template") if isinstance(config, dict) else None
        if isinstance(template, list):   # named templates: take the default one
            template = {t["name"]: t["template"] for t in template}.get("default")
        return template, f"{tc} (chat_template)"
    return None, str(jinja)


def load_folder(folder, dtype=jnp.float32, tokenizer: bool = True, mesh=None):
    """``(model, config, tokenizer, chat_template, stop_ids, special_tokens)`` from a Hugging
    Face folder; parameters sharded over ``mesh`` (a 1-D :class:`jax.sharding.Mesh`) if given."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no model folder at {folder}")
    check_folder(folder)   # before any file of it is parsed, by us or by transformers
    c = config_from_hf(read_config(folder), str(folder / "config.json"))
    files = weight_files(folder)
    tk = tokenizer_from_folder(folder) if tokenizer else None
    (template, where), special = (chat_template_from_folder(folder),
                                  special_tokens_from_folder(folder))
    if template:   # untrusted: checked in the sandbox before any weight is read
        check_template(template, special, source=where)
    try:   # every header checked before any tensor is read
        tensors = [t for f in files for t in safetensors_io.lazy(f)]
        model = build(lambda: Decoder(c, nnx.Rngs(0), dtype), tensors, rules_for(c), folder,
                      dtype, mesh)
    except safetensors_io.SafetensorsError as e:
        raise ModelFileError(str(e)) from e
    return model, c, tk, template, stop_ids_from_folder(folder), special


def special_tokens_from_folder(folder: Path) -> dict:
    """``{"bos_token": …, "eos_token": …, …}`` as text, exactly as ``transformers`` resolves
    them for this folder (``tokenizer_config.json``, ``special_tokens_map.json``, the tokenizer
    class's defaults): what ``apply_chat_template`` hands the template. Torch-free; no code from
    the folder runs (``trust_remote_code=False``)."""
    from transformers import AutoTokenizer

    if not (folder / "tokenizer.json").is_file():
        return {}
    try:
        tk = AutoTokenizer.from_pretrained(str(folder), local_files_only=True,
                                           trust_remote_code=False)
    except Exception as e:   # tokenizers' parse errors are bare Exceptions
        raise ModelFileError(f"{folder}: transformers cannot read this tokenizer "
                             f"(tokenizer.json, tokenizer_config.json; "
                             f"{type(e).__name__}: {e})") from None
    return {k: str(v) for k, v in tk.special_tokens_map.items()
            if k in SPECIAL_TOKEN_NAMES and isinstance(v, str)}


def stop_ids_from_folder(folder) -> tuple:
    """End-of-sequence ids from ``generation_config.json``, else ``config.json``."""
    folder = Path(folder)
    for name in ("generation_config.json", "config.json"):
        f = folder / name
        if f.is_file():
            eos = read_json(f).get("eos_token_id")
            if eos is not None:
                return tuple(int(e) for e in (eos if isinstance(eos, list) else [eos]))
    return ()
