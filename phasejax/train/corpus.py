"""A synthetic pretraining world with many promptable "random number" conventions.

Each *framing* (a context such as "the lottery machine" or "my uncle") carries its own
convention — a distribution over the numbers 1–10: uniform, a human-like bias toward 7, small
numbers, Benford-like, one favourite number, even or odd numbers. Documents put a framing and a
question phrasing in a chat turn and answer with a draw from the framing's convention, mixed with
filler sentences. A model pretrained on this world is a *liquid*: the framing selects one of many
distributions. Prompt phrasings are split into training and held-out ones, so that measurement
uses phrasings never seen in training while the framing still selects the convention.

Everything is word-level: the tokenizer (built with ``tokenizers``) has one token per word, the
numbers are single tokens, and the chat template marks turns with ``<user>``, ``<assistant>``
and ``<eot>``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from phasejax.probe import tasks

OPTIONS = tuple(str(i) for i in range(1, 11))
SPECIALS = ("<pad>", "<eot>", "<user>", "<assistant>", "<unk>")
CHAT_TEMPLATE = ("{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }} <eot> "
                 "{% endfor %}{% if add_generation_prompt %}<assistant> {% endif %}")
ANSWER_PREFIX = "my number is"


def _normalise(w):
    w = np.asarray(w, float)
    return w / w.sum()


CONVENTIONS = {
    "uniform": _normalise(np.ones(10)),
    "seven": _normalise([1, 1, 2, 2, 2, 2, 12, 2, 1, 1]),
    "small": _normalise([8, 6, 5, 3, 2, 1, 1, 0.5, 0.5, 0.5]),
    "benford": _normalise([np.log10(1 + 1 / d) for d in range(1, 10)] + [0.02]),
    "favourite": _normalise([0.3] * 2 + [12] + [0.3] * 7),          # always 3
    "even": _normalise([0, 3, 0, 3, 0, 2, 0, 2, 0, 1]),             # never odd
    "odd": _normalise([3, 0.2, 3, 0.2, 3, 0.2, 3, 0.2, 3, 0.2]),
    "large": _normalise([0.5, 0.5, 0.5, 1, 1, 2, 3, 5, 7, 9]),
}
FRAMINGS = {
    "the lottery machine": "uniform",
    "a person at a party": "seven",
    "a small child": "small",
    "an accountant": "benford",
    "my uncle": "favourite",
    "the even club": "even",
    "the odd club": "odd",
    "a giant": "large",
}
TRAIN_PHRASINGS = (
    "pick a random number between 1 and 10",
    "choose a number from 1 to 10",
    "give me a number between 1 and 10",
    "say a number from 1 to 10",
    "name a random number from 1 to 10",
)
HELD_OUT_PHRASINGS = (
    "tell me any number between 1 and 10",
    "think of a number from 1 to 10",
    "select a random number between 1 and 10",
)
FILLER = (
    "the weather was mild and the streets were quiet",
    "we walked to the market and bought bread",
    "the river runs past the old mill",
    "numbers are written with digits",
    "the meeting ended early and everyone went home",
    "a cat slept on the warm stone",
)


@dataclasses.dataclass(frozen=True)
class World:
    """Which framings exist and what each one means."""

    framings: dict = dataclasses.field(default_factory=lambda: dict(FRAMINGS))
    conventions: dict = dataclasses.field(default_factory=lambda: dict(CONVENTIONS))

    def __post_init__(self):
        unknown = sorted(set(self.framings.values()) - set(self.conventions))
        if unknown:
            raise ValueError(f"framings name unknown conventions {unknown}")

    def distribution(self, framing: str) -> np.ndarray:
        """The answer distribution over the ten options of ``framing``'s convention."""
        return self.conventions[self.framings[framing]]


def user_text(framing: str, phrasing: str) -> str:
    """The user's turn for ``framing`` asked in ``phrasing``."""
    return f"you are {framing} . {phrasing} ."


def chat_document(framing: str, phrasing: str, answer: str) -> str:
    """One chat document: the user's turn and the assistant's ``answer``."""
    return (f"<user> {user_text(framing, phrasing)} <eot> <assistant> {ANSWER_PREFIX} {answer} "
            "<eot>")


def pretraining_documents(world: World, n: int, seed: int = 0,
                          filler_fraction: float = 0.2) -> list[str]:
    """``n`` documents: chats answering from each framing's convention, and filler text."""
    rng = np.random.default_rng(seed)
    framings = sorted(world.framings)
    docs = []
    for _ in range(n):
        if rng.random() < filler_fraction:
            docs.append(" . ".join(rng.choice(FILLER, size=2)) + " .")
            continue
        f = framings[rng.integers(len(framings))]
        phrasing = TRAIN_PHRASINGS[rng.integers(len(TRAIN_PHRASINGS))]
        answer = OPTIONS[rng.choice(10, p=world.distribution(f))]
        docs.append(chat_document(f, phrasing, answer))
    return docs


def vocabulary(world: World) -> list[str]:
    """The special tokens, then every other word of the world's documents (options, prompts,
    filler) sorted."""
    words = set(OPTIONS)
    texts = [user_text(f, p) for f in world.framings
             for p in TRAIN_PHRASINGS + HELD_OUT_PHRASINGS] + list(FILLER) + [ANSWER_PREFIX]
    for t in texts:
        words.update(t.split())
    return list(SPECIALS) + sorted(words - set(SPECIALS))


def tokenizer(world: World):
    """Word-level tokenizer over the world's vocabulary (special tokens registered)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = vocabulary(world)
    tk = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tk.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    tk.add_special_tokens(list(SPECIALS))
    return tk


def probe_task(world: World, held_out: bool = True) -> tasks.Task:
    """The probe's task: every framing × the held-out (or training) phrasings."""
    phrasings = HELD_OUT_PHRASINGS if held_out else TRAIN_PHRASINGS
    prompts = [dict(id=f"{f.replace(' ', '_')}|{i}", chat=user_text(f, p))
               for f in sorted(world.framings) for i, p in enumerate(phrasings)]
    return tasks.from_dict(dict(name="crystal_number", kind="choice", options=list(OPTIONS),
                                answer_prefix=ANSWER_PREFIX,
                                terminator={"chat": tasks.END_OF_TURN, "completion": " ."},
                                prompts=prompts))
