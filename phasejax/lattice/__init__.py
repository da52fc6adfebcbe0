"""The lattice simulation side: token lattices, energy models, Monte Carlo and protocols.

* :mod:`phasejax.lattice.geometry` — lattice geometries: which sites interact, site colouring;
* :mod:`phasejax.lattice.model` — the energy-model protocol and its coupling-matrix form;
* :mod:`phasejax.lattice.samplers` — Monte Carlo samplers as ``init`` / ``step`` pairs
  (:mod:`~phasejax.lattice.samplers.chain`: exact samples of the open Potts chain);
* :mod:`phasejax.lattice.random` — random words for the update kernels: counter-based words
  fused into the kernel, or generated in bulk; the source per backend;
* :mod:`phasejax.lattice.bitlattice` — sites as bits of ``uint32`` words (strips), exact
  Bernoulli bits from random words;
* :mod:`phasejax.lattice.driver` — run chains: batching, sharding, chunking; ``simulate``;
* :mod:`phasejax.lattice.schedules` — temperature, fields or couplings as functions of the step;
* :mod:`phasejax.lattice.anneal` — runs along a protocol;
* :mod:`phasejax.lattice.seeding` — pinned nuclei, seed fields, random initial states;
* :mod:`phasejax.lattice.nucleation` — cluster sizes, nucleation times and rates, CNT;
* :mod:`phasejax.lattice.alignment` — the toy alignment protocol on a token lattice;
* :mod:`phasejax.lattice.exact` — exact results: enumeration, Onsager, Yang, the 1D chain.
"""
