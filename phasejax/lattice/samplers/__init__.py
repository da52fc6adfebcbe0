"""Monte Carlo samplers as ``init`` / ``step`` pairs; :func:`make` builds one by name."""

from phasejax.lattice.samplers.base import LatticeState, Sampler, StepInfo
from phasejax.lattice.samplers.cluster import label_components, swendsen_wang, wolff
from phasejax.lattice.samplers.local import heatbath, metropolis
from phasejax.lattice.samplers.tempering import TemperingState, tempering

_SINGLE = {"metropolis": metropolis, "heatbath": heatbath, "wolff": wolff,
           "swendsen_wang": swendsen_wang}
NAMES = tuple(_SINGLE) + ("tempering",)


def make(name: str, *, n_temperatures: int | None = None, base: str = "metropolis",
         **kwargs) -> Sampler:
    """Sampler by name; ``tempering`` wraps the sampler named ``base``."""
    if name == "tempering":
        if n_temperatures is None:
            raise ValueError("parallel tempering needs n_temperatures (the ladder length)")
        return tempering(make(base, **kwargs), n_temperatures)
    if name not in _SINGLE:
        raise ValueError(f"unknown sampler {name!r}; known samplers: {list(NAMES)}")
    return _SINGLE[name](**kwargs)


__all__ = ["LatticeState", "Sampler", "StepInfo", "TemperingState", "heatbath",
           "label_components", "make", "metropolis", "swendsen_wang", "tempering", "wolff", "NAMES"]
