"""Fits of toy models to measured data (pseudo-likelihood, power laws), with bootstrap errors.

* :mod:`phasejax.fit.curvefit` — an open toy chain's parameters fitted to measured curves
  ``O(T, N)`` by weighted least squares (the toy's observables exact by enumeration);
* :mod:`phasejax.fit.inverse` — the inverse Potts problem on a chain: couplings and bias from
  token sequences by pseudo-likelihood;
* :mod:`phasejax.fit.long_range` — pseudo-likelihood fit of a long-range Potts chain to token
  sequences;
* :mod:`phasejax.fit.choice` — choice tasks: the quenched single-site toy fitted to a language
  model's ``m(T)``, ``S(T)``, ``C(T)``, and where each side melts;
* :mod:`phasejax.fit.sequence` — sequence tasks: the open toy chain fitted to a language model's
  sequence statistics, sampled beyond enumeration, and the finite-size analysis of both;
* :mod:`phasejax.fit.dose` — post-training: the alignment protocol's prompt-site toy (dose →
  ``λ`` map, ``α``, coupling ``K``, reward tilt) fitted to a model's curves against the dose,
  run over its (dose, ``T``) grid, and its reading of the transfer between prompts.
"""
