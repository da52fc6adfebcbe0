"""Statistics shared by the lattice and the language model.

* :mod:`phasejax.analysis.distributions` — statistics of distributions over ``K`` options
  (entropy, order parameter, mutual information, phase labels) and moments of samples;
* :mod:`phasejax.analysis.stats` — error bars for Markov-chain averages: ``τ_int``, binning,
  the jackknife;
* :mod:`phasejax.analysis.observables` — thermodynamic observables of a lattice run, each with an
  error bar and ``τ_int``;
* :mod:`phasejax.analysis.reweight` — single- and multiple-histogram reweighting;
* :mod:`phasejax.analysis.fits` — fitting helpers: weighted straight lines, power laws in
  log–log, the linear interpolation of a crossing;
* :mod:`phasejax.analysis.fss` — finite-size scaling of reweighted runs: critical point,
  exponents, the order of a transition;
* :mod:`phasejax.analysis.phase_diagram` — phase boundaries in two parameters;
* :mod:`phasejax.analysis.phase_map` — post-training phase maps: the shared statistics of answer
  families over (dose, ``T``) with errors over prompts and training seeds, the phase of each
  cell and the boundaries between them;
* :mod:`phasejax.analysis.hysteresis` — nucleation curves (abrupt or gradual) and hysteresis
  loop areas;
* :mod:`phasejax.analysis.sequences` — statistics of ``(n_sequences, N)`` arrays of states
  (generated text mapped to states by :mod:`phasejax.text.spins`, or toy chains): state
  fractions, order parameter moments, Binder cumulant, susceptibility, correlations
  ``C_ab(Δt)``, integrated correlation ``τ_ab``, power spectrum, correlation length and the
  decay exponent ``η``, every one with a bootstrap error over sequences;
* :mod:`phasejax.analysis.scaling` — finite-size scaling in ``N`` from curves on a temperature
  grid (no reweighting: autoregressive sampling is not Boltzmann in the sequence
  log-probability): Binder crossings, ``χ``-peak scaling, the onset of ``τ ∝ N``, the collapse;
* :mod:`phasejax.analysis.collapse` — data collapse of finite-size curves on one scaling
  function, with the Houdayer–Hartmann quality (lattice and grid curves alike).
"""
