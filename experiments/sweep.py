"""The sweep entry point: every job kind through one Hydra application.

    python -m experiments.sweep                       # embedded default (experiments.main_job)
    python -m experiments.sweep -m kind=equilibrium toy=ising toy.L=8,16 sampler=wolff,metropolis
    python -m experiments.sweep experiment=text_criticality

``kind`` (an enum of :class:`experiments.config.Kind`, checked when the config is composed)
names the job; :data:`JOBS` maps it to the module that runs it, each with ``RESULT_FILES`` and
``run(cfg, out)``. Every job writes into its output folder with ``fingerprint.json`` (the
configuration its results were computed with). The same command always uses the same folder,
and a job whose results exist under the same fingerprint skips itself, so rerunning a sweep
only computes what is missing; a folder of another configuration is refused
(:mod:`experiments.runs`). At the end of a multirun the jobs are aggregated by
:mod:`experiments.compare`. The configuration is package data (``pkg://experiments.conf``).
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from experiments.config import Kind, register_configs
from experiments.runs import compilation_cache, run_once

log = logging.getLogger(__name__)
logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)
register_configs()

# kind -> the module holding its RESULT_FILES and run(cfg, out)
JOBS = {Kind.main: "experiments.main_job", Kind.equilibrium: "experiments.equilibrium",
        Kind.nucleation: "experiments.nucleation", Kind.alignment: "experiments.alignment",
        Kind.probe: "experiments.probe", Kind.crystallize: "experiments.crystallize",
        Kind.text_criticality: "experiments.text_criticality",
        Kind.phase_diagram: "experiments.phase_diagram"}
KINDS = tuple(k.name for k in JOBS)


@hydra.main(version_base=None, config_path="pkg://experiments.conf", config_name="sweep")
def main(cfg: DictConfig) -> None:
    out = Path(HydraConfig.get().runtime.output_dir)
    compilation_cache(cfg.run.compilation_cache)
    job = importlib.import_module(JOBS[Kind(cfg.kind)])
    run_once(cfg, out, job.RESULT_FILES, job.run, getattr(job, "EXTRA_FILES", ()),
             getattr(job, "CONFIG_KEYS", None))


if __name__ == "__main__":
    main()
