"""Random tasks as data: a finite (or open) set of answers and many ways of asking.

Each task is a YAML file in ``phasejax/probe/task/`` — package data, found through
:mod:`importlib.resources`, and the ``task=`` config group of the sweep (add a file to add a
task, or load any YAML file by path)::

    name: coin_flip
    kind: choice            # choice | open | sequence
    options: [heads, tails]
    answer_prefix: The coin landed on      # assistant prefill / completion lead-in
    terminator: {chat: <end_of_turn>, completion: .}
    prompts:
      - {id: v0, chat: "Flip a coin. Is it heads or tails?"}
      - {id: v1, chat: "...", completion: "optional completion-form override"}

Conventions:

* The answer's leading space belongs to the answer (lm-evaluation-harness): the prompt ends
  with the answer prefix and no space, each option is scored as ``" " + option``.
* Every option is followed by the form's terminator when scored, so that ``"1"`` cannot
  swallow ``"10"``. ``<end_of_turn>`` stands for the model's end-of-turn token and is
  resolved by the tokenizer. Without a terminator the options must be prefix-free.
* Chat form: the user message is the prompt, the assistant turn is prefilled with the
  answer prefix. Completion form (base models): ``Question: <prompt>\\nAnswer: <prefix>``
  unless the prompt gives its own ``completion`` text.
* ``sequence`` tasks ask for ``{n}`` items of ``options`` joined by ``separator``.
"""

from __future__ import annotations

import dataclasses
import re
from importlib import resources
from pathlib import Path
from typing import Optional

import yaml

END_OF_TURN = "<end_of_turn>"
STOP = "<stop>"   # any token that cannot continue the answer (phasejax.probe.scoring.stop_class)
KINDS = ("choice", "open", "sequence")
MIN_PROMPTS = 8
TASK_DIR = resources.files("phasejax.probe") / "task"   # a Traversable (package data)


@dataclasses.dataclass(frozen=True)
class Prompt:
    """One prompt variant: its id, chat message and optional completion-form text."""

    id: str
    chat: str
    completion: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class Task:
    """A random task: options, prompt variants, answer prefix and terminators per form."""

    name: str
    kind: str
    options: tuple[str, ...]
    prompts: tuple[Prompt, ...]
    answer_prefix: str = ""
    terminator: dict = dataclasses.field(default_factory=dict)
    description: str = ""
    separator: str = ", "
    length: int = 10
    answer_pattern: Optional[str] = None

    # ---------------------------------------------------------------- prompts
    def user_message(self, prompt: Prompt, n: Optional[int] = None) -> str:
        """The user's message of ``prompt`` (``{n}`` filled for sequence tasks)."""
        return prompt.chat.format(n=n or self.length) if self.kind == "sequence" else prompt.chat

    def completion_text(self, prompt: Prompt, n: Optional[int] = None) -> str:
        """The full completion-form prompt, ending with the answer prefix (no trailing space)."""
        if prompt.completion is not None:
            text = prompt.completion
            return text.format(n=n or self.length) if self.kind == "sequence" else text
        head = f"Question: {self.user_message(prompt, n)}\nAnswer:"
        return f"{head} {self.answer_prefix}" if self.answer_prefix else head

    def answers(self, form: str) -> list[str]:
        """Scored continuations ``" option" + terminator`` for ``form`` in {chat, completion}."""
        if form not in ("chat", "completion"):
            raise ValueError(f"form={form!r}; expected 'chat' or 'completion'")
        term = self.terminator.get(form) or ""
        return [f" {o}{'' if term == STOP else term}" for o in self.options]

    def parse(self, text: str) -> Optional[str]:
        """The answer named at the start of a generated continuation, or ``None``."""
        if self.kind == "open":
            m = re.match(self.answer_pattern, text)
            return m.group(1) if m else None
        if self.kind == "sequence":
            items = [t.strip() for t in text.strip().rstrip(".").split(self.separator.strip())]
            return self.separator.join(items) if all(i in self.options for i in items) else None
        stripped = text.strip()
        best = None
        for o in self.options:  # longest option that the text starts with, as a whole word
            if re.match(re.escape(o) + r"(?![\w])", stripped) and (best is None or len(o) > len(best)):
                best = o
        return best


def _prefix_pairs(options):
    return [(a, b) for a in options for b in options if a != b and b.startswith(a)]


def validate(task: Task) -> Task:
    """Raise one ``ValueError`` listing everything wrong with a task."""
    errors = []
    if task.kind not in KINDS:
        errors.append(f"kind={task.kind!r} is not one of {KINDS}")
    if len(task.options) < 2 or len(set(task.options)) != len(task.options):
        errors.append("options must be at least two distinct strings")
    if any(not o or o != o.strip() for o in task.options):
        errors.append("options must be non-empty and carry no surrounding spaces")
    if len(task.prompts) < MIN_PROMPTS:
        errors.append(f"{len(task.prompts)} prompt variants; at least {MIN_PROMPTS} are required")
    ids = [p.id for p in task.prompts]
    if len(set(ids)) != len(ids):
        errors.append(f"prompt ids repeat: {ids}")
    for form in ("chat", "completion"):
        if not task.terminator.get(form):
            pairs = _prefix_pairs(task.options)
            if pairs:
                a, b = pairs[0]
                errors.append(f"{form} form has no terminator and the options are not "
                              f"prefix-free ({a!r} is a prefix of {b!r})")
    if task.kind == "sequence" and any("{n}" not in p.chat for p in task.prompts):
        errors.append("sequence prompts must contain {n} (the number of items)")
    if task.kind == "open":
        try:
            if task.answer_pattern is None or re.compile(task.answer_pattern).groups < 1:
                errors.append("open tasks need answer_pattern with one capture group")
        except re.error as e:
            errors.append(f"answer_pattern does not compile: {e}")
    if errors:
        raise ValueError(f"task {task.name!r}: " + "; ".join(errors))
    return task


def from_dict(d: dict) -> Task:
    """A validated :class:`Task` from a plain dict (a task YAML or a Hydra ``task`` node)."""
    d = dict(d)
    known = {f.name for f in dataclasses.fields(Task)}
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"task {d.get('name')!r}: unknown keys {sorted(unknown)}")
    for key in ("name", "kind", "options", "prompts"):
        if key not in d:
            raise ValueError(f"task {d.get('name')!r}: missing key {key!r}")
    d["options"] = tuple(str(o) for o in d["options"])
    d["prompts"] = tuple(Prompt(**p) for p in d["prompts"])
    d["terminator"] = dict(d.get("terminator") or {})
    return validate(Task(**d))


def load(name_or_path) -> Task:
    """A task by name (``phasejax/probe/task/<name>.yaml``) or by path to a YAML file."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = TASK_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no task file {path} (known tasks: {available()})")
    with path.open() as f:
        return from_dict(yaml.safe_load(f))


def available() -> list[str]:
    """Names of the task files shipped with the package."""
    return sorted(p.name[:-len(".yaml")] for p in TASK_DIR.iterdir()
                  if p.name.endswith(".yaml"))
