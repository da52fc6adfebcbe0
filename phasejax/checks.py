"""Argument checks shared by the whole package: each error names the value and what was expected,
before any long computation starts."""

from __future__ import annotations

import numpy as np


def check_temperatures(temperatures, *, name: str = "temperatures",
                       at_least: int = 1) -> np.ndarray:
    """``temperatures`` as a flat float64 array; raises unless it holds ``at_least`` values, all
    finite and ``> 0``.

    Example::

      check_temperatures([0.5, 1.0], name="probe.temperatures")   # array([0.5, 1. ])
    """
    T = np.asarray(temperatures, dtype=np.float64).reshape(-1)
    if T.size < at_least or not np.all(np.isfinite(T)) or np.any(T <= 0):
        count = "non-empty" if at_least <= 1 else f"at least {at_least} values"
        raise ValueError(f"{name} must be {count}, each finite and > 0; got {T.tolist()}")
    return T


def check_counts(**bounds) -> None:
    """Raise a clear error unless every ``name=(value, lo)`` is an integer ``value >= lo``.

    Example::

      check_counts(n_replicas=(4, 1), n_therm=(0, 0))   # passes
    """
    for name, (v, lo) in bounds.items():
        if not isinstance(v, (int, np.integer)) or v < lo:
            raise ValueError(f"{name}={v!r} must be an integer >= {lo}")
