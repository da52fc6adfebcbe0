"""Fits of toy models to measured data (pseudo-likelihood, power laws), with bootstrap errors."""
