"""Transformers' chat-template sandbox with a budget: a template renders in bounded time and space.

Jinja's ``ImmutableSandboxedEnvironment`` keeps a template away from Python's internals, but not
from running for hours (nested ``range(100000)`` loops) or from building a gigabyte string
(``'x' * 10**9``, ``''|center(10**9)``). :class:`BudgetedSandbox` is that sandbox, configured
exactly as ``transformers`` configures it for chat templates (its options, extensions, filters
and helpers are taken from transformers' own environment), with a budget checked while the
template runs:

- **steps** — every loop iteration, call, filter, attribute or item lookup, intercepted
  operator and piece of output costs one step; a ``range`` costs its length; measuring a new
  list or dict costs its length. At most :data:`MAX_STEPS` per render.
- **time** — each step also compares the clock with a deadline :data:`MAX_SECONDS` after the
  render began, a backstop for work that no step counts.
- **size** — every value the template builds (strings and lists counted with everything they
  hold, shared parts as often as they occur) and the text it writes are at most
  :data:`MAX_CHARS` long. Operators, filters and string methods that could build a much larger
  value in one step (``*``, ``**``, ``+``, ``%``, ``str.format``, ``join``, ``replace``,
  ``center``, ``indent``, ``tojson``, …) are estimated and refused *before* they run; integers
  are held to Python's own printable size (:data:`MAX_INT_DIGITS`).

A template that goes past its budget stops with :class:`BudgetExceeded`. The budget is plain
Python checked in the rendering thread (a context variable holds it): no signals and no helper
threads, so rendering is bounded on the main thread and in worker threads alike.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import re
import string
import sys
import time
from typing import Any, Callable

from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace, generate_lorem_ipsum
from jinja2.visitor import NodeTransformer

MAX_STEPS = 1_000_000
MAX_SECONDS = 5.0
MAX_CHARS = 1_000_000
MAX_INT_DIGITS = getattr(sys.int_info, "default_max_str_digits", 4300)


class BudgetExceeded(RuntimeError):
    """A template went past its render budget (steps, time or size)."""


class Budget:
    """One render's allowance: steps left, a deadline, and the sizes of values already
    measured (kept with the values, so an id is never reused while it is cached)."""

    def __init__(self, steps: int, seconds: float, chars: int):
        self.steps, self.limit, self.chars, self.seconds = steps, steps, chars, seconds
        self.deadline = time.monotonic() + seconds
        self.sizes: dict[int, tuple[Any, int, int]] = {}

    def spend(self, n: int = 1) -> None:
        self.steps -= n
        if self.steps < 0:
            raise BudgetExceeded(f"takes more than {self.limit:,} steps")
        if time.monotonic() > self.deadline:
            raise BudgetExceeded(f"runs longer than {self.seconds:g} s")

    def allow(self, size: int, what: str = "builds a value of") -> None:
        """Refuse ``size`` characters or items (made, or about to be made)."""
        if size > self.chars:
            raise BudgetExceeded(f"{what} more than {self.chars:,} characters")

    def check(self, value):
        """``value``, once it is known to be within the size budget."""
        if isinstance(value, int) and not isinstance(value, bool):
            digits = _digits(value)
            if digits > MAX_INT_DIGITS:
                raise BudgetExceeded(f"builds an integer of more than {MAX_INT_DIGITS:,} "
                                     "digits")
        self.allow(self.size(value)[0])
        return value

    def size(self, value) -> tuple[int, int]:
        """``(size, depth)``: characters and items of ``value`` and of everything it holds,
        and how deeply it nests. Opaque objects (macros, loops, undefined) count 1.

        Sizes are remembered for the rest of the render, except those of namespaces and of
        whatever holds one (a namespace can change)."""
        leaf = _leaf_size(value)
        if leaf is not None:
            return leaf, 0
        if id(value) in self.sizes:
            return self.sizes[id(value)][1:]
        seen: dict[int, tuple[Any, int, int, bool]] = {}   # this call's: ..., changeable
        stack, busy = [(value, False)], set()
        while stack:
            obj, expanded = stack.pop()
            if id(obj) in self.sizes or id(obj) in seen:
                continue
            kids = _children(obj)
            if not expanded:
                busy.add(id(obj))
                stack.append((obj, True))
                stack += [(k, False) for k in kids
                          if _leaf_size(k) is None and id(k) not in busy]
                continue
            self.spend(len(kids) // 64 + 1)
            total, depth, changeable = len(kids), 0, isinstance(obj, Namespace)
            for k in kids:
                leaf = _leaf_size(k)
                if leaf is not None:
                    s, d = leaf, -1
                elif id(k) in self.sizes:
                    s, d = self.sizes[id(k)][1:]
                elif id(k) in seen:
                    _, s, d, c = seen[id(k)]
                    changeable |= c
                else:                          # a cycle (a namespace holding itself)
                    s, d, changeable = 1, 0, True
                total, depth = total + s, max(depth, d + 1)
            seen[id(obj)] = (obj, total, depth, changeable)
            busy.discard(id(obj))
        self.sizes.update((i, e[:3]) for i, e in seen.items() if not e[3])
        return seen[id(value)][1:3]


def _digits(n: int) -> int:
    return int(abs(n).bit_length() * 0.30103) + 1


def _leaf_size(x) -> int | None:
    if isinstance(x, (str, bytes)):
        return len(x)
    if isinstance(x, int):
        return _digits(x)
    if isinstance(x, (dict, list, tuple, set, frozenset, Namespace)):
        return None
    return 1


def _children(x) -> list:
    if isinstance(x, Namespace):
        x = object.__getattribute__(x, "_Namespace__attrs")
    if isinstance(x, dict):
        return [v for kv in x.items() for v in kv]
    return list(x)


_BUDGET: contextvars.ContextVar[Budget | None] = contextvars.ContextVar("template_budget",
                                                                         default=None)


def current() -> Budget:
    """The budget of the render under way (a fresh one outside a render, e.g. while Jinja folds
    constants at compile time)."""
    return _BUDGET.get() or Budget(MAX_STEPS, MAX_SECONDS, MAX_CHARS)


@contextlib.contextmanager
def budget(steps: int | None = None, seconds: float | None = None, chars: int | None = None):
    """Render inside a fresh budget (defaults: :data:`MAX_STEPS`, :data:`MAX_SECONDS`,
    :data:`MAX_CHARS`, read when the render starts)."""
    token = _BUDGET.set(Budget(MAX_STEPS if steps is None else steps,
                               MAX_SECONDS if seconds is None else seconds,
                               MAX_CHARS if chars is None else chars))
    try:
        yield
    finally:
        _BUDGET.reset(token)


# ------------------------------------------------------------- one-step growth, estimated
_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")


def _ints(values) -> int:
    return sum(abs(v) for v in values if isinstance(v, int) and not isinstance(v, bool))


def _percent(b: Budget, fmt, args) -> int:
    """``fmt % args``: the format, the arguments, and every width and precision."""
    if not isinstance(fmt, str):
        return 0
    items = args if isinstance(args, tuple) else (args,)
    widths = 0
    for m in _PERCENT.finditer(fmt):
        widths += sum(int(g) if g.isdigit() else _ints(items) for g in m.groups() if g)
    return len(fmt) + b.size(args)[0] + widths


def _braces(b: Budget, fmt: str, args, kwargs) -> int:
    """``fmt.format(*args, **kwargs)``: the format, the arguments, every width and precision."""
    try:
        specs = [spec for _, _, spec, _ in string.Formatter().parse(fmt) if spec]
    except ValueError:                  # malformed: format() raises the same error itself
        return len(fmt)
    widths = sum(int(d) for spec in specs for d in re.findall(r"\d+", spec))
    if any("{" in spec for spec in specs):
        widths += _ints(args) + _ints(kwargs.values())
    return len(fmt) + b.size(args)[0] + b.size(kwargs)[0] + widths


def _replaced(s, old, new, count) -> int:
    if not (isinstance(s, (str, bytes)) and type(old) is type(s) and type(new) is type(s)):
        return 0
    n = s.count(old) if old else len(s) + 1
    if isinstance(count, int) and count >= 0:
        n = min(n, count)
    return len(s) + n * max(len(new) - len(old), 0)


def _width(w) -> int:
    return w if isinstance(w, int) else len(w) if isinstance(w, str) else 0


def _arg(args, kwargs, i, name, default=None):
    return args[i] if len(args) > i else kwargs.get(name, default)


def _listed(args: list, i: int) -> None:
    """Materialise ``args[i]`` (a generator) so it can be measured before it is joined."""
    if len(args) > i and not isinstance(args[i], (str, bytes, list, tuple, dict)):
        args[i] = list(args[i])


# size estimates of the results of string methods: (budget, the string, args, kwargs) -> size
METHODS: dict[str, Callable] = {
    "join": lambda b, s, a, k: (b.size(a[0])[0] + len(s) * len(a[0])) if a else 0,
    "replace": lambda b, s, a, k: _replaced(s, _arg(a, k, 0, "old"), _arg(a, k, 1, "new"),
                                            _arg(a, k, 2, "count")),
    "center": lambda b, s, a, k: len(s) + _width(_arg(a, k, 0, "width", 0)),
    "ljust": lambda b, s, a, k: len(s) + _width(_arg(a, k, 0, "width", 0)),
    "rjust": lambda b, s, a, k: len(s) + _width(_arg(a, k, 0, "width", 0)),
    "zfill": lambda b, s, a, k: len(s) + _width(_arg(a, k, 0, "width", 0)),
    "expandtabs": lambda b, s, a, k: len(s) + s.count("\t" if isinstance(s, str) else b"\t")
    * _width(_arg(a, k, 0, "tabsize", 8)),
    "format": lambda b, s, a, k: _braces(b, s, a, k) if isinstance(s, str) else 0,
    "format_map": lambda b, s, a, k: _braces(b, s, (), a[0]) if a and isinstance(
        a[0], dict) and isinstance(s, str) else 0,
    "translate": lambda b, s, a, k: len(s) * (1 + max(
        (b.size(v)[0] for v in a[0].values()), default=0)) if a and isinstance(a[0], dict) else 0,
}


def _tojson(b: Budget, a, k) -> int:
    size, depth = b.size(_arg(a, k, 0, "x"))
    seps = _arg(a, k, 3, "separators") or ()
    return size * (8 + _width(_arg(a, k, 2, "indent")) * (depth + 1)
                   + sum(_width(s) for s in seps))


# size estimates of the results of filters: (budget, args after Jinja's own, kwargs) -> size
FILTERS: dict[str, Callable] = {
    "join": lambda b, a, k: (b.size(a[0])[0] + _width(_arg(a, k, 1, "d", "")) * len(a[0])
                             if a else 0),
    "replace": lambda b, a, k: _replaced(_arg(a, k, 0, "s"), _arg(a, k, 1, "old"),
                                         _arg(a, k, 2, "new"), _arg(a, k, 3, "count")),
    "center": lambda b, a, k: b.size(_arg(a, k, 0, "value", ""))[0]
    + _width(_arg(a, k, 1, "width", 80)),
    "indent": lambda b, a, k: b.size(_arg(a, k, 0, "s", ""))[0]
    + (str(_arg(a, k, 0, "s", "")).count("\n") + 1) * _width(_arg(a, k, 1, "width", 4)),
    "wordwrap": lambda b, a, k: b.size(_arg(a, k, 0, "s", ""))[0]
    * (2 + _width(_arg(a, k, 3, "wrapstring") or "\n")),
    "format": lambda b, a, k: _percent(b, a[0], (k or tuple(a[1:]))) if a else 0,
    "batch": lambda b, a, k: b.size(_arg(a, k, 0, "value", ()))[0]
    + _width(_arg(a, k, 1, "linecount", 0)) * (1 + b.size(_arg(a, k, 2, "fill_with"))[0]),
    "slice": lambda b, a, k: b.size(_arg(a, k, 0, "value", ()))[0]
    + _width(_arg(a, k, 1, "slices", 0)) * (1 + b.size(_arg(a, k, 2, "fill_with"))[0]),
    # sum of lists copies the growing total once per item
    "sum": lambda b, a, k: (len(a[0]) * b.size(a[0])[0]
                            if a and isinstance(_arg(a, k, 2, "start", 0), (list, tuple, str))
                            else 0),
    "tojson": _tojson,
}
_MATERIALISED = ("join", "sum")        # filters whose first argument is measured as a list


def _lipsum(b: Budget, a, k) -> int:
    return _width(_arg(a, k, 0, "n", 5)) * _width(_arg(a, k, 3, "max", 100)) * 12


def _grown(b: Budget, op: str, left, right) -> int:
    """The size of ``left <op> right`` (in digits for integers) before it is computed; 0 when
    the result cannot outgrow its operands much."""
    seq = (str, bytes, list, tuple)
    if op == "*":
        if isinstance(left, int) and isinstance(right, seq):
            left, right = right, left
        if isinstance(left, seq) and isinstance(right, int):
            return b.size(left)[0] * max(right, 0)
        if isinstance(left, int) and isinstance(right, int):
            return _digits(left) + _digits(right)
    if op == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
        return 0 if abs(left) <= 1 else int(right * math.log10(abs(left))) + 1
    if op == "+" and isinstance(left, seq) and isinstance(right, seq):
        return b.size(left)[0] + b.size(right)[0]
    if op == "%":
        return _percent(b, left, right)
    return 0


# ---------------------------------------------------------------------- the environment
class _Metered(NodeTransformer):
    """Routes what Jinja compiles to plain Python through the environment: every ``for``
    iterates :meth:`BudgetedSandbox.counted`; every ``~`` and literal list, tuple or dict is
    measured by :meth:`BudgetedSandbox.sized`."""

    @staticmethod
    def _via(name: str, node: nodes.Node) -> nodes.Call:
        return nodes.Call(nodes.EnvironmentAttribute(name), [node], [], None, None,
                          lineno=node.lineno)

    def visit_For(self, node: nodes.For) -> nodes.For:
        node = self.generic_visit(node)
        node.iter = self._via("counted", node.iter)
        return node

    def visit_Concat(self, node):
        return self._via("sized", self.generic_visit(node))

    visit_List = visit_Dict = visit_Concat

    def visit_Tuple(self, node):
        node = self.generic_visit(node)
        return self._via("sized", node) if node.ctx == "load" else node


class BudgetedSandbox(ImmutableSandboxedEnvironment):
    """``ImmutableSandboxedEnvironment`` that charges every step of a render to the budget of
    :func:`current` (see the module docstring)."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def _parse(self, source, name, filename):
        tree = _Metered().visit(super()._parse(source, name, filename))
        tree.set_environment(self)
        return tree

    @staticmethod
    def counted(iterable):
        """``iterable``, one step per item."""
        b = current()
        for item in iterable:
            b.spend()
            yield item

    @staticmethod
    def sized(value):
        """``value`` (measured by :meth:`call`, which every call goes through)."""
        return value

    def concat(self, parts) -> str:
        b, out, n = current(), [], 0
        for part in parts:
            b.spend()
            n += len(part)
            b.allow(n, "writes")
            out.append(part)
        return "".join(out)

    def getattr(self, obj, attribute):
        current().spend()
        return super().getattr(obj, attribute)

    def getitem(self, obj, argument):
        current().spend()
        return super().getitem(obj, argument)

    def call_binop(self, context, operator, left, right):
        b = current()
        b.spend()
        grown = _grown(b, operator, left, right)
        if isinstance(left, int) and isinstance(right, int) and grown > MAX_INT_DIGITS:
            raise BudgetExceeded(f"builds an integer of more than {MAX_INT_DIGITS:,} digits")
        b.allow(grown)
        return b.check(super().call_binop(context, operator, left, right))

    def call(self, context, obj, /, *args, **kwargs):
        b = current()
        b.spend()
        method = getattr(obj, "__wrapped__", obj)        # the sandbox wraps str.format
        owner = getattr(method, "__self__", None)
        if isinstance(owner, (str, bytes)) and method.__name__ in METHODS:
            args = list(args)
            if method.__name__ == "join":
                _listed(args, 0)
            b.allow(METHODS[method.__name__](b, owner, args, kwargs))
        elif obj is generate_lorem_ipsum:
            b.allow(_lipsum(b, args, kwargs))
        rv = super().call(context, obj, *args, **kwargs)
        if isinstance(rv, range):
            b.spend(len(rv))
        return b.check(rv)


