"""Mappings from generated text to ``q``-state sequences (the "spins" of a text lattice).

A mapping is built once per tokenizer by a small registered function
``builder(tokenizer, **params) -> SpinMap``; the :class:`SpinMap` it returns turns the token
ids of one generated sequence (1D ints) into an int array of states in ``[0, q)`` and declares
``q``, the state names and what one site is. Per-token mappings decide every vocabulary entry
once, into a vocabulary-sized lookup table, so mapping ``10⁴`` sequences of ``10³`` tokens is one
gather per sequence. **Special tokens** (end of text or turn, padding, …) are never dropped:
each is a site of every mapping (one ``other`` token for ``token_class``; its id's bucket for
``token_bucket``; one non-whitespace character, U+FFFC, for ``whitespace`` and ``pos``). Under
the default end-of-text policy of :mod:`phasejax.text.generate` they are never sampled at all.

Registered mappings (``N``, the sequence length, counts the sites of the mapping's unit):

* ``whitespace`` — per *character* of the decoded text: ``1`` if the character is whitespace
  (``str.isspace``), else ``0`` (Nakaishi, Nishikawa & Hukushima, arXiv 2406.05335, appendix
  C). Here ``N`` counts characters, not tokens.
* ``token_class`` — per *token*, from the token decoded alone and its raw string
  (``id_to_token``): ``newline`` if it contains a line break; ``other`` if it is empty,
  whitespace only, a special token or an undecodable byte fragment (``U+FFFD``); ``digit`` if
  its stripped text is all digits; ``punctuation`` if it is all Unicode punctuation or symbols;
  if it starts with a letter, ``word_start`` when it carries a leading space (decoded, or the
  byte-level BPE ``Ġ`` / SentencePiece ``▁`` mark) and ``word_continuation`` otherwise;
  anything else (e.g. ``3rd``) is ``other``. One context rule follows the table: a
  continuation that opens the sequence or follows a non-word token (newline, punctuation,
  digit, other) starts a word (``"\\nIt"`` → ``Ċ``, ``It``: ``It`` is a word start).
* ``token_bucket`` — per *token*: ``id mod q`` (``mode="mod"``) or ``⌊id·q/V⌋``, ``q`` equal
  ranges of the vocabulary of size ``V`` (``mode="range"``).
* ``pos`` — per *word* of spaCy's tokenisation of the decoded text: its Universal POS tag
  (``N`` counts spaCy tokens). Needs ``pip install spacy`` and a model
  (``python -m spacy download en_core_web_sm``); without them building it raises ImportError.

Add a mapping by writing a builder and decorating it with :func:`register`.
"""

from __future__ import annotations

import unicodedata
from typing import Callable, NamedTuple, Optional, Sequence

import numpy as np

from phasejax.registry import Registry

MAPPINGS = Registry("text mapping")      # name -> builder(tokenizer, **params) -> SpinMap
register = MAPPINGS.register


class SpinMap(NamedTuple):
    """A built mapping from generated token ids to ``q``-state sites."""

    name: str
    q: int                   # number of states
    states: tuple            # (q,) state names
    unit: str                # one site: "character", "token" or "word"
    convert: Callable        # ids (1D int) -> states (1D int64 in [0, q))
    convert_many: Callable   # list of id arrays -> list of state arrays (batched decoding)

    def __call__(self, ids) -> np.ndarray:
        return self.convert(np.asarray(ids, np.int64).ravel())


class Sites(NamedTuple):
    """Mapped sequences cut to a common length ``N``."""

    states: np.ndarray   # (n_kept, N) int64: the first N sites of each long-enough sequence
    kept: np.ndarray     # (n,) bool: the input sequence reached N sites
    lengths: np.ndarray  # (n,) int: sites each input sequence mapped to


def spin_map(name: str, tokenizer, **params) -> SpinMap:
    """Build the mapping ``name`` for ``tokenizer`` (a ``tokenizers.Tokenizer``, or a
    ``transformers`` fast tokenizer). Build once, apply to any number of sequences."""
    sm = MAPPINGS.lookup(name)(_backend(tokenizer), **params)
    if sm.q < 2 or len(sm.states) != sm.q:
        raise ValueError(f"mapping {name!r} must have q >= 2 states with one name each; got "
                         f"q={sm.q}, states={sm.states}")
    return sm


