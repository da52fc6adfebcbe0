"""Write tiny random Hugging Face checkpoints and the reference PyTorch logits for parity tests.

Needs torch and transformers (not project dependencies); run it from the repository root::

    python -m venv /tmp/ref && /tmp/ref/bin/pip install torch==2.13.0 transformers==5.24.0 \
        --index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple
    /tmp/ref/bin/python tests/parity/make_reference.py

Each folder under ``tests/parity/`` gets ``config.json`` (every value written out), safetensors
weights (the ``llama`` one sharded with an index), a word-level ``tokenizer.json`` and
``reference.npz`` holding the input ids, attention mask, position ids and float32 logits.
"""

from __future__ import annotations

import json
import shutil
import zlib
from pathlib import Path

import numpy as np
import torch
import transformers
from tokenizers import Tokenizer, models, pre_tokenizers

HERE = Path(__file__).parent
VOCAB = 96
COMMON = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
              rms_norm_eps=1e-6, bos_token_id=None, eos_token_id=1, pad_token_id=0)
CASES = {
    "llama": ("LlamaConfig", "LlamaForCausalLM",
              dict(COMMON, tie_word_embeddings=False, rope_theta=500000.0)),
    "llama3_scaled": ("LlamaConfig", "LlamaForCausalLM",
                      dict(COMMON, tie_word_embeddings=True, rope_theta=500000.0,
                           rope_scaling=dict(rope_type="llama3", factor=8.0,
                                             low_freq_factor=1.0, high_freq_factor=4.0,
                                             original_max_position_embeddings=16))),
    "mistral": ("MistralConfig", "MistralForCausalLM",
                dict(COMMON, sliding_window=4, tie_word_embeddings=False, head_dim=8)),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", dict(COMMON, tie_word_embeddings=True)),
    "qwen3": ("Qwen3Config", "Qwen3ForCausalLM",
              dict(COMMON, head_dim=16, tie_word_embeddings=True)),
    "olmo2": ("Olmo2Config", "Olmo2ForCausalLM",
              dict(COMMON, tie_word_embeddings=False, rms_norm_eps=1e-5)),
    "gpt2": ("GPT2Config", "GPT2LMHeadModel",
             dict(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=64,
                  bos_token_id=None, eos_token_id=1)),
}
CHAT_TEMPLATE = ("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}</s>{% endfor %}"
                 "{% if add_generation_prompt %}<assistant>{% endif %}")


def tokenizer() -> Tokenizer:
    words = ["<pad>", "</s>", "<user>", "<assistant>", "<unk>"] + [str(i) for i in range(10)]
    words += [w for w in "the a pick number between and is my answer coin heads tails".split()]
    words += [f"w{i}" for i in range(VOCAB - len(words))]
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                pre_tokenizers.Digits(individual_digits=True)])
    tk.add_special_tokens(words[:4])
    return tk


def inputs():
    rng = np.random.default_rng(0)
    ids = rng.integers(5, VOCAB, size=(3, 11))
    mask = np.ones_like(ids)
    mask[1, :3] = 0          # left padding
    mask[2, :7] = 0
    ids = np.where(mask == 1, ids, 0)
    pos = np.maximum(np.cumsum(mask, -1) - 1, 0)
    return ids, mask, pos


def main():
    ids, mask, pos = inputs()
    for name, (cfg_cls, model_cls, kwargs) in CASES.items():
        out = HERE / name
        shutil.rmtree(out, ignore_errors=True)
        torch.manual_seed(zlib.crc32(name.encode()))
        config = getattr(transformers, cfg_cls)(**kwargs)
        config._attn_implementation = "eager"
        model = getattr(transformers, model_cls)(config).eval()
        with torch.no_grad():
            for p in model.parameters():   # norms start at one: perturb them so they matter
                p.add_(0.1 * torch.randn_like(p))
            logits = model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask),
                           position_ids=torch.tensor(pos)).logits.float().numpy()
        shard = "24KB" if name == "llama" else "10GB"
        model.save_pretrained(out, max_shard_size=shard)
        (out / "config.json").write_text(json.dumps(config.to_dict(), indent=1, default=str))
        tokenizer().save(str(out / "tokenizer.json"))
        (out / "chat_template.jinja").write_text(CHAT_TEMPLATE)
        np.savez_compressed(out / "reference.npz", input_ids=ids, attention_mask=mask,
                            position_ids=pos, logits=logits)
        print(f"{name}: {sorted(p.name for p in out.iterdir())}")
    (HERE / "VERSIONS.txt").write_text(f"torch {torch.__version__}\n"
                                       f"transformers {transformers.__version__}\n")


if __name__ == "__main__":
    main()
