"""The equilibrium job (``kind=equilibrium``): a token lattice over a temperature grid.

    python -m experiments.sweep -m kind=equilibrium toy=ising toy.L=8,16 sampler=wolff,metropolis

Each job writes into its output folder, atomically, ``timeseries.npz`` (energies and token
counts of every sample, for reweighting), ``observables.csv`` (one row per temperature ×
observable) and ``observables.png``. At the end of a multirun the jobs are aggregated by
:mod:`experiments.compare` (finite-size scaling, phase diagrams).

For resume tests, ``PHASEJAX_FAULT="<text>:<sweeps>"`` kills (SIGKILL) any job whose override
list (or output folder name) contains ``<text>`` once it has done ``<sweeps>`` sweeps.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

import jax
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import get_method, instantiate
from omegaconf import DictConfig, OmegaConf

from experiments.config import temperature_grid, toy_arguments
from phasejax import io, plot
from phasejax.analysis import observables
from phasejax.lattice.driver import check_simulation, simulate

log = logging.getLogger(__name__)

RESULT_FILES = ("timeseries.npz", "observables.csv", "observables.png")
COLUMNS = ("model", "q", "dim", "L", "geometry", "J", "h", "sampler", "T", "observable", "mean",
           "stderr", "tau_int", "n_samples", "n_replicas", "seed")


def build(cfg: DictConfig):
    """Instantiate model, sampler and temperatures; every config error surfaces here."""
    T = temperature_grid(cfg.temperatures)
    kwargs = toy_arguments(cfg.toy)
    try:
        model = get_method(cfg.toy._target_)(**kwargs)
    except (TypeError, ValueError) as e:      # name the toy: the message names the value
        raise ValueError(f"toy={cfg.toy.get('name', cfg.toy._target_)}: {e}") from e
    try:
        sampler = instantiate(cfg.sampler, n_temperatures=int(T.size))
    except InstantiationException as e:     # say the sampler's own message, not Hydra's frame
        raise ValueError(f"sampler={cfg.sampler.name}: {e.__cause__ or e}") from e
    return model, sampler, T


def check(cfg: DictConfig) -> None:
    """Every configuration error of the job, before anything compiles: the toy, the sampler and
    the temperatures (:func:`build`), and the run settings against them (counts, ``run.start``,
    a tempering ladder's length, a cluster sampler on couplings it cannot take)."""
    model, sampler, T = build(cfg)
    r = cfg.run
    check_simulation(model, sampler, T, n_replicas=r.n_replicas, n_therm=r.n_therm,
                     n_measure=r.n_measure, thin=r.thin, start=r.start)


def _fault_injection(out: Path):
    """``on_chunk`` hook that kills this job as ``PHASEJAX_FAULT`` asks (resume tests)."""
    spec = os.environ.get("PHASEJAX_FAULT")
    if not spec:
        return None
    text, _, sweeps = spec.rpartition(":")
    label = out.name
    if HydraConfig.initialized():
        label = " ".join([*HydraConfig.get().overrides.task, label])
    if text not in label:
        return None

    def hook(done, total):
        if done >= int(sweeps):
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


def run(cfg: DictConfig, out: Path) -> list[dict]:
    model, sampler, T = build(cfg)
    r = cfg.run
    t0 = time.perf_counter()
    trace = simulate(jax.random.key(r.seed), model, sampler, T, n_replicas=r.n_replicas,
                     n_therm=r.n_therm, n_measure=r.n_measure, thin=r.thin,
                     site_histograms=r.site_histograms, progress=r.progress,
                     start=r.start, on_chunk=_fault_injection(out))
    log.info("%s/%s: %d temperatures x %d replicas, %d sweeps in %.1fs", cfg.toy.name,
             cfg.sampler.name, T.size, r.n_replicas, r.n_therm + r.n_measure,
             time.perf_counter() - t0)
    h = OmegaConf.to_container(cfg.toy.h) if OmegaConf.is_list(cfg.toy.h) else cfg.toy.h
    J = OmegaConf.to_container(cfg.toy.J) if OmegaConf.is_list(cfg.toy.J) else cfg.toy.J
    meta = dict(model=cfg.toy.name, q=model.q, dim=model.lattice.spatial_dim, L=model.lattice.L,
                geometry=model.lattice.kind, J=str(J), h=str(h), sampler=sampler.name,
                n_replicas=r.n_replicas, seed=r.seed)
    rows = [{**meta, **row} for row in observables.summarise(trace)]
    io.write_npz(out / "timeseries.npz", temperatures=trace.temperatures, energy=trace.energy,
                 counts=trace.counts, n_sites=trace.n_sites, q=trace.q, L=model.lattice.L,
                 dim=model.lattice.spatial_dim)
    io.write_table(out / "observables.csv", rows, COLUMNS)
    title = f"{cfg.toy.name} q={model.q} L={model.lattice.L} ({sampler.name})"
    plot.plot_observables(rows, out / "observables.png", title=title)
    return rows
