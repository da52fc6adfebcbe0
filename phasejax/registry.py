"""Named registries: the one mechanism behind samplers, toy models, text mappings and decoder
families.

A :class:`Registry` is a ``dict`` from a name to a registered object (a factory, a builder, a
spec), filled by its :meth:`~Registry.register` decorator where the object is defined, and, when
given a ``discover`` function, able to import the modules that define them the first time a
name is looked up or the names are listed. A name claimed by a different object is an error
(re-importing the same module is not).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Callable, Iterable, Optional


def import_modules(paths: Iterable[str], package: str) -> None:
    """Import every module of ``package`` found on ``paths`` whose name has no leading ``_``."""
    for info in pkgutil.iter_modules(list(paths)):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")


def _same(a, b) -> bool:
    """The same definition (possibly re-imported): same module and qualified name."""
    return a is b or (getattr(a, "__module__", None), getattr(a, "__qualname__", None)) == (
        getattr(b, "__module__", 0), getattr(b, "__qualname__", 1))


class Registry(dict):
    """``name -> object`` of one kind (``kind`` names it in messages)."""

    def __init__(self, kind: str, discover: Optional[Callable[[], None]] = None):
        super().__init__()
        self.kind = kind
        self._discover = discover

    def register(self, name: str):
        """Decorator: register the decorated object under ``name``."""
        def wrap(obj):
            self.add(name, obj)
            return obj
        return wrap

    def add(self, name: str, obj) -> None:
        """Register ``obj`` under ``name``; a name another definition holds is an error."""
        if name in self and not _same(self[name], obj):
            raise ValueError(f"{self.kind} {name!r} is registered twice (by "
                             f"{getattr(self[name], '__module__', self[name])} and "
                             f"{getattr(obj, '__module__', obj)})")
        self[name] = obj

    def available(self) -> list[str]:
        """Every registered name, sorted (the defining modules imported first)."""
        if self._discover is not None:
            self._discover()
        return sorted(self)

    def lookup(self, name: str):
        """The object registered as ``name``; an unknown name is a ``ValueError`` listing the
        known ones."""
        if name not in self and self._discover is not None:
            self._discover()
        if name not in self:
            raise ValueError(f"unknown {self.kind} {name!r}; known: {sorted(self)}")
        return self[name]
