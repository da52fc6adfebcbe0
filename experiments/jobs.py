"""The job kinds of ``python -m experiments.sweep``: the module that runs each, and its checks.

A kind's module holds ``RESULT_FILES``, ``run(cfg, out)`` and ``check(cfg)``: every
configuration error the job can find before its first long step (no model loaded, nothing
compiled or computed), raised as one exception whose message names the value and what was
expected. The sweep runs ``check`` on every job of a command before the first one starts
(:func:`experiments.runs.check_jobs`). Optional: ``EXTRA_FILES`` (further results, printed when
done) and ``CONFIG_KEYS`` (the parts of the configuration the results depend on).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from experiments.config import JOB_MODULES, Kind

# kind -> the module holding its RESULT_FILES, check(cfg) and run(cfg, out)
JOBS = {Kind(name): path for name, path in JOB_MODULES.items()}
KINDS = tuple(JOB_MODULES)


def module(kind) -> ModuleType:
    """The module of job kind ``kind`` (a :class:`~experiments.config.Kind` or its name)."""
    return importlib.import_module(JOBS[Kind(kind)])


def check(cfg) -> None:
    """Raise the first configuration error the job ``cfg.kind`` finds before it starts."""
    module(cfg.kind).check(cfg)
