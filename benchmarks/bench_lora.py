"""Memory of a LoRA training step: adapters applied factored vs merged into the weights.

    python benchmarks/bench_lora.py [--targets all|attn] [--rank 8] [--batch 8] [--width 128]
                                    [--dtype float32] [--layers 30]

A SmolLM2-135M-shaped decoder (d = 576, FFN 1536, 9 / 3 heads, vocabulary 49152, random
weights). One AdamW step on the LoRA adapters, compiled, in three forms of the same model:

* **before** — the previous training step exactly: ``W' = W + (α/r) A B`` formed for every
  adapted kernel at every step and the forward run on ``W'`` (the backward pass builds
  ``∂L/∂W'``, in × out, for each), the frozen weights closed over by the compiled step (so
  compiled into it as constants);
* **merged** — the same formula with the frozen weights passed in as arguments;
* **factored** (now, :mod:`phasejax.train.lora`) — ``y = x W + (α/r)(x A) B``: only
  ``∂L/∂A`` and ``∂L/∂B``.

Each form runs in a fresh subprocess; reported: XLA's temporary buffer size for the compiled
step (``compiled.memory_analysis().temp_size_in_bytes``), the process's peak RSS (VmHWM) and
its growth over the model alone, and the time per step after compilation.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent("""
    import json, sys, time
    import jax, jax.numpy as jnp, numpy as np, optax
    from flax import nnx
    from phasejax.probe.decoder import Decoder, DecoderConfig
    from phasejax.train.lora import LoRA, TARGETS, parametrize

    def hwm():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024

    a = json.loads(sys.argv[1])
    dtype = jnp.dtype(a["dtype"])
    c = DecoderConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536,
                      num_layers=a["layers"], num_heads=9, num_kv_heads=3, rope_theta=1e5)
    model = nnx.eval_shape(lambda: Decoder(c, nnx.Rngs(0), dtype))
    graphdef, state = nnx.split(model)
    keys = iter(jax.random.split(jax.random.key(0), 10_000))
    state = jax.tree.map(lambda s: (0.02 * jax.random.normal(next(keys), s.shape)).astype(s.dtype),
                         state)
    model = nnx.merge(graphdef, state)
    targets = TARGETS if a["targets"] == "all" else TARGETS[:4]
    p = parametrize(jax.random.key(0), model,
                    LoRA(rank=a["rank"], alpha=2.0 * a["rank"], targets=targets))
    if a["mode"] in ("before", "merged"):   # the previous forward: W + (α/r) A B every step
        g, base, rest = nnx.split(model, nnx.Param, ...)
        scale = 2.0

        def forward(t, frozen):
            base, rest = frozen
            def merge(path, w):
                ab = t.get(jax.tree_util.keystr(path))
                if ab is None:
                    return w
                return (w.astype(jnp.float32) + scale * ab["a"] @ ab["b"]).astype(w.dtype)
            return nnx.merge(g, jax.tree_util.tree_map_with_path(merge, base), rest)
        frozen = (base, rest)
        if a["mode"] == "before":   # and, as the previous loop did, closed over by the step
            closed, frozen = frozen, ()
            forward = (lambda f: lambda t, _: f(t, closed))(forward)
    else:
        forward, frozen = p.model, p.frozen
    toks = jax.random.randint(jax.random.key(1), (a["batch"], a["width"]), 0, c.vocab_size)
    tx = optax.adamw(1e-3)
    opt = tx.init(p.trainable)
    jax.block_until_ready((state, opt))
    base = hwm()

    def loss_fn(t, frozen):
        logits = forward(t, frozen)(toks)[:, :-1].astype(jnp.float32)
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits, -1),
                                             toks[:, 1:, None], -1))

    @jax.jit
    def step(t, s, frozen):
        loss, grad = jax.value_and_grad(loss_fn)(t, frozen)
        u, s = tx.update(grad, s, t)
        return optax.apply_updates(t, u), s, loss

    with jax.numpy_dtype_promotion("standard"):
        compiled = step.lower(p.trainable, opt, frozen).compile()
        temp = compiled.memory_analysis().temp_size_in_bytes
        t, s = p.trainable, opt
        t, s, loss = step(t, s, frozen)
        jax.block_until_ready(loss)
        t0 = time.perf_counter()
        for _ in range(a["steps"]):
            t, s, loss = step(t, s, frozen)
        jax.block_until_ready(loss)
    dt = (time.perf_counter() - t0) / a["steps"]
    print(json.dumps(dict(temp=temp, base=base, peak=hwm(), step_s=dt, loss=float(loss))))
""")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", choices=("all", "attn"), default="all")
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--layers", type=int, default=30)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--steps", type=int, default=3)
    a = vars(ap.parse_args())
    print(f"SmolLM2-135M shape, {a['layers']} layers, {a['dtype']}, LoRA rank {a['rank']} on "
          f"{a['targets']} projections, batch {a['batch']} × {a['width']} tokens")
    mb = lambda x: f"{x / 2**20:8.1f} MiB"
    out = {}
    for mode in ("before", "merged", "factored"):
        r = subprocess.run([sys.executable, "-c", CHILD, json.dumps({**a, "mode": mode})],
                           capture_output=True, text=True)
        if r.returncode:
            sys.exit(r.stderr)
        out[mode] = json.loads(r.stdout.strip().splitlines()[-1])
        o = out[mode]
        print(f"{mode:9s} XLA temp {mb(o['temp'])}  peak RSS {mb(o['peak'])}  "
              f"(+{mb(o['peak'] - o['base'])} over the model)  {o['step_s'] * 1e3:7.1f} ms/step"
              f"  loss {o['loss']:.4f}")
    f = out["factored"]
    for ref in ("before", "merged"):
        m = out[ref]
        print(f"factored / {ref}: XLA temp {f['temp'] / m['temp']:.2f}, RSS growth "
              f"{(f['peak'] - f['base']) / max(m['peak'] - m['base'], 1):.2f}, "
              f"time {f['step_s'] / m['step_s']:.2f}")


if __name__ == "__main__":
    main()
