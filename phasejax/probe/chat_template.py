"""Chat templates, rendered exactly as ``transformers`` renders them — and never trusted.

A chat template is Jinja source taken from a model file (``chat_template.jinja``,
``tokenizer_config.json`` or a GGUF's ``tokenizer.chat_template``): untrusted data. It is
compiled and rendered in the environment ``transformers`` renders chat templates in (Jinja's
``ImmutableSandboxedEnvironment`` with ``trim_blocks``, ``lstrip_blocks``, loop controls and the
helpers real templates call: ``raise_exception``, ``tojson``, ``strftime_now``), with a budget
(:mod:`phasejax.probe.sandbox`). A template that reaches for Python internals
(``cycler.__init__.__globals__…``), or that would render for more than
:data:`~phasejax.probe.sandbox.MAX_STEPS` steps or :data:`~phasejax.probe.sandbox.MAX_SECONDS`
seconds, or build more than :data:`~phasejax.probe.sandbox.MAX_CHARS` characters, stops with
:class:`UnsafeTemplateError` naming its file.

The template sees what ``tokenizer.apply_chat_template`` passes it: the conversation, the
tokenizer's special tokens (``bos_token``, ``eos_token``, … — only those the model defines) and
``add_generation_prompt``. An assistant *prefill* (the probe's answer prefix) is rendered as
``continue_final_message`` does it: the prefix, with a marker after it, is the content of a
final assistant turn, and the text is cut at the marker, so the template's own end-of-turn
marker is not written.
Chat text is then encoded without the tokenizer's special tokens (the template writes its own
BOS where the model wants one, as Llama-3's and Mistral's do).
"""

from __future__ import annotations

from typing import Mapping, Sequence

from phasejax.probe.weights import ModelFileError

SPECIAL_TOKEN_NAMES = ("bos_token", "eos_token", "unk_token", "pad_token")


class UnsafeTemplateError(ModelFileError):
    """A chat template tried something the sandbox forbids (model files may not run code), or
    went past its render budget."""


# appended to a prefill's content; the text is cut where it is rendered (transformers' rule)
PREFILL_MARK = "CONTINUE_FINAL_MESSAGE_TAG "


def render_chat(template: str, user: str, assistant_prefix: str = "", *,
                messages_extra: Sequence[tuple[str, str]] = (),
                special_tokens: Mapping[str, str] | None = None,
                source: str = "chat template") -> str:
    """The chat prompt: one user turn, then a generation prompt or an assistant prefill.

    Args:
      template: Jinja source of the chat template (untrusted).
      user: the user's message.
      assistant_prefix: text the assistant's reply starts with (``continue_final_message``);
        empty for a plain generation prompt (``add_generation_prompt=True``).
      messages_extra: ``(role, content)`` turns after the user's, rendered as a finished
        conversation (no generation prompt, no prefill).
      special_tokens: ``{"bos_token": …, "eos_token": …}`` of the model's tokenizer; names the
        model does not define are left out, so the template sees them undefined.
      source: where the template came from, for error messages.

    Raises:
      UnsafeTemplateError: the template touched something the sandbox forbids, or went past
        its render budget.
      ModelFileError: the template is not valid Jinja, or failed while rendering.
      ValueError: the template refused the conversation (``raise_exception``).
    """
    messages = [{"role": "user", "content": user}]
    messages += [{"role": r, "content": c} for r, c in messages_extra]
    prefill = bool(assistant_prefix) and not messages_extra
    if prefill:
        messages.append({"role": "assistant", "content": assistant_prefix})
    kwargs = {k: v for k, v in (special_tokens or {}).items() if v is not None}
    return _render(template, messages, source, continue_final_message=prefill,
                   add_generation_prompt=not messages_extra and not prefill, **kwargs)


def check_template(template: str, special_tokens: Mapping[str, str] | None = None,
                   source: str = "chat template") -> None:
    """Render a probe conversation once, so a hostile or broken template fails at load time.

    A template that refuses this conversation through ``raise_exception`` is not an error here
    (it may accept the conversations the probe actually sends); a sandbox violation or a syntax
    error is.
    """
    try:
        render_chat(template, "u", messages_extra=[("assistant", "a")],
                    special_tokens=special_tokens, source=source)
        render_chat(template, "u", "a", special_tokens=special_tokens, source=source)
    except (UnsafeTemplateError, ModelFileError):
        raise
    except ValueError:
        pass


def _render(template: str, messages: list[dict], source: str, *,
            continue_final_message: bool, add_generation_prompt: bool, **special) -> str:
    """The conversation rendered within a fresh budget; with ``continue_final_message``, cut
    where the final message ends (the template's closing of that turn left out)."""
    import jinja2

    from phasejax.probe import sandbox

    if continue_final_message:
        if "content" not in template:
            raise ValueError(f"{source}: the chat template never reads a message's content, "
                             "so an assistant prefill cannot be continued")
        final = messages[-1]["content"]
        messages = messages[:-1] + [dict(messages[-1], content=final + PREFILL_MARK)]
    if len(template) > sandbox.MAX_CHARS:
        raise UnsafeTemplateError(f"{source}: refusing this chat template: its source has "
                                  f"{len(template):,} characters, more than "
                                  f"{sandbox.MAX_CHARS:,}")
    try:
        compiled = sandbox.compile_template(template)   # the clock starts after compiling
        with sandbox.budget():
            text = compiled.render(
                messages=messages, tools=None, documents=None,
                add_generation_prompt=add_generation_prompt, **special)
    except sandbox.BudgetExceeded as e:
        raise UnsafeTemplateError(f"{source}: refusing this chat template: rendering it {e} "
                                  "(templates from model files render on a budget)") from None
    except jinja2.exceptions.SecurityError as e:
        raise UnsafeTemplateError(
            f"{source}: the chat template tried an operation the sandbox forbids ({e}). Model "
            "files are untrusted data and their templates may not run code; refusing to use "
            "this template.") from None
    except jinja2.exceptions.TemplateSyntaxError as e:
        raise ModelFileError(f"{source}: the chat template is not valid Jinja (line "
                             f"{e.lineno}: {e.message})") from None
    except jinja2.exceptions.TemplateError as e:
        raise ValueError(f"{source}: the chat template refused the conversation: {e}") from None
    except (RecursionError, MemoryError) as e:
        what = "stack" if isinstance(e, RecursionError) else "memory"
        raise UnsafeTemplateError(f"{source}: refusing this chat template: rendering it "
                                  f"exhausts Python's {what}") from None
    except (ArithmeticError, LookupError, TypeError, ValueError) as e:
        # a ValueError stays one (as raise_exception's refusals do); the others are broken files
        kind = ValueError if type(e) is ValueError else ModelFileError
        raise kind(f"{source}: the chat template failed while rendering "
                   f"({type(e).__name__}: {e})") from None
    return _cut_at_prefill(text, final, source) if continue_final_message else text


def _cut_at_prefill(text: str, final: str, source: str) -> str:
    """``text`` up to the prefill's marker; where the template trimmed the space after the
    marker, the text before it is right-stripped too (transformers' rule)."""
    mark = PREFILL_MARK.strip()
    if final.strip() not in text or mark not in text:
        raise ValueError(f"{source}: the chat template drops part of the assistant prefill "
                         f"{final.strip()!r}, so it cannot be continued")
    at = text.rindex(mark)
    if text[at:at + len(PREFILL_MARK)] == PREFILL_MARK:
        return text[:at]
    return text[:at].rstrip()