def to_sites(spin_map: SpinMap, sequences, *, N: int, lengths=None) -> Sites:
    """Map generated sequences and keep the first ``N`` sites of each one that has them.

    ``sequences``: a list of 1D id arrays, or an int array ``(..., max_len)`` (e.g.
    :class:`phasejax.probe.sampling.Generation` ``.tokens``) with ``lengths`` ``(...)`` valid
    tokens per row. Shorter sequences are dropped, not padded: that conditions on the text
    being long enough, so ``kept`` must be reported and checked (the text-criticality job
    refuses a kept fraction below 95 %). The prefixes of long sequences serve every shorter
    ``N``.
    """
    if N < 1:
        raise ValueError(f"N must be positive; got {N}")
    if isinstance(sequences, np.ndarray) or lengths is not None:
        arr = np.asarray(sequences)
        arr = arr.reshape(-1, arr.shape[-1])
        lens = (np.full(arr.shape[0], arr.shape[1]) if lengths is None
                else np.asarray(lengths).reshape(-1))
        seqs = [row[:n] for row, n in zip(arr, lens)]
    else:
        seqs = [np.asarray(s).ravel() for s in sequences]
    mapped = spin_map.convert_many([np.asarray(s, np.int64) for s in seqs])
    lens = np.array([m.size for m in mapped], int)
    kept = lens >= N
    states = (np.stack([m[:N] for m, k in zip(mapped, kept) if k]) if kept.any()
              else np.zeros((0, N), np.int64))
    return Sites(states.astype(np.int64), kept, lens)


# ----------------------------------------------------------------------------- helpers
def _backend(tokenizer):
    return getattr(tokenizer, "backend_tokenizer", tokenizer)


def special_ids(tokenizer) -> np.ndarray:
    """``(V,)`` bool: the special and added-special tokens of a tokenizer, and unused ids."""
    return _vocab(_backend(tokenizer))[1]


def _vocab(tokenizer):
    """``(V, special)``: table size (largest id + 1) and a mask of special/unused ids."""
    V = max(tokenizer.get_vocab(with_added_tokens=True).values()) + 1
    special = np.zeros(V, bool)
    for i, tok in tokenizer.get_added_tokens_decoder().items():
        special[i] = bool(getattr(tok, "special", False))
    for i in range(V):
        if tokenizer.id_to_token(i) is None:
            special[i] = True
    return V, special


def _checked(ids: np.ndarray, V: int) -> np.ndarray:
    if ids.size and (ids.min() < 0 or ids.max() >= V):
        raise ValueError(f"token id outside the tokenizer's vocabulary [0, {V}): "
                         f"[{ids.min()}, {ids.max()}]")
    return ids


def _per_token(name, tokenizer, table: np.ndarray, states, *, after=None) -> SpinMap:
    """A per-token SpinMap from a vocabulary table (``after``: a vectorised context rule)."""
    V, special = _vocab(tokenizer)
    if table.size < V:
        raise ValueError(f"{name}: table of {table.size} entries for a vocabulary of {V}")

    def convert(ids):
        s = table[_checked(np.asarray(ids, np.int64), V)]
        return after(s) if after is not None else s

    return SpinMap(name, len(states), tuple(states), "token", convert,
                   lambda many: [convert(i) for i in many])


# ----------------------------------------------------------------------------- whitespace
_WHITESPACE = np.array([c for c in range(0x3001) if chr(c).isspace()], np.uint32)
# (no code point above U+3000 is whitespace in Unicode)


def _whitespace_states(text: str) -> np.ndarray:
    codes = np.frombuffer(text.encode("utf-32-le"), np.uint32)
    return np.isin(codes, _WHITESPACE).astype(np.int64)


SPECIAL_CHARACTER = "\ufffc"   # one site for a special token in character mappings


def decode_sites(tokenizer, many, special=None) -> list[str]:
    """Decoded text of each id sequence, every special token one :data:`SPECIAL_CHARACTER`
    (``special``: the mask of :func:`special_ids`, computed when not given)."""
    special = _vocab(tokenizer)[1] if special is None else special
    out = [None] * len(many)
    plain = [k for k, m in enumerate(many) if not special[np.asarray(m, np.int64)].any()]
    for k, t in zip(plain, tokenizer.decode_batch([np.asarray(many[k]).tolist() for k in plain],
                                                    skip_special_tokens=False)):
        out[k] = t
    for k, m in enumerate(many):
        if out[k] is None:
            m = np.asarray(m, np.int64)
            cuts = np.flatnonzero(special[m])
            runs = np.split(m, np.concatenate([cuts, cuts + 1]))
            out[k] = "".join(SPECIAL_CHARACTER if r.size == 1 and special[r[0]] else
                             tokenizer.decode(r.tolist(), skip_special_tokens=False)
                             for r in runs if r.size)
    return out


