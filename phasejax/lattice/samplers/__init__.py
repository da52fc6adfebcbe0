"""Monte Carlo samplers as ``init`` / ``step`` pairs; :func:`make` builds one by name.

Every module of this package that registers a factory (:func:`register`) is found by
:func:`make` and :func:`available`: a new sampler is one new module.

- ``base``: the ``Sampler`` type, states, the registry (``register``, ``make``, ``available``)
- ``local``: checkerboard Metropolis and heat-bath, and the choice of their kernel
- ``multispin``: their bit-packed kernel for Ising-like models (32 sites per word)
- ``pallas_kernel``: their Pallas kernel (Triton on GPUs, interpret mode elsewhere)
- ``cluster``: Swendsen–Wang and Wolff (Fortuin–Kasteleyn clusters), connected components,
  Wolff's cluster growth on bit words
- ``tempering``: parallel tempering over a temperature ladder
- ``chain``: exact independent samples of the open Potts chain (transfer matrix)
"""

from phasejax.lattice.samplers.base import (REGISTRY, LatticeState, Sampler, StepInfo,
                                             available, make, register)
from phasejax.lattice.samplers.cluster import label_components, swendsen_wang, wolff
from phasejax.lattice.samplers.local import heatbath, metropolis
from phasejax.lattice.samplers.tempering import TemperingState, parallel_tempering, tempering

__all__ = ["REGISTRY", "LatticeState", "Sampler", "StepInfo", "TemperingState", "available",
           "heatbath", "label_components", "make", "metropolis", "parallel_tempering",
           "register", "swendsen_wang", "tempering", "wolff"]