def budgeted_filter(name: str, f: Callable) -> Callable:
    """Filter ``f`` charged one step, its result measured, and its growth estimated first when
    :data:`FILTERS` knows how."""
    skip = 1 if getattr(f, "jinja_pass_arg", None) is not None else 0  # context/environment
    estimate = FILTERS.get(name)

    @functools.wraps(f)
    def run(*args, **kwargs):
        b = current()
        b.spend()
        if estimate is not None:
            args = list(args)
            if name in _MATERIALISED:
                _listed(args, skip)
            b.allow(estimate(b, args[skip:], kwargs))
        return b.check(f(*args, **kwargs))

    return run


_OPTIONS = ("block_start_string", "block_end_string", "variable_start_string",
            "variable_end_string", "comment_start_string", "comment_end_string",
            "line_statement_prefix", "line_comment_prefix", "trim_blocks", "lstrip_blocks",
            "newline_sequence", "keep_trailing_newline", "undefined", "finalize", "autoescape",
            "optimized")


@functools.lru_cache(maxsize=1)
def environment() -> BudgetedSandbox:
    """The budgeted sandbox, configured as transformers configures its chat-template
    environment (same options, extensions, globals and filters, each filter budgeted)."""
    from transformers.utils.chat_template_utils import _compile_jinja_template

    base = _compile_jinja_template("").environment
    env = BudgetedSandbox(extensions=[type(e) for e in base.extensions.values()],
                          **{k: getattr(base, k) for k in _OPTIONS})
    env.globals.update(base.globals)
    env.filters.update({n: budgeted_filter(n, f) for n, f in base.filters.items()})
    return env


@functools.lru_cache(maxsize=64)
def compile_template(source: str):
    """``source`` compiled in :func:`environment` (cached: the probe renders one template many
    times)."""
    return environment().from_string(source)
