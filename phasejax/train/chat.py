"""Supervised fine-tuning sets in any model's own chat format.

A row is the probe's prompt (the task's user message rendered with the model's chat template
and the assistant's answer prefix, or the completion form) followed by one option's tokens as
the probe scores them (``" option"`` + end-of-turn). Loss falls on the option's tokens only, so
SFT trains exactly the conditional probabilities the probe measures. Rows come from a seed
distribution (every prompt answered by a draw from it) or from a JSON-lines file of
``{"user": ..., "answer": ...}`` records; a file that does not parse, or names an answer that is
not one of the task's options, is rejected whole, with every bad line listed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import jax
import numpy as np

from phasejax.probe import tasks
from phasejax.probe.prompts import encode_options, encode_prompt, prompt_text


def answer_rows(prompt_ids: Sequence[Sequence[int]], option_ids: Sequence[Sequence[int]],
                pairs: Sequence[tuple[int, int]], multiple: int = 8):
    """``(tokens, attention, loss_mask)`` for (prompt index, option index) pairs, right-padded
    to a multiple of ``multiple``; the loss mask marks the option's tokens."""
    lengths = [len(prompt_ids[p]) + len(option_ids[o]) for p, o in pairs]
    width = -(-max(lengths) // multiple) * multiple
    tokens = np.zeros((len(pairs), width), np.int32)
    att = np.zeros((len(pairs), width), bool)
    loss = np.zeros((len(pairs), width), bool)
    for i, (p, o) in enumerate(pairs):
        a, b = len(prompt_ids[p]), len(option_ids[o])
        tokens[i, :a + b] = list(prompt_ids[p]) + list(option_ids[o])
        att[i, :a + b] = True
        loss[i, a:a + b] = True
    return tokens, att, loss


def encoded_task(lm, task: tasks.Task, form: str):
    """``(prompt ids per prompt, option ids per option)`` exactly as the probe scores them."""
    prompts = [encode_prompt(lm, prompt_text(lm, task, p, form), form) for p in task.prompts]
    return prompts, encode_options(lm, task, form)


def _pairs(rng: np.random.Generator, targets: np.ndarray, n: int,
           n_prompts: int) -> list[tuple[int, int]]:
    """``n`` (prompt, option) pairs: a uniformly drawn prompt, then an option drawn from its
    row of ``targets`` (one row: the same for every prompt) by the inverse CDF, exactly as
    ``Generator.choice(p=...)`` draws."""
    rows = rng.integers(n_prompts, size=n)
    cdf = np.cumsum(targets, -1)
    cdf = cdf / cdf[:, -1:]
    u = rng.random(n)
    pick = cdf[rows if targets.shape[0] > 1 else np.zeros(n, int)]
    return list(zip(rows.tolist(), (pick <= u[:, None]).sum(-1).tolist()))


def _check_targets(targets, task: tasks.Task, rows: int) -> np.ndarray:
    t = np.asarray(targets, float)
    K = len(task.options)
    if t.shape != (rows, K) or np.any(t < 0) or not np.allclose(t.sum(-1), 1.0):
        raise ValueError(f"targets must be {rows} × {K} probabilities summing to 1 per prompt; "
                         f"got shape {t.shape}")
    return t


def drawn_set(lm, task: tasks.Task, form: str, seed_distribution: Sequence[float], n: int,
              seed: int = 0):
    """``n`` rows: a uniformly drawn prompt answered by a draw from the seed distribution."""
    p = np.asarray(seed_distribution, float)
    if p.shape != (len(task.options),) or np.any(p < 0) or not np.isclose(p.sum(), 1.0):
        raise ValueError(f"seed distribution must be {len(task.options)} probabilities summing "
                         f"to 1; got {p.tolist()}")
    prompts, options = encoded_task(lm, task, form)
    return answer_rows(prompts, options, _pairs(np.random.default_rng(seed), p[None], n,
                                                len(prompts)))


def family_set(key, lm, task: tasks.Task, form: str, targets, n: int):
    """``n`` rows: a uniformly drawn prompt ``j`` answered by a draw from its own target,
    ``targets[j]`` (``(prompts, options)``); draws from the JAX key ``key``."""
    prompts, options = encoded_task(lm, task, form)
    t = _check_targets(targets, task, len(prompts))
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel().tolist())
    return answer_rows(prompts, options, _pairs(rng, t, n, len(prompts)))


def read_records(path, task: tasks.Task) -> list[tuple[str, str]]:
    """``(user message, answer)`` per line of a JSON-lines SFT file; every bad line named."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SFT file {path} not found")
    records, bad = [], []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            user, answer = r["user"], str(r["answer"])
            if not isinstance(user, str) or not user.strip():
                raise ValueError("empty user message")
            if answer not in task.options:
                raise ValueError(f"answer {answer!r} is not an option of {task.name}")
            records.append((user, answer))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            bad.append(f"line {n}: {type(e).__name__}: {e}")
    if bad or not records:
        shown = "; ".join(bad[:10]) + (f"; … {len(bad) - 10} more" if len(bad) > 10 else "")
        raise ValueError(f"SFT file {path} does not parse: {shown or 'no records'} (each line "
                         'must be {"user": "<message>", "answer": "<one of the options>"})')
    return records


def file_set(lm, task: tasks.Task, form: str, records: Sequence[tuple[str, str]]):
    """Rows for ``(user message, answer)`` records, rendered in the model's format."""
    users = sorted({u for u, _ in records})
    as_task = tasks.Task(name=task.name, kind="choice", options=task.options,
                         prompts=tuple(tasks.Prompt(id=str(i), chat=u)
                                       for i, u in enumerate(users)),
                         answer_prefix=task.answer_prefix, terminator=task.terminator)
    prompts, options = encoded_task(lm, as_task, form)
    index = {u: i for i, u in enumerate(users)}
    return answer_rows(prompts, options,
                       [(index[u], task.options.index(a)) for u, a in records])
