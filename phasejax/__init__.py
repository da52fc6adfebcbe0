"""phasejax: token-lattice Monte Carlo and language-model probes that share one set of statistics."""

__version__ = "0.1.0"
