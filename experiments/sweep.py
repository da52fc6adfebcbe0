"""The sweep entry point: every job kind through one Hydra application.

    python -m experiments.sweep                       # embedded default (experiments.main_job)
    python -m experiments.sweep -m kind=equilibrium toy=ising toy.L=8,16 sampler=wolff,metropolis
    python -m experiments.sweep experiment=text_criticality

``kind`` (an enum of :class:`experiments.config.Kind`, checked when the config is composed)
names the job; :data:`experiments.jobs.JOBS` maps it to the module that runs it, each with
``RESULT_FILES``, ``check(cfg)`` and ``run(cfg, out)``. Before the first job starts, every job
of the command is composed and checked (:class:`experiments.runs.RunCallbacks`): one refused
job refuses the command, in one line, before any folder is made. Every job writes into its
output folder with ``fingerprint.json`` (the configuration its results were computed with).
The same command always uses the same folder, and a job whose results exist under the same
fingerprint skips itself, so rerunning a sweep only computes what is missing (after a Ctrl-C
too: it says what finished); a folder of another configuration is refused
(:mod:`experiments.runs`). At the end of a multirun the jobs are aggregated by
:mod:`experiments.compare`. The configuration is the top-level ``conf/`` folder, installed as
package data (``pkg://experiments.conf``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from experiments.config import register_configs
from experiments.jobs import JOBS, KINDS, module  # noqa: F401  (JOBS, KINDS: the kinds)
from experiments.runs import compilation_cache, run_interruptible, run_once

log = logging.getLogger(__name__)
logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)
register_configs()


def _tasks() -> str:
    from phasejax.probe import tasks

    return ", ".join(tasks.available())


# --help lists the values of kind (an enum, not a group) and of task (a group Hydra's help
# does not list: it lives in the library, pkg://phasejax.probe)
for _name, _values in (("phasejax.kinds", lambda: ", ".join(KINDS)), ("phasejax.tasks", _tasks)):
    if not OmegaConf.has_resolver(_name):
        OmegaConf.register_new_resolver(_name, _values)


@hydra.main(version_base=None, config_path="pkg://experiments.conf", config_name="sweep")
def main(cfg: DictConfig) -> None:
    out = Path(HydraConfig.get().runtime.output_dir)
    compilation_cache(cfg.run.compilation_cache)
    job = module(cfg.kind)
    run_once(cfg, out, job.RESULT_FILES, job.run, getattr(job, "EXTRA_FILES", ()),
             getattr(job, "CONFIG_KEYS", None))


if __name__ == "__main__":
    run_interruptible(main)
