"""Prompts as the probe asks them: the form (chat or completion), the prompt text, its token
ids and the options' token ids, the selected prompt variants and the tokens that stop an answer.
"""

from __future__ import annotations

from typing import Optional, Sequence

from phasejax.probe import tasks as tasks_mod
from phasejax.probe.chat_template import render_chat


def resolve_form(lm, form: str) -> str:
    """``chat`` or ``completion``: ``auto`` is chat when the model has a chat template."""
    if form == "auto":
        return "chat" if lm.chat_template else "completion"
    if form not in ("chat", "completion"):
        raise ValueError(f"form={form!r}; expected chat, completion or auto")
    if form == "chat" and not lm.chat_template:
        raise ValueError("form=chat but the model has no chat template (use completion)")
    return form


def end_of_turn_id(lm) -> int:
    """The token that closes an assistant turn: read off the chat template, else the EOS."""
    if lm.chat_template:
        text = render_chat(lm.chat_template, "u", messages_extra=[("assistant", "XQZ")],
                           special_tokens=lm.special_tokens)
        tail = text[text.rindex("XQZ") + 3:]
        ids = lm.tokenizer.encode(tail, add_special_tokens=False).ids
        specials = {t.content for t in lm.tokenizer.get_added_tokens_decoder().values()}
        if ids and lm.tokenizer.id_to_token(ids[0]) in specials:
            return ids[0]
    if lm.stop_ids:
        return lm.stop_ids[0]
    raise ValueError("the model names no end-of-turn or end-of-sequence token")


def prompt_text(lm, task, prompt, form: str, n: Optional[int] = None,
                answer_prefix: Optional[str] = None) -> str:
    """The prompt text in ``form``: the chat template with the answer prefix as an assistant
    prefill, or the completion text ending with the prefix."""
    prefix = task.answer_prefix if answer_prefix is None else answer_prefix
    if form == "chat":
        return render_chat(lm.chat_template, task.user_message(prompt, n), prefix,
                           special_tokens=lm.special_tokens)
    if answer_prefix is not None and prompt.completion is None:
        head = f"Question: {task.user_message(prompt, n)}\nAnswer:"
        return f"{head} {prefix}" if prefix else head
    return task.completion_text(prompt, n)


def encode_prompt(lm, text: str, form: str) -> list[int]:
    """Token ids of a prompt, special tokens as ``transformers`` adds them: a chat text is
    encoded without them (the template wrote the BOS where the model wants one, as
    ``apply_chat_template`` assumes); a completion text gets the tokenizer's own (its
    post-processor adds the BOS of Llama-family tokenizers)."""
    return lm.tokenizer.encode(text, add_special_tokens=form == "completion").ids


def encode_options(lm, task, form: str, terminator: Optional[str] = None) -> list[list[int]]:
    """Token ids of ``" option" + terminator`` (end of turn resolved to the model's token; the
    stop class adds no token here: :func:`phasejax.probe.scoring.score_prompts` scores it)."""
    term = (task.terminator.get(form) if terminator is None else terminator) or ""
    if term == tasks_mod.STOP:
        return [lm.tokenizer.encode(f" {o}", add_special_tokens=False).ids for o in task.options]
    eot = end_of_turn_id(lm) if term == tasks_mod.END_OF_TURN else None   # one render
    out = []
    for o in task.options:
        if eot is not None:
            ids = lm.tokenizer.encode(f" {o}", add_special_tokens=False).ids + [eot]
        else:
            ids = lm.tokenizer.encode(f" {o}{term}", add_special_tokens=False).ids
        out.append(ids)
    return out


def selected_prompts(task, ids: Optional[Sequence[str]]):
    """The task's prompt variants named by ``ids`` (all when ``None``); unknown ids fail."""
    if ids is None:
        return list(task.prompts)
    known = {p.id: p for p in task.prompts}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise ValueError(f"task {task.name!r} has no prompts {unknown} (has {list(known)})")
    return [known[i] for i in ids]


def _stop_ids(lm, form):
    stop = list(lm.stop_ids)
    if form == "chat":
        stop = list(dict.fromkeys(stop + [end_of_turn_id(lm)]))
    return stop
