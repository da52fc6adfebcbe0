"""Free generation at scale: many long sequences per temperature, saved in resumable chunks.

A language model sampled freely is a 1D chain of ``N`` sites. For each temperature ``T`` the
model continues one fixed start (its beginning-of-sequence token, a neutral completion text, or
a neutral chat prompt) ``n_sequences`` times for exactly ``n_tokens`` tokens, by plain
temperature sampling (no top-k, no top-p, no stop token). The prefixes of a sequence of
``n_tokens`` tokens are samples of every shorter length, so one run serves every
``N ≤ n_tokens``.

**End of text** (``end_of_text``), declared with every result, never a silent selection:

* ``"mask"`` (default): every special token (end of text or turn, padding, …: the tokenizer's
  special tokens and those its config names) and every id outside the tokenizer is banned at
  every step, so
  sampling never ends and every sequence has exactly ``n_tokens`` ordinary tokens. This
  *conditions* the model on not ending: each step is renormalised over the ordinary tokens.
* ``"site"``: nothing is banned; a special token is generated like any other and is a site of
  every mapping (:mod:`phasejax.text.spins`), so a sequence that "ends" simply continues.

Sequences are written in chunks of ``chunk`` rows, one file per ``(T, chunk)``
(``T{i:02d}_c{j:04d}.npz``, atomically, token ids as compressed ``uint16`` when the vocabulary
allows), and chunk ``j`` of temperature ``i`` uses the key ``fold_in(fold_in(key(seed), i), j)``:
a killed run resumes without redoing a finished chunk, a resumed run's sequences are
bit-identical to an uninterrupted one's, and a run split into parts (``part=(p, k)`` generates
the chunks ``j ≡ p (mod k)``, e.g. on ``k`` machines) gives, once the chunk files are put in one
folder, the same sequences as one run. The same code runs on a GPU unchanged (the batch is
``chunk`` rows through one compiled step).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
import jax
import numpy as np

from phasejax import io
from phasejax.checks import check_temperatures

STARTS = ("bos", "text", "chat")
END_OF_TEXT = ("mask", "site")


@dataclasses.dataclass(frozen=True)
class FreeGeneration:
    """What to generate.

    Attributes:
      temperatures: sampling temperatures, each > 0.
      n_tokens: tokens generated per sequence (the largest size ``N``).
      n_sequences: sequences per temperature.
      chunk: sequences per saved file (and per batch through the model).
      start: ``"bos"`` (the model's beginning-of-sequence token alone), ``"text"`` (``text`` as
        a completion prompt, encoded with the tokenizer's special tokens) or ``"chat"`` (``text``
        as a user turn of the model's chat template, with a generation prompt).
      text: the neutral prompt for ``start="text"`` / ``"chat"``.
      seed: root of every key.
      end_of_text: ``"mask"`` (special tokens are never sampled) or ``"site"`` (they are
        sites like any other token); see the module docstring.
    """

    temperatures: tuple = (0.6, 0.8, 1.0, 1.2, 1.4)
    n_tokens: int = 256
    n_sequences: int = 64
    chunk: int = 32
    start: str = "bos"
    text: str = ""
    seed: int = 0
    end_of_text: str = "mask"

    def n_chunks(self) -> int:
        """Chunk files per temperature."""
        return -(-self.n_sequences // self.chunk)


def start_ids(lm, spec: FreeGeneration) -> list[int]:
    """Token ids of the start; a clear error when the model cannot provide it."""
    if spec.start not in STARTS:
        raise ValueError(f"generation start={spec.start!r}; expected one of {STARTS}")
    if spec.start == "bos":
        bos = lm.special_tokens.get("bos_token")
        bos_id = lm.tokenizer.token_to_id(bos) if bos is not None else None
        if bos_id is None:
            raise ValueError("start=bos but the model defines no beginning-of-sequence token; "
                             "use start=text (a neutral completion prompt) or start=chat")
        return [int(bos_id)]
    if not spec.text:
        raise ValueError(f"start={spec.start} needs a neutral prompt: set text=<...>")
    if spec.start == "chat":
        from phasejax.probe.chat_template import render_chat

        if not lm.chat_template:
            raise ValueError("start=chat but the model has no chat template; use start=text")
        text = render_chat(lm.chat_template, spec.text, special_tokens=lm.special_tokens)
        return lm.tokenizer.encode(text, add_special_tokens=False).ids
    ids = lm.tokenizer.encode(spec.text, add_special_tokens=True).ids
    if not ids:
        raise ValueError(f"text={spec.text!r} encodes to no tokens")
    return ids


def check(lm, spec: FreeGeneration) -> list[int]:
    """Every setting checked before any token is generated; returns the start ids."""
    check_temperatures(spec.temperatures)
    if spec.end_of_text not in END_OF_TEXT:
        raise ValueError(f"end_of_text={spec.end_of_text!r}; expected one of {END_OF_TEXT}")
    if spec.n_tokens < 2 or spec.n_sequences < 2 or spec.chunk < 1:
        raise ValueError(f"need n_tokens >= 2, n_sequences >= 2, chunk >= 1; got "
                         f"{spec.n_tokens}, {spec.n_sequences}, {spec.chunk}")
    ids = start_ids(lm, spec)
    context = lm.config.max_position
    if len(ids) + spec.n_tokens > context:
        raise ValueError(f"N = {spec.n_tokens} tokens after a start of {len(ids)} exceeds the "
                         f"model's context of {context} positions")
    return ids


def banned_ids(lm, spec: FreeGeneration) -> np.ndarray:
    """Token ids never sampled under the spec's end-of-text policy (none for ``"site"``)."""
    if spec.end_of_text == "site":
        return np.zeros(0, np.int64)
    from phasejax.text.spins import special_ids

    special = special_ids(lm.tokenizer)
    beyond = np.arange(special.size, lm.config.vocab_size)      # ids the tokenizer lacks
    named = [lm.tokenizer.token_to_id(t) for t in lm.special_tokens.values()
             if isinstance(t, str)]                             # bos, eos, pad … of its config
    ids = np.concatenate([np.flatnonzero(special), beyond, [i for i in named if i is not None]])
    return np.unique(ids).astype(np.int64)


def _id_dtype(vocab_size: int):
    return np.uint16 if vocab_size <= np.iinfo(np.uint16).max + 1 else np.uint32


def chunk_path(folder: Path, i: int, j: int) -> Path:
    """The file of chunk ``j`` at temperature index ``i``."""
    return Path(folder) / f"T{i:02d}_c{j:04d}.npz"


def run(lm, spec: FreeGeneration, folder, progress: bool | None = None,
        part: tuple = (0, 1), report=None) -> dict:
    """Generate every missing chunk into ``folder``; ``{"tokens/s": …, "generated": …}``.

    ``folder/generation.json`` records the spec; a folder holding chunks of another spec is
    refused rather than mixed. ``part=(p, k)`` generates only the chunks ``j ≡ p (mod k)``.
    Progress shows as a bar on a terminal; without one (a batch job, a log file) ``report``
    (for example ``logging.info``) gets a line per chunk.
    """
    from tqdm.auto import tqdm

    from phasejax.probe.sampling import generate

    ids = check(lm, spec)
    p, k = (int(x) for x in part)
    if not (k >= 1 and 0 <= p < k):
        raise ValueError(f"part=({p}, {k}): need 0 <= p < k")
    banned = banned_ids(lm, spec)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    record = {**dataclasses.asdict(spec), "start_ids": ids, "banned_ids": int(banned.size)}
    record["temperatures"] = [float(t) for t in spec.temperatures]
    meta = folder / "generation.json"
    if meta.is_file():
        old = json.loads(meta.read_text())
        if old != record:
            raise ValueError(f"{folder} holds sequences of another generation setting "
                             f"({meta}); use a new folder")
    else:
        io.write_json(meta, record)
    todo = [(i, j) for i in range(len(spec.temperatures)) for j in range(spec.n_chunks())
            if j % k == p and not chunk_path(folder, i, j).is_file()]
    dtype = _id_dtype(lm.config.vocab_size)
    key = jax.random.key(spec.seed)
    generated, seconds = 0, 0.0
    bar = tqdm(todo, desc="generating", unit="chunk",    # off without a terminal
               disable=None if progress or progress is None else True)
    for done, (i, j) in enumerate(bar, 1):
        t = float(spec.temperatures[i])
        rows = min(spec.chunk, spec.n_sequences - j * spec.chunk)
        t0 = time.perf_counter()
        g = generate(jax.random.fold_in(jax.random.fold_in(key, i), j), lm.model, [ids],
                     spec.n_tokens, temperature=t, n_samples=spec.chunk,
                     max_rows=spec.chunk, banned_ids=banned)
        tokens = np.asarray(g.tokens[0, :rows]).astype(dtype)
        seconds += time.perf_counter() - t0
        generated += tokens.size
        io.write_npz(chunk_path(folder, i, j), tokens=tokens, temperature=np.float64(t))
        bar.set_postfix(T=t, tok_s=f"{generated / max(seconds, 1e-9):.0f}")
        if report is not None and bar.disable:
            report(f"generated chunk {done} of {len(todo)} (T = {t:g}, "
                   f"{generated / max(seconds, 1e-9):.0f} tokens/s) into {folder}")
    return {"generated": generated, "seconds": seconds,
            "tokens_per_s": generated / seconds if seconds else float("nan")}


def load(folder, spec: FreeGeneration) -> list[np.ndarray]:
    """Per temperature, the ``(n_sequences, n_tokens)`` token array (every chunk must exist)."""
    out = []
    for i in range(len(spec.temperatures)):
        parts = []
        for j in range(spec.n_chunks()):
            path = chunk_path(folder, i, j)
            if not path.is_file():
                raise FileNotFoundError(f"{path} is missing: run the generation first")
            with np.load(path) as z:
                parts.append(z["tokens"].astype(np.int64))
        out.append(np.concatenate(parts)[:spec.n_sequences])
    return out

