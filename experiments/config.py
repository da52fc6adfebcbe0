"""Structured-config schemas for the Hydra entry points, registered in the ConfigStore.

The schemas come from the library: a toy's and a sampler's from its factory's signature
(:func:`toy_schemas`, :func:`sampler_schemas`), the probe's, the alignment protocol's and the
text-criticality settings, a task and LoRA from their dataclasses
(:func:`experiments.schema.schema_of`). YAML files under
``conf/`` (package data) extend them (``defaults: [base_<name>, _self_]``), so a
misspelt key or a value of the wrong type fails when the config is composed, before any work.
Each group node carries a ``_target_`` that :func:`hydra.utils.instantiate` calls at the edge; a
toy's shared parameters are checked against its factory's signature (:func:`toy_arguments`).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Dict, List, Optional

import numpy as np
from hydra.core.config_store import ConfigStore
from hydra.utils import get_method
from omegaconf import MISSING, OmegaConf

import toy_models
from experiments.schema import camel, schema_from_signature, schema_of
from phasejax.checks import check_temperatures
from phasejax.lattice import samplers
from phasejax.lattice.alignment import AlignmentProtocol
from phasejax.probe.measure import ProbeSettings
from phasejax.probe.tasks import Prompt, Task
from phasejax.text.generate import FreeGeneration
from phasejax.train.lora import LoRA


# The job kinds of ``python -m experiments.sweep`` and the module that runs each: the one list a
# new kind is added to (experiments.jobs reads it; its module holds RESULT_FILES, check, run).
JOB_MODULES = {"main": "experiments.main_job", "equilibrium": "experiments.equilibrium",
               "nucleation": "experiments.nucleation", "alignment": "experiments.alignment",
               "probe": "experiments.probe", "crystallize": "experiments.crystallize",
               "text_criticality": "experiments.text_criticality",
               "phase_diagram": "experiments.phase_diagram"}
# ``kind`` as an enum of those names: a typo fails at compose time
Kind = enum.StrEnum("Kind", {k: k for k in JOB_MODULES}, module=__name__)


@dataclass
class ToyConfig:
    _target_: str = MISSING
    name: str = MISSING
    L: int = 16
    dim: Optional[int] = None        # hypercubic lattices: 1-3 (None: 2)
    q: int = 2
    J: Any = 1.0
    h: Any = 0.0
    geometry: str = "hypercubic"
    R: Optional[int] = 1             # coupling range (None: a model's own default)


@dataclass
class SamplerConfig:
    _target_: str = "phasejax.lattice.samplers.make"
    name: str = MISSING


@functools.cache
def toy_schemas() -> dict:
    """``{name: schema}`` of every model in :mod:`toy_models`, derived from its factory."""
    out = {}
    for name in toy_models.available():
        factory = toy_models.REGISTRY[name]
        out[name] = schema_from_signature(
            factory, f"{camel(name)}Config", ToyConfig,
            {"_target_": f"{factory.__module__}.{factory.__qualname__}", "name": name})
    return out


@functools.cache
def sampler_schemas() -> dict:
    """``{name: schema}`` of every registered sampler, derived from its factory (the runtime
    arguments, such as a tempering ladder's length, are left to the run)."""
    return {name: schema_from_signature(samplers.REGISTRY[name], f"{camel(name)}SamplerConfig",
                                        SamplerConfig, {"name": name},
                                        skip=samplers.base.RUNTIME)
            for name in samplers.available()}


# created on import: a config pickled into a worker process finds its schema classes here
toy_schemas()
sampler_schemas()


@dataclass
class TemperatureConfig:
    """A grid from ``start`` to ``stop`` (``linear`` or ``geometric``), or explicit ``points``."""

    start: float = 1.5
    stop: float = 3.5
    num: int = 9
    spacing: str = "linear"
    points: Optional[List[float]] = None


@dataclass
class RunConfig:
    n_replicas: int = 4
    n_therm: int = 200
    n_measure: int = 1000
    thin: int = 1
    seed: int = 0
    progress: bool = True
    site_histograms: bool = True
    start: str = "random"
    compilation_cache: str = "auto"   # JAX's persistent cache: auto | off | <folder>


# the protocol's own fields (less ``seed``, which comes from ``run.seed``) as a schema
AlignmentConfig = schema_of(AlignmentProtocol, "AlignmentConfig", drop=("seed",))


@dataclass
class CommittorConfig:
    L: int = 48
    T: float = 1.2
    h: float = 0.1
    radii: List[float] = field(default_factory=lambda: [2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14])
    replicas: int = 64
    steps: int = 300
    pin_steps: int = 0


@dataclass
class RateConfig:
    L: int = 32
    T: float = 1.5
    fields: List[float] = field(default_factory=lambda: [0.19, 0.22, 0.26, 0.31])
    replicas: int = 32
    steps: int = 3000
    record_every: int = 10


@dataclass
class NucleationConfig:
    committor: CommittorConfig = field(default_factory=CommittorConfig)
    rate: RateConfig = field(default_factory=RateConfig)


@dataclass
class LMConfig:
    path: Optional[str] = "embedded"  # GGUF file, HF folder, or "embedded" (SmolLM2-135M GGUF)
    dtype: str = "float32"           # float32 | bfloat16
    name: Optional[str] = None       # label in tables (default: file or folder name)
    checkpoints: List[str] = field(default_factory=list)   # a chain: measured in order


# the probe's settings are the library's (phasejax.probe.measure.ProbeSettings), less seed
ProbeConfig = schema_of(ProbeSettings, "ProbeConfig", drop=("seed",))


@dataclass
class SpinsConfig:
    """One text mapping (:mod:`phasejax.text.spins`) and the sizes ``N`` it is measured at."""

    name: str = MISSING
    sizes: List[int] = MISSING                          # in the mapping's sites
    params: Dict[str, Any] = field(default_factory=dict)   # builder arguments, e.g. {q: 4}


def _criticality_config():
    """``criticality``: :class:`~phasejax.text.generate.FreeGeneration` (less ``seed``, which is
    ``run.seed``), the text mappings with their sizes, and the toy comparison's settings
    (:class:`phasejax.fit.bridge.ToySettings`)."""
    from phasejax.fit.bridge import ToySettings

    toy = schema_of(ToySettings, "CriticalityToyConfig")
    return schema_of(FreeGeneration, "CriticalityConfig", drop=("seed",), extra=(
        ("spins", List[SpinsConfig], field(default_factory=list)),
        ("bootstrap", int, 100),
        ("min_kept", float, 0.95),
        ("part", List[int], field(default_factory=lambda: [0, 1])),
        ("toy", toy, field(default_factory=toy))))


CriticalityConfig = _criticality_config()


# a task (phasejax/probe/task/*.yaml) is the library's Task; its prompt variants are Prompts
PromptConfig = schema_of(Prompt, "PromptConfig", drop=("id", "chat"), extra=(
    ("id", str, MISSING), ("chat", str, MISSING)))
TaskConfig = schema_of(Task, "TaskConfig", drop=("name", "kind", "options", "prompts"), extra=(
    ("name", str, MISSING), ("kind", str, MISSING),
    ("options", List[str], MISSING), ("prompts", List[PromptConfig], MISSING)))


@dataclass
class DecoderShapeConfig:
    """The fresh decoder crystallize pretrains (Llama family)."""

    hidden_size: int = 64
    intermediate_size: int = 128
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2


@dataclass
class TrainStageConfig:
    """One supervised stage (``phasejax.train.loop.train``'s settings, plus the documents)."""

    documents: int = 2000
    steps: int = 150
    batch: int = 64
    lr: float = 1e-3
    warmup: int = 10
    checkpoint_every: int = 25
    data: Optional[str] = None       # SFT only: a JSON-lines file of {"user": …, "answer": …}


@dataclass
class RLStageConfig:
    """The RL stage (``phasejax.train.rl.grpo``'s settings)."""

    steps: int = 40
    group: int = 16
    prompts_per_step: int = 8
    beta: float = 0.1
    lr: float = 3e-4
    checkpoint_every: int = 5


# LoRA's fields are the library's; rank 0 here means full fine-tuning
LoRAConfig = schema_of(LoRA, "LoRAConfig", drop=("rank",), extra=(("rank", int, 0),))


@dataclass
class CrystallizeConfig:
    """``crystallize``: pretrain → SFT → RL (``experiments/crystallize.py``)."""

    seed: int = 0
    width: int = 32                   # pretraining document length (tokens)
    seed_convention: Any = "even"     # a pretraining convention's name, or 10 probabilities
    reward_kind: str = "preference"   # preference | target
    reward: Dict[Any, float] = field(default_factory=lambda: {8: 1.0})   # option -> reward
    model: DecoderShapeConfig = field(default_factory=DecoderShapeConfig)
    pretrain: TrainStageConfig = field(default_factory=lambda: TrainStageConfig(
        documents=4000, steps=600, lr=3e-3, warmup=30, checkpoint_every=100))
    sft: TrainStageConfig = field(default_factory=TrainStageConfig)
    rl: RLStageConfig = field(default_factory=RLStageConfig)
    base: Optional[str] = None        # post-train this model instead of a fresh decoder
    form: str = "auto"                # chat | completion | auto
    dtype: str = "float32"
    lora: LoRAConfig = field(default_factory=LoRAConfig)
    chain: List[str] = field(default_factory=list)   # measure these checkpoints instead


@dataclass
class DoseStageConfig:
    """A supervised stage of the phase diagram (``phasejax.train.loop.train``'s settings and
    the rows drawn for it)."""

    documents: int = 1000             # rows drawn (prompt, answer from its target)
    steps: int = 24
    batch: int = 4
    lr: float = 2e-3
    warmup: int = 2
    checkpoint_every: int = 4


@dataclass
class MeltConfig(DoseStageConfig):
    """The melting stage: SFT toward each framing's own answers, heated."""

    heat: float = 1.0                 # targets ∝ convention^(1/heat): > 1 hotter, flatter
    # framing -> a convention's name or one probability per option (default: the framing's)
    targets: Dict[str, Any] = field(default_factory=dict)


@dataclass
class ReverseConfig(DoseStageConfig):
    """The dose run back from the seeded model (hysteresis)."""

    target: str = "melt"              # melt: the melt's targets | liquid: the melted answers


@dataclass
class TransferConfig(DoseStageConfig):
    """SFT toward the seed on one framing only (the transfer ``K`` stands for)."""

    framing: str = "the odd club"


@dataclass
class PhaseToyConfig:
    """The prompt-site toy fitted beside the model (``phasejax.fit.dose``)."""

    sites: Optional[int] = None       # prompt sites (None: one per held-out prompt)
    fit_temperatures: List[float] = field(default_factory=lambda: [1.0])
    min_error: float = 1.0e-3         # errors are floored at this in the fit's weights
    samples: int = 16                 # parameter draws whose spread is the toy's error
    n_iter: int = 200                 # mean-field iterations per point
    K_max: float = 20.0


@dataclass
class PhaseDiagramConfig:
    """``phase``: melt → seed → RL and back, on a (dose, T) grid (``experiments/phase_diagram.py``)."""

    seed: int = 0                     # the key of everything random
    seeds: int = 3                    # training seeds (errors over seeds)
    base: Optional[str] = "embedded"  # any model the probe loads
    form: str = "auto"                # chat | completion | auto
    dtype: str = "float32"
    lora: LoRAConfig = field(default_factory=lambda: LoRAConfig(rank=8))
    framings: Optional[List[str]] = None          # the world's framings used (None: all)
    phrasings: Optional[int] = None   # held-out phrasings measured per framing (None: all 3)
    seed_convention: Any = "even"     # a convention's name, probabilities, or {option: p}
    reward: Dict[Any, float] = field(default_factory=lambda: {8: 1.0})   # RL preference
    melt: MeltConfig = field(default_factory=lambda: MeltConfig(steps=40, checkpoint_every=20))
    sft: DoseStageConfig = field(default_factory=DoseStageConfig)
    doses: Optional[List[int]] = None  # SFT steps on the diagram (each a checkpoint; None: all)
    dose_unit: str = "steps"          # steps | lr (steps × learning rate: Σ of the schedule)
    rl: RLStageConfig = field(default_factory=lambda: RLStageConfig(
        steps=6, group=4, prompts_per_step=2, beta=0.05, lr=2e-3, checkpoint_every=2))
    reverse: ReverseConfig = field(default_factory=ReverseConfig)
    transfer: TransferConfig = field(default_factory=lambda: TransferConfig(
        steps=8, checkpoint_every=8))
    temperatures: TemperatureConfig = field(default_factory=lambda: TemperatureConfig(
        start=0.25, stop=4.0, num=33, spacing="geometric"))
    toy: PhaseToyConfig = field(default_factory=PhaseToyConfig)


@dataclass
class SweepConfig:
    kind: Kind = Kind.main
    toy: ToyConfig = MISSING
    sampler: SamplerConfig = MISSING
    temperatures: TemperatureConfig = field(default_factory=TemperatureConfig)
    run: RunConfig = field(default_factory=RunConfig)
    alignment: AlignmentConfig = field(default_factory=AlignmentConfig)
    nucleation: NucleationConfig = field(default_factory=NucleationConfig)
    lm: LMConfig = field(default_factory=LMConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    task: Optional[TaskConfig] = None
    crystallize: Optional[CrystallizeConfig] = None
    phase: Optional[PhaseDiagramConfig] = None
    criticality: CriticalityConfig = field(default_factory=lambda: CriticalityConfig())


def temperature_grid(cfg) -> np.ndarray:
    """The temperatures a :class:`TemperatureConfig` describes, checked to be finite and > 0."""
    if cfg.points is not None:
        T = np.asarray(list(cfg.points), float)
    else:
        if cfg.num < 1:
            raise ValueError(f"temperatures.num={cfg.num} must be >= 1")
        if cfg.spacing == "linear":
            T = np.linspace(cfg.start, cfg.stop, cfg.num)
        elif cfg.spacing == "geometric":
            if cfg.start <= 0 or cfg.stop <= 0:
                raise ValueError(f"geometric temperatures need start, stop > 0; got "
                                 f"{cfg.start}, {cfg.stop}")
            T = np.geomspace(cfg.start, cfg.stop, cfg.num)
        else:
            raise ValueError(f"temperatures.spacing={cfg.spacing!r}; expected 'linear' or 'geometric'")
    return check_temperatures(T)


def toy_arguments(toy) -> dict:
    """The keyword arguments a ``toy`` config node gives its factory (``_target_``).

    Which keys a toy accepts is read from the factory's signature (a ``**kwargs`` catch-all
    accepts nothing more). A key the factory does not take is refused with one error naming
    it, unless it is a shared schema field left at its default (``ToyConfig.q`` is 2 for every
    toy; the Ising factory has no ``q``): ``toy=ising toy.q=3`` or ``+toy.LL=8`` never run the
    default silently.
    """
    factory = get_method(toy._target_)
    params = inspect.signature(factory).parameters
    accepted = [n for n, p in params.items()
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    schema = OmegaConf.get_type(toy)
    defaults = ({f.name: f.default for f in dataclasses.fields(schema)
                 if f.default is not dataclasses.MISSING and f.default is not MISSING}
                if dataclasses.is_dataclass(schema) else {})
    values = OmegaConf.to_container(toy, resolve=True)
    kwargs, refused = {}, []
    for key, value in values.items():
        if key in ("_target_", "name"):
            continue
        if key in accepted:
            kwargs[key] = value
        elif key not in defaults or value != defaults[key]:
            refused.append(f"toy.{key}={value}")
    if refused:
        name = values.get("name", toy._target_)
        raise ValueError(f"{', '.join(refused)}: not a parameter of toy={name} (its "
                         f"parameters: {', '.join(accepted)})")
    return kwargs


def _has_yaml(group: str, name: str) -> bool:
    return resources.files("experiments.conf").joinpath(group, f"{name}.yaml").is_file()


def register_configs() -> None:
    """The sweep's schema, and per toy and sampler ``base_<name>`` (derived from the factory);
    one without a YAML preset of its own is also ``toy=<name>`` / ``sampler=<name>``."""
    cs = ConfigStore.instance()
    cs.store(name="base_sweep", node=SweepConfig)
    cs.store(group="crystallize", name="base_crystallize", node=CrystallizeConfig)
    cs.store(group="phase", name="base_phase", node=PhaseDiagramConfig)
    for group, schemas in (("toy", toy_schemas()), ("sampler", sampler_schemas())):
        for name, node in schemas.items():
            cs.store(group=group, name=f"base_{name}", node=node)
            if not _has_yaml(group, name):
                cs.store(group=group, name=name, node=node)
