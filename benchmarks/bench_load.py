"""Peak memory of loading a big bfloat16 checkpoint: a synthetic Llama-family folder on disk.

    python benchmarks/bench_load.py [--params 1.1e9] [--shard-gb 0.5] [--dtype bfloat16]
                                    [--folder DIR] [--keep]

Writes a random bf16 folder (``config.json``, safetensors shards written one tensor group at a
time with safetensors' numpy API, ``model.safetensors.index.json``, a small ``tokenizer.json``)
of about ``--params`` parameters, then loads it with :func:`phasejax.probe.loading.load_model` in
a **fresh subprocess** and reports that process's peak resident set size
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``), the checkpoint's bytes and their ratio. The
subprocess also reports its resident size after the imports alone (the interpreter, JAX, Flax,
transformers), which is part of the peak but not of the loading. The folder is deleted afterwards
unless ``--keep``.

Target: peak RSS ≤ 1.3 × checkpoint bytes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import ml_dtypes
import numpy as np


def llama_config(n_params: float) -> dict:
    """A TinyLlama-like shape (d=2048, FFN 5632, 32 heads / 4 KV heads), layers set by size."""
    d, ffn, heads, kv, vocab = 2048, 5632, 32, 4, 32000
    per_layer = 2 * d * d + 2 * d * (d // heads * kv) + 3 * d * ffn + 2 * d
    layers = max(1, round((n_params - 2 * vocab * d) / per_layer))
    return dict(model_type="llama", architectures=["LlamaForCausalLM"], vocab_size=vocab,
                hidden_size=d, intermediate_size=ffn, num_hidden_layers=layers,
                num_attention_heads=heads, num_key_value_heads=kv, rms_norm_eps=1e-5,
                max_position_embeddings=2048, tie_word_embeddings=False, dtype="bfloat16",
                rope_parameters={"rope_theta": 10000.0, "rope_type": "default"})


def shapes(c: dict) -> dict[str, tuple]:
    d, f, L = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    kvd = d // c["num_attention_heads"] * c["num_key_value_heads"]
    out = {"model.embed_tokens.weight": (c["vocab_size"], d), "model.norm.weight": (d,),
           "lm_head.weight": (c["vocab_size"], d)}
    for i in range(L):
        p = f"model.layers.{i}."
        out.update({p + "input_layernorm.weight": (d,), p + "post_attention_layernorm.weight": (d,),
                    p + "self_attn.q_proj.weight": (d, d), p + "self_attn.k_proj.weight": (kvd, d),
                    p + "self_attn.v_proj.weight": (kvd, d), p + "self_attn.o_proj.weight": (d, d),
                    p + "mlp.gate_proj.weight": (f, d), p + "mlp.up_proj.weight": (f, d),
                    p + "mlp.down_proj.weight": (d, f)})
    return out


def write_folder(folder: Path, n_params: float, shard_bytes: float) -> int:
    """Write the synthetic checkpoint; return its tensor bytes."""
    from safetensors.numpy import save_file
    from tokenizers import Tokenizer, models

    folder.mkdir(parents=True, exist_ok=True)
    c = llama_config(n_params)
    (folder / "config.json").write_text(json.dumps(c, indent=1))
    Tokenizer(models.WordLevel({"<unk>": 0, "a": 1}, unk_token="<unk>")).save(
        str(folder / "tokenizer.json"))
    rng = np.random.default_rng(0)
    groups, group, size = [], [], 0
    for name, shape in shapes(c).items():
        n = int(np.prod(shape)) * 2
        if group and size + n > shard_bytes:
            groups.append(group)
            group, size = [], 0
        group.append((name, shape))
        size += n
    groups.append(group)
    weight_map, total = {}, 0
    for k, group in enumerate(groups):
        fname = f"model-{k + 1:05d}-of-{len(groups):05d}.safetensors"
        tensors = {}
        for name, shape in group:
            w = (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(ml_dtypes.bfloat16)
            tensors[name] = w
            weight_map[name] = fname
            total += w.nbytes
        save_file(tensors, str(folder / fname), metadata={"format": "pt"})
        del tensors
    (folder / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": total}, "weight_map": weight_map}))
    return total


CHILD = textwrap.dedent("""
    import resource, sys, time
    import jax
    from flax import nnx
    import transformers  # the loader reads configs through it: part of the baseline
    from phasejax.probe.loading import load_model
    def hwm():  # this process image's own high-water mark (ru_maxrss can inherit the parent's)
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t = time.perf_counter()
    lm = load_model(sys.argv[1], sys.argv[2])
    jax.block_until_ready(jax.tree.leaves(nnx.state(lm.model, nnx.Param)))
    dt = time.perf_counter() - t
    n = sum(x.size for x in jax.tree.leaves(nnx.state(lm.model, nnx.Param)))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(base, peak, hwm(), n, dt)
""")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=float, default=1.1e9)
    ap.add_argument("--shard-gb", type=float, default=0.5)
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--folder", type=Path, default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--write-only", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.write_only:
        print(write_folder(a.folder, a.params, a.shard_gb * 2**30))
        return
    folder = a.folder or Path(tempfile.mkdtemp(prefix="bench_load_"))
    try:
        # written by a child too: a process started from this one inherits its peak RSS
        w = subprocess.run([sys.executable, __file__, "--write-only", "--folder", str(folder),
                            "--params", str(a.params), "--shard-gb", str(a.shard_gb)],
                           capture_output=True, text=True, check=True)
        nbytes = int(w.stdout.split()[-1])
        files = sum(p.stat().st_size for p in folder.glob("*.safetensors"))
        out = subprocess.run([sys.executable, "-c", CHILD, str(folder), a.dtype],
                             capture_output=True, text=True)
        if out.returncode:
            sys.exit(out.stderr)
        base, peak, hwm, n, dt = out.stdout.split()[-5:]
        base, peak, hwm, n, dt = int(base), int(peak), int(hwm), int(n), float(dt)
        gb = lambda x: f"{x / 2**30:.3f} GiB"
        print(f"parameters          {n:,}  (load as {a.dtype})")
        print(f"checkpoint bytes    {nbytes:,} ({gb(nbytes)}; files {gb(files)})")
        print(f"RSS after imports   {gb(base)}")
        print(f"peak RSS            {gb(peak)}  (ru_maxrss; VmHWM {gb(hwm)})")
        print(f"peak / checkpoint   {peak / nbytes:.3f}")
        print(f"(peak - imports) / checkpoint  {(peak - base) / nbytes:.3f}")
        print(f"load time           {dt:.1f} s")
    finally:
        if not a.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
