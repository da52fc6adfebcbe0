"""Hydra configuration of the entry points, shipped as package data (``pkg://experiments.conf``).

The ``task`` group lives with the library that reads it, in ``phasejax/probe/task/`` (searched
through ``pkg://phasejax.probe``, see ``sweep.yaml``).
"""
