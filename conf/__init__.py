"""Hydra configuration of ``python -m experiments.sweep``, imported as ``experiments.conf``.

This folder is the top-level ``conf/`` of the repository; an install ships it inside the
package as ``conf/`` (``package-dir`` in ``pyproject.toml``), and in a checkout
``experiments/__init__.py`` points ``experiments.conf`` here, so ``pkg://experiments.conf``
finds it both ways. The ``task`` group lives with the library that reads it, in
``phasejax/probe/task/`` (searched through ``pkg://phasejax.probe``, see ``sweep.yaml``).
"""
