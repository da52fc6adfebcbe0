"""Next-token training of a probe decoder with optax: pretraining and supervised fine-tuning.

``train`` runs AdamW with linear warm-up and cosine decay on padded token rows; the loss is the
mean cross-entropy over the positions a ``loss_mask`` selects (all real tokens for pretraining,
the assistant's reply for SFT). Batches are drawn inside the compiled step from the key, so a
run is reproducible from its seed. Every ``checkpoint_every`` steps the model is saved as a
Hugging Face folder (loadable by the probe) next to the optimizer state; a rerun resumes from
the last complete checkpoint.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from phasejax import io
from phasejax.train.lora import LoRA, parametrize


class TrainLog(NamedTuple):
    """Losses and throughput of a :func:`train` run."""

    steps: np.ndarray          # (n,) step numbers of the recorded losses
    loss: np.ndarray           # (n,) mean loss over the recording window
    tokens_per_s: float        # processed (non-padding) tokens per second, compile excluded
    checkpoints: list          # [(step, folder)]


def encode(tokenizer, docs: Sequence[str], width: int):
    """``(tokens, attention, loss_mask)`` arrays ``(n, width)``, right-padded; every real
    token after the first carries loss (SFT sets come from :mod:`phasejax.train.chat`)."""
    n = len(docs)
    tokens = np.zeros((n, width), np.int32)
    att = np.zeros((n, width), bool)
    for i, d in enumerate(docs):
        ids = tokenizer.encode(d).ids
        if len(ids) > width:
            raise ValueError(f"document {i} has {len(ids)} tokens; width is {width}")
        tokens[i, :len(ids)] = ids
        att[i, :len(ids)] = True
    loss = att.copy()
    loss[:, 0] = False
    return tokens, att, loss


def schedule(lr: float, steps: int, warmup: int):
    """Learning rate: linear warm-up to ``lr`` over ``warmup`` steps, then cosine decay to
    ``0.1 lr`` at ``steps``.
    """
    return optax.warmup_cosine_decay_schedule(0.0, lr, max(1, warmup), max(steps, warmup + 1),
                                              end_value=0.1 * lr)


def checkpoint_dirs(folder: Path):
    """The complete ``step_*`` checkpoints in ``folder``, by step."""
    return sorted((p for p in folder.glob("step_*") if (p / "opt_state.npz").is_file()),
                  key=lambda p: int(re.search(r"step_(\d+)", p.name).group(1)))


def train(key, model, tokens, attention, loss_mask, *, steps: int, batch: int = 32,
          lr: float = 3e-3, warmup: int = 20, weight_decay: float = 0.01,
          checkpoint_every: int = 0, folder=None, save: Optional[Callable] = None,
          log_every: int = 10, progress: Optional[Callable] = None,
          lora: Optional[LoRA] = None) -> TrainLog:
    """Train ``model`` in place; ``save(model, folder)`` writes a checkpoint folder.

    ``lora=None`` trains every parameter (float32 master copy), else low-rank adapters, applied
    factored in the forward pass and merged into the model at every checkpoint and at the end
    (:mod:`phasejax.train.lora`).

    Args:
      key: JAX PRNG key; step ``i`` draws its batch from ``fold_in(key, i)``, so a resumed run
        continues exactly as an uninterrupted one would.
      model: the decoder, trained in place.
      tokens, attention, loss_mask: padded rows ``(rows, width)`` (:func:`encode`).
      steps: optimizer steps in all (a resumed run does only the missing ones).
      batch: rows per step, drawn with replacement.
      lr, warmup, weight_decay: AdamW with linear warm-up and cosine decay (:func:`schedule`).
      checkpoint_every: steps between checkpoints in ``folder`` (``0``: none).
      folder: checkpoint folder; the run resumes from its last complete checkpoint.
      save: ``save(model, path)`` writes the model part of a checkpoint.
      log_every: steps per recorded (mean) loss.
      progress: called with a line of text at every record.
      lora: low-rank adapters to train instead of every parameter.

    Returns:
      A :class:`TrainLog`.
    """
    tx = optax.adamw(schedule(lr, steps, warmup), weight_decay=weight_decay)
    forward, frozen, params, to_params = parametrize(jax.random.fold_in(key, 1_000_003),
                                                     model, lora)
    opt_state = tx.init(params)
    folder = None if folder is None else Path(folder)
    start, params, opt_state = resume(model, params, opt_state, folder, to_params, progress)
    data = (jnp.asarray(tokens), jnp.asarray(attention), jnp.asarray(loss_mask, jnp.float32))

    def loss_fn(p, idx, frozen):
        m = forward(p, frozen)
        t, a, w = (x[idx] for x in data)
        logits = m(t, a)[:, :-1].astype(jnp.float32)
        nll = -jnp.take_along_axis(jax.nn.log_softmax(logits, -1), t[:, 1:, None], -1)[..., 0]
        return jnp.sum(nll * w[:, 1:]) / jnp.maximum(jnp.sum(w[:, 1:]), 1.0)

    @jax.jit
    def step(p, s, k, frozen):
        idx = jax.random.randint(k, (batch,), 0, data[0].shape[0])
        loss, g = jax.value_and_grad(loss_fn)(p, idx, frozen)
        updates, s = tx.update(g, s, p)
        return optax.apply_updates(p, updates), s, loss

    losses, recorded, window = [], [], []
    checkpoints = []
    tokens_per_step = float(np.mean(np.asarray(attention).sum(1))) * batch
    t_run, n_timed = 0.0, 0
    for i in range(start, steps):
        t0 = time.perf_counter()
        with jax.numpy_dtype_promotion("standard"):   # optax mixes int counts and floats
            params, opt_state, loss = step(params, opt_state, jax.random.fold_in(key, i), frozen)
        window.append(float(loss))
        if i > start:                      # the first step compiles
            t_run += time.perf_counter() - t0
            n_timed += 1
        if (i + 1) % log_every == 0 or i + 1 == steps:
            recorded.append(i + 1)
            losses.append(float(np.mean(window)))
            window = []
            if progress:
                progress(f"step {i + 1}/{steps} loss {losses[-1]:.4f}")
        path = checkpoint(model, to_params, params, opt_state, folder, i + 1, checkpoint_every,
                          steps, save)
        if path is not None:
            checkpoints.append((i + 1, path))
    nnx.update(model, to_params(params))
    rate = tokens_per_step * n_timed / t_run if t_run > 0 else float("nan")
    return TrainLog(np.asarray(recorded), np.asarray(losses), rate, checkpoints)


def resume(model, params, opt_state, folder: Optional[Path], to_params: Callable,
           progress=None):
    """``(start step, trainable, opt_state)`` from the last complete checkpoint in ``folder``."""
    if folder is None or not checkpoint_dirs(folder):
        return 0, params, opt_state
    last = checkpoint_dirs(folder)[-1]
    params, opt_state = _restore(last, params, opt_state)
    nnx.update(model, to_params(params))
    if progress:
        progress(f"resumed from {last.name}")
    return int(re.search(r"step_(\d+)", last.name).group(1)), params, opt_state


def checkpoint(model, to_params: Callable, params, opt_state, folder: Optional[Path], step: int,
               every: int, steps: int, save: Optional[Callable] = None) -> Optional[Path]:
    """Write ``folder/step_N`` (model via ``save``, then trainable + optimizer state) when due.

    The optimizer state is written last, so a folder counts as complete only once it has it.
    """
    if folder is None or not every or (step % every and step != steps):
        return None
    nnx.update(model, to_params(params))
    path = folder / f"step_{step:06d}"
    if save is not None:
        save(model, path)
    _store(path, params, opt_state)
    return path


def _store(path: Path, params, opt_state):
    leaves = jax.tree.leaves((params, opt_state))
    io.write_npz(path / "opt_state.npz", **{f"a{i}": np.asarray(x) for i, x in enumerate(leaves)})


def checkpoint_params(path, trainable):
    """The trainable tree stored in checkpoint folder ``path`` (shaped like ``trainable``,
    e.g. a fresh :func:`~phasejax.train.lora.parametrize` of the model the run started from;
    its ``to_params`` then gives the checkpoint's weights)."""
    n = jax.tree.structure(trainable).num_leaves
    with np.load(Path(path) / "opt_state.npz") as f:
        if len(f.files) < n:
            raise ValueError(f"{path}: the checkpoint does not match this model")
        arrays = [f[f"a{i}"] for i in range(n)]
    for a, t in zip(arrays, jax.tree.leaves(trainable)):
        if a.shape != t.shape:
            raise ValueError(f"{path}: the checkpoint does not match this model ({a.shape} "
                             f"stored where {t.shape} is trained)")
    return jax.tree.unflatten(jax.tree.structure(trainable), [jnp.asarray(a) for a in arrays])


def _restore(path: Path, params, opt_state):
    with np.load(path / "opt_state.npz") as f:
        arrays = [f[f"a{i}"] for i in range(len(f.files))]
    treedef = jax.tree.structure((params, opt_state))
    if treedef.num_leaves != len(arrays):
        raise ValueError(f"{path}: optimizer state does not match this model and optimizer")
    return jax.tree.unflatten(treedef, [jnp.asarray(a) for a in arrays])
