"""Structured-config schemas derived from the library, never written twice.

* :func:`schema_of`: the fields of a library dataclass (the probe's ``ProbeSettings``, the
  alignment protocol, free generation, a task, LoRA), tuples as lists, with its defaults.
* :func:`schema_from_signature`: the keyword parameters of a factory (a toy model, a sampler),
  typed from its annotations, with its defaults.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import sys
import types
import typing
from dataclasses import field
from typing import Any, List, Optional

from omegaconf import MISSING


HOME = "experiments.config"   # where generated schemas live (and are pickled by reference)


def publish(cls, module: str = HOME):
    """Make a generated schema class an attribute of ``module``, so that it pickles by
    reference: launchers that run jobs in other processes (joblib, submitit) pickle the composed
    config with its schema classes, and a class pickled by value loses its dataclass defaults
    (``dataclasses.MISSING`` is a singleton only within one process). ``module`` must create the
    class again when imported."""
    cls.__module__ = module
    cls.__qualname__ = cls.__name__
    setattr(sys.modules[module], cls.__name__, cls)
    return cls


def schema_of(cls, name: str, drop=(), extra=()):
    """A structured-config schema with the fields of the library dataclass ``cls`` (tuples
    become lists), less ``drop``, plus ``extra`` ``(name, type, default)`` fields: the
    library's defaults are the config's, written once."""
    hints = typing.get_type_hints(cls)
    fields = []
    for f in dataclasses.fields(cls):
        if f.name in drop:
            continue
        t, d = hints[f.name], f.default
        if f.default_factory is not dataclasses.MISSING:
            d = field(default_factory=f.default_factory)
        optional = typing.get_origin(t) is typing.Union and type(None) in typing.get_args(t)
        inner = [a for a in typing.get_args(t) if a is not type(None)][0] if optional else t
        if inner is tuple or typing.get_origin(inner) is tuple:
            t = Optional[List[Any]] if optional else List[Any]
            fields.append((f.name, t, None if d is None else
                           field(default_factory=lambda d=d: list(d))))
        else:
            fields.append((f.name, t, d))
    return publish(dataclasses.make_dataclass(name, fields + list(extra)))


def _field_type(annotation, default):
    """A config type for a factory parameter: int, float, bool, str (Optional when the default
    is ``None``), anything else ``Any``."""
    t, optional = annotation, default is None
    if typing.get_origin(t) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(t) if a is not type(None)]
        optional = optional or len(args) < len(typing.get_args(t))
        t = args[0] if len(args) == 1 else Any
    if t not in (int, float, bool, str):
        return Any
    return Optional[t] if optional else t


def schema_from_signature(factory, cls_name: str, base, fixed: dict, skip=()):
    """A structured-config schema for ``factory``: the fields of ``base``, then every keyword
    parameter of the factory (less ``skip``) with its annotation's type and its default
    (``MISSING`` when it has none; a shared ``base`` field keeps the base's default then), and
    the ``fixed`` defaults (``_target_``, ``name``). Written once, in the factory."""
    hints = typing.get_type_hints(factory)
    base_hints = typing.get_type_hints(base)
    shared = {f.name: f for f in dataclasses.fields(base)}
    fields = []
    for p in inspect.signature(factory).parameters.values():
        if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) or p.name in skip:
            continue
        has_default = p.default is not p.empty
        default = p.default if has_default else MISSING
        if p.name in shared:
            t = base_hints[p.name]
            if not has_default:
                default = shared[p.name].default
            elif default is None and typing.get_origin(t) is not typing.Union and t is not Any:
                t = Optional[t]
        else:
            t = _field_type(hints.get(p.name, Any), default)
        if isinstance(default, (list, tuple, dict)):
            fields.append((p.name, t, field(default_factory=lambda d=default: copy.deepcopy(d))))
        else:
            fields.append((p.name, t, default))
    fields += [(k, str, v) for k, v in fixed.items()]
    return publish(dataclasses.make_dataclass(cls_name, fields, bases=(base,)))


def camel(name: str) -> str:
    """``long_range_chain`` → ``LongRangeChain`` (schema class names)."""
    return "".join(part.capitalize() for part in name.split("_"))
