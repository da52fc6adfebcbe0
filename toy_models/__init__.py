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

import pkgutil

from phasejax.registry import Registry, import_modules

__path__ = pkgutil.extend_path(__path__, __name__)   # toy_models/ folders elsewhere on sys.path
# name -> model factory; every module of every toy_models/ folder is imported on first lookup
REGISTRY = Registry("model", lambda: import_modules(__path__, __name__))
register = REGISTRY.register


def make(name: str, **kwargs):
    """Build the model registered as ``name`` with the factory's keyword arguments."""
    return REGISTRY.lookup(name)(**kwargs)


def available() -> list[str]:
    """Names of every registered model (all modules of the package imported)."""
    return REGISTRY.available()
