"""Energy models on token lattices. Add a module here to add a model.

Each module defines a factory decorated with :func:`register`; :func:`make` builds any model
by name, and every sampler, observable and sweep works on it unchanged because models speak
only :class:`phasejax.lattice.model.EnergyModel`'s protocol. A factory names every parameter
it takes and swallows none (no ``**kwargs``): the sweep derives the model's config schema from
its signature (:func:`experiments.config.toy_schemas`) and refuses a setting the model does not
have (:func:`experiments.config.toy_arguments`).

Models may also live outside this folder: any directory named ``toy_models`` on ``sys.path``
(e.g. ``PYTHONPATH=~/mytoys`` with ``~/mytoys/toy_models/my_model.py``) extends the package.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Callable

__path__ = pkgutil.extend_path(__path__, __name__)   # toy_models/ folders elsewhere on sys.path
REGISTRY: dict[str, Callable] = {}


def register(name: str):
    """Decorator: register a model factory under ``name`` for :func:`make`."""
    def wrap(factory):
        REGISTRY[name] = factory
        return factory
    return wrap


def _discover():
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


def make(name: str, **kwargs):
    """Build the model registered as ``name`` with the factory's keyword arguments."""
    if name not in REGISTRY:
        _discover()
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}; known models: {sorted(REGISTRY)}")
    return REGISTRY[name](**kwargs)


def available() -> list[str]:
    """Names of every registered model (all modules of the package imported)."""
    _discover()
    return sorted(REGISTRY)