@register("whitespace")
def whitespace(tokenizer) -> SpinMap:
    """1 per whitespace character of the decoded text, 0 otherwise (``N`` counts characters;
    a special token is one non-whitespace character)."""
    special = _vocab(tokenizer)[1]

    def convert_many(many):
        return [_whitespace_states(t) for t in decode_sites(tokenizer, many, special)]

    def convert(ids):
        return convert_many([np.asarray(ids, np.int64)])[0]

    return SpinMap("whitespace", 2, ("text", "whitespace"), "character", convert, convert_many)


# ----------------------------------------------------------------------------- token class
TOKEN_CLASSES = ("word_start", "word_continuation", "digit", "punctuation", "newline", "other")
_START, _CONT, _DIGIT, _PUNCT, _NEWLINE, _OTHER = range(len(TOKEN_CLASSES))


def classify_token(text: str, raw: Optional[str] = None) -> int:
    """Class index (in :data:`TOKEN_CLASSES`) of one token decoded alone (``text``) with its
    raw vocabulary string ``raw`` (for the ``Ġ``/``▁`` word-start marks)."""
    if "\n" in text or "\r" in text:
        return _NEWLINE
    body = text.strip()
    if not body or "\ufffd" in body:
        return _OTHER
    if body.isdigit():
        return _DIGIT
    if all(unicodedata.category(c)[0] in "PS" for c in body):
        return _PUNCT
    if body[0].isalpha():
        spaced = text[0].isspace() or (raw or "")[:1] in ("Ġ", "▁")
        return _START if spaced else _CONT
    return _OTHER


def _word_starts(s: np.ndarray) -> np.ndarray:
    prev = np.concatenate([[_OTHER], s[:-1]])
    s = s.copy()
    s[(s == _CONT) & (prev != _START) & (prev != _CONT)] = _START
    return s


@register("token_class")
def token_class(tokenizer) -> SpinMap:
    """Per token: word start / word continuation / digit / punctuation / newline / other."""
    V, special = _vocab(tokenizer)
    texts = tokenizer.decode_batch([[i] for i in range(V)], skip_special_tokens=False)
    table = np.array([_OTHER if special[i] else classify_token(texts[i], tokenizer.id_to_token(i))
                      for i in range(V)], np.int64)
    return _per_token("token_class", tokenizer, table, TOKEN_CLASSES, after=_word_starts)


# ----------------------------------------------------------------------------- token bucket
@register("token_bucket")
def token_bucket(tokenizer, q: int = 2, mode: str = "mod") -> SpinMap:
    """Per token: ``id mod q`` (``mode="mod"``) or the vocabulary cut into ``q`` equal ranges
    (``mode="range"``: ``⌊id·q/V⌋``)."""
    q = int(q)
    if q < 2:
        raise ValueError(f"token_bucket needs q >= 2 buckets; got q={q}")
    V, _ = _vocab(tokenizer)
    ids = np.arange(V, dtype=np.int64)
    if mode == "mod":
        table, names = ids % q, tuple(f"id%{q}={a}" for a in range(q))
    elif mode == "range":
        table = ids * q // V
        names = tuple(f"id∈[{-(-a * V // q)},{-(-(a + 1) * V // q)})" for a in range(q))
    else:
        raise ValueError(f"token_bucket mode must be 'mod' or 'range'; got {mode!r}")
    return _per_token("token_bucket", tokenizer, table, names)


# ----------------------------------------------------------------------------- POS
UPOS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON",
        "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X", "SPACE")


@register("pos")
def pos(tokenizer, model: str = "en_core_web_sm") -> SpinMap:
    """Per spaCy token of the decoded text: its Universal POS tag (``N`` counts words)."""
    hint = (f"the 'pos' text mapping needs spaCy and its model {model!r}: "
            f"pip install spacy && python -m spacy download {model}")
    try:
        import spacy
    except ImportError as e:
        raise ImportError(hint) from e
    try:
        nlp = spacy.load(model, disable=["parser", "ner", "lemmatizer"])
    except OSError as e:
        raise ImportError(hint) from e
    index = {t: k for k, t in enumerate(UPOS)}
    tag = lambda doc: np.array([index.get(t.pos_, index["X"]) for t in doc], np.int64)

    special = _vocab(tokenizer)[1]

    def convert_many(many):
        return [tag(doc) for doc in nlp.pipe(decode_sites(tokenizer, many, special))]

    return SpinMap("pos", len(UPOS), UPOS, "word", lambda ids: convert_many([ids])[0],
                   convert_many)


def available() -> Sequence[str]:
    """Names of the registered mappings."""
    return sorted(MAPPINGS)
