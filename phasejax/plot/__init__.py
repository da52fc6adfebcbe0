"""Figures (matplotlib, headless: an Agg canvas, never ``pyplot``).

* :mod:`phasejax.plot.core` — figures of tidy observable tables, and the helpers every figure
  uses (:func:`subplots`, :func:`save_figure`, :data:`LABELS`); re-exported here;
* :mod:`phasejax.plot.text` — the text-criticality comparison: the model and its fitted toy;
* :mod:`phasejax.plot.toy_vs_lm` — a language model's curves beside its fitted toy's (choice
  and sequence tasks);
* :mod:`phasejax.plot.phase_map` — post-training phase diagrams (dose × ``T``) of a model and
  its fitted toy, their boundaries, nucleation curves and hysteresis loops.
"""

from phasejax.plot.core import (DEFAULT_PANELS, LABELS, PHASE_COLOURS, observables_figure,
                                plot_fss, plot_observables, plot_phase_diagram, save_figure,
                                subplots)

__all__ = ["DEFAULT_PANELS", "LABELS", "PHASE_COLOURS", "observables_figure", "plot_fss",
           "plot_observables", "plot_phase_diagram", "save_figure", "subplots"]
