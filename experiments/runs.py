"""Where a job's results go and when they are trusted: folder names, fingerprints, resuming.

* **Folder names.** ``outputs/<kind>/<run id>`` (``multirun/<kind>/<run id>/<job number>`` for
  ``-m``), the run id being :func:`run_id` of the command's overrides: the same command always
  writes into the same folder, so rerunning it resumes (finished jobs skip themselves). A
  multirun's jobs are numbered folders; each keeps its override list in
  ``.hydra/overrides.yaml``. ``hydra.run.dir=…`` / ``hydra.sweep.dir=…`` still choose any folder.
* **Fingerprints.** Before a job starts it writes ``fingerprint.json`` — the SHA-256 of its
  resolved configuration (less :data:`NOT_IN_FINGERPRINT`, settings that cannot change a
  number) and the configuration itself. :func:`run_once` skips a job only when the stored
  fingerprint matches and every result is there; a folder made with another configuration, or
  holding results without a fingerprint, is refused with one error naming what differs.
  Hydra rewrites ``.hydra/config.yaml`` on every launch: the fingerprint is the record of what
  the results were computed with (:mod:`experiments.compare` reads it).
* **Checks before any job runs.** :class:`RunCallbacks` composes every job of the command as
  its launcher will (a multirun's sweep expanded as Hydra's basic sweeper does), runs each
  job's ``check`` (:mod:`experiments.jobs`) and :func:`check_folder`, and refuses the command
  before the first job starts, one line per refused job, with no folder made and no traceback
  (``HYDRA_FULL_ERROR=1`` prints the tracebacks too).
* **Ctrl-C.** :func:`run_interruptible` says which jobs finished and the command that
  resumes, instead of a ``KeyboardInterrupt`` traceback.
* **Compilation cache.** :func:`compilation_cache` turns on JAX's persistent compilation cache
  (``~/.cache/phasejax/jax`` by default) so a rerun does not pay for compilation again.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import re
import shlex
import sys
import time
import traceback
from pathlib import Path
from typing import NamedTuple, NoReturn, Optional

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from phasejax import io

log = logging.getLogger(__name__)

FINGERPRINT = "fingerprint.json"
# settings that cannot change a result: left out of the fingerprint and of the folder name
NOT_IN_FINGERPRINT = ("run.progress", "run.compilation_cache")
SLUG_CHARS = 48


class ResultsMismatch(RuntimeError):
    """An output folder holds results of another configuration (or of an unknown one)."""


# ------------------------------------------------------------------------- folder names
def _override_key(override: str) -> str:
    return override.lstrip("~+").split("=", 1)[0]


def run_id(overrides) -> str:
    """A short, file-safe, stable name for a list of command-line overrides.

    ``"default"`` without overrides; otherwise the sorted overrides that fit in
    :data:`SLUG_CHARS` characters (for the reader) and 10 hex digits of the SHA-256 of all of
    them, so a long override list never makes a file name too long and two different lists
    never share a folder.
    """
    kept = sorted(str(o) for o in overrides if _override_key(str(o)) not in NOT_IN_FINGERPRINT)
    if not kept:
        return "default"
    digest = hashlib.sha256("\n".join(kept).encode()).hexdigest()[:10]
    slug = ""
    for o in kept:          # whole overrides while they fit; kind= is the parent folder
        if _override_key(o) == "kind":
            continue
        # one folder level, in characters Hydra's override grammar takes unquoted
        # (so the folder can be given back as hydra.run.dir=...)
        o = re.sub(r"[^A-Za-z0-9_.+-]+", "_", o.replace("=", "-").replace(",", "."))
        if len(slug) + len(o) < SLUG_CHARS:
            slug = f"{slug}+{o}" if slug else o
    return f"{slug}-{digest}" if slug else digest


def command_overrides(argv=None) -> list[str]:
    """The task overrides of a Hydra command line (``hydra.*`` and ``hydra/…`` left out)."""
    from hydra._internal.utils import get_args_parser

    args, _ = get_args_parser().parse_known_args(sys.argv[1:] if argv is None else argv)
    return [o for o in args.overrides if not _override_key(o).startswith(("hydra.", "hydra/"))]


def _run_id_resolver() -> str:
    # Read from the command line, not from the config: a multirun job's config lists only its
    # own overrides. Cached, so each job gets the launching process's value (Hydra copies the
    # resolver cache into every job's config, as it does for ${now:...}).
    return run_id(command_overrides())


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("phasejax.run_id"):
        OmegaConf.register_new_resolver("phasejax.run_id", _run_id_resolver, use_cache=True)


register_resolvers()


def command_line() -> str:
    """The command that started this process, as a user would type it again."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    head = (f"python -m {spec.name}" if spec is not None and spec.name
            else f"python {shlex.quote(sys.argv[0])}")
    return " ".join([head, *map(shlex.quote, sys.argv[1:])])


# ------------------------------------------------------------------------- fingerprints
def _without(tree: dict, dotted: str) -> None:
    *parents, last = dotted.split(".")
    for p in parents:
        tree = tree.get(p) if isinstance(tree, dict) else None
        if tree is None:
            return
    if isinstance(tree, dict):
        tree.pop(last, None)


def _subtree(tree: dict, keys) -> dict:
    """Only the dotted ``keys`` of ``tree`` (nested as in ``tree``)."""
    out: dict = {}
    for dotted in keys:
        *parents, last = dotted.split(".")
        src, dst = tree, out
        for p in parents:
            src = src.get(p, {}) if isinstance(src, dict) else {}
            dst = dst.setdefault(p, {})
        if isinstance(src, dict) and last in src:
            dst[last] = src[last]
    return out


def fingerprint(cfg, keys=None) -> tuple[str, dict]:
    """``(sha256, config)``: the resolved job configuration less :data:`NOT_IN_FINGERPRINT`;
    with ``keys`` (a job's ``CONFIG_KEYS``) only the parts of the configuration the job reads,
    so a setting it ignores cannot make its finished results look stale."""
    tree = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    tree.pop("hydra", None)
    if keys is not None:
        tree = _subtree(tree, keys)
    for key in NOT_IN_FINGERPRINT:
        _without(tree, key)
    text = json.dumps(tree, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest(), json.loads(text)


def _flat(tree, prefix=""):
    if isinstance(tree, dict):
        out = {}
        for k, v in tree.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out or {prefix.rstrip("."): {}}
    return {prefix.rstrip("."): tree}


def differences(old: dict, new: dict, limit: int = 6) -> str:
    a, b = _flat(old), _flat(new)
    diff = [f"{k}: {json.dumps(a.get(k, '<absent>'))} -> {json.dumps(b.get(k, '<absent>'))}"
            for k in sorted(set(a) | set(b)) if a.get(k, "<absent>") != b.get(k, "<absent>")]
    more = f" (and {len(diff) - limit} more)" if len(diff) > limit else ""
    return "; ".join(diff[:limit]) + more


def stored_config(folder) -> dict | None:
    """The configuration a job folder's results were computed with (its fingerprint's)."""
    path = Path(folder) / FINGERPRINT
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())["config"]
    except (ValueError, KeyError, TypeError) as e:
        raise ResultsMismatch(f"{path} is not a phasejax fingerprint ({e})") from e


def _has_results(folder: Path) -> bool:
    return folder.is_dir() and any(not p.name.startswith(".") and not p.name.endswith(".log")
                                   and p.name != FINGERPRINT for p in folder.iterdir())


def check_folder(cfg, out, keys=None) -> tuple[str, dict]:
    """Refuse ``out`` unless it is empty or its results were made with this configuration."""
    out = Path(out)
    digest, tree = fingerprint(cfg, keys)
    hint = ("delete that folder or write elsewhere (hydra.run.dir=<new folder>, or "
            "hydra.sweep.dir=<new folder> with -m)")
    old = stored_config(out)
    if old is None:
        if _has_results(out):
            raise ResultsMismatch(f"{out} already holds results without a fingerprint (made by "
                                  f"an older phasejax or by hand), so they cannot be checked "
                                  f"against this configuration: {hint}")
    elif (json.loads((out / FINGERPRINT).read_text()).get("sha256") != digest
          and _has_results(out)):      # (a fingerprint alone: a job that failed its checks)
        raise ResultsMismatch(f"{out} holds results of a different configuration "
                              f"({differences(old, tree)}); results are never mixed: {hint}")
    return digest, tree


def run_once(cfg, out, files, job, extra=(), keys=None) -> None:
    """Run ``job(cfg, out)`` unless its fingerprint matches and all of ``files`` are there.

    The fingerprint is written before the job starts, so a killed job resumes only under the
    same configuration; results (``files`` and ``extra``) are printed when done.
    """
    out = Path(out)
    digest, tree = check_folder(cfg, out, keys)
    if (out / FINGERPRINT).is_file() and io.is_finished(out, files):
        log.info("results already in %s (fingerprint %s); skipping", out, digest[:12])
        return
    io.write_json(out / FINGERPRINT, {"sha256": digest, "config": tree})
    job(cfg, out)
    for f in tuple(files) + tuple(extra):
        print(f"{f:>22}: {out / f}")


# ------------------------------------------------------------------------- environment
MIN_COMPILE_TIME_S = 0.5   # JAX: 1 s; ours: many 0.5–1 s programs, and hundreds below


def cache_dir_default() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "phasejax" / "jax"


def compilation_cache(setting="auto") -> Path | None:
    """Turn on JAX's persistent compilation cache; return its folder (``None``: off).

    ``setting``: ``"auto"`` (``$PHASEJAX_COMPILATION_CACHE``, else ``$JAX_COMPILATION_CACHE_DIR``,
    else ``~/.cache/phasejax/jax``), a folder, or ``"off"``. Compiled programs are keyed by
    JAX/XLA version, device and program, so a stale entry is never used.
    """
    import jax

    setting = "off" if setting in (None, False, "") else str(setting)
    if setting == "auto":
        setting = (os.environ.get("PHASEJAX_COMPILATION_CACHE")
                   or os.environ.get("JAX_COMPILATION_CACHE_DIR") or str(cache_dir_default()))
    if setting.lower() in ("off", "none", "false", "0"):
        return None
    path = Path(setting).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_TIME_S)
    try:   # a size bound turns on JAX's file lock: safe with parallel jobs sharing the cache
        import filelock  # noqa: F401
        jax.config.update("jax_compilation_cache_max_size", 4 << 30)
    except ImportError:
        pass
    return path


# ------------------------------------------------------------------------- before any job runs
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
MAX_REFUSAL_LINES = 10


class Job(NamedTuple):
    """One job of a command, as its launcher will run it."""

    number: Optional[int]    # its number in a multirun (None: a single run)
    label: str               # the overrides that tell it from the sweep's other jobs
    cfg: DictConfig          # the configuration the job function gets (no ``hydra`` node)
    folder: Path             # its output folder


def _job_config(cfg: DictConfig) -> DictConfig:
    """``cfg`` less its ``hydra`` node, as Hydra hands it to the job function."""
    task = copy.deepcopy(cfg)
    with read_write(task), open_dict(task):
        task.pop("hydra", None)
    return task


def planned_jobs(config: DictConfig, multirun: bool) -> list[Job] | None:
    """Every job the command will launch, composed as the launcher composes it.

    A multirun's overrides (and ``hydra.sweeper.params``) are expanded as Hydra's basic sweeper
    expands them, job numbers and folders included. ``None`` when another sweeper decides the
    jobs as it goes (an optimiser): then each job is checked when it starts.
    """
    if not multirun:
        return [Job(None, "", _job_config(config), Path(str(config.hydra.run.dir)))]
    if OmegaConf.select(config, "hydra.sweeper._target_") != BASIC_SWEEPER:
        return None
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    loader = GlobalHydra.instance().config_loader()
    params = [f"{k}={v}" for k, v in (config.hydra.sweeper.get("params") or {}).items()]
    parsed = OverridesParser.create(config_loader=loader).parse_overrides(
        params + list(config.hydra.overrides.task))
    swept = {o.get_key_element() for o in parsed if o.is_sweep_override()}
    jobs = []
    for n, overrides in enumerate(BasicSweeper.split_arguments(parsed, None)[0]):
        cfg = loader.load_sweep_config(config, list(overrides))
        with open_dict(cfg):
            cfg.hydra.job.id = n
            cfg.hydra.job.num = n
        label = " ".join(o for o in overrides if o.split("=", 1)[0] in swept)
        folder = Path(str(cfg.hydra.sweep.dir)) / str(cfg.hydra.sweep.subdir)
        jobs.append(Job(n, label, _job_config(cfg), folder))
    return jobs


def _kind_module(cfg: DictConfig, kind: Optional[str] = None):
    from experiments import jobs as kinds

    return kinds.module(cfg.get("kind") or kind)


def check_jobs(jobs, kind: Optional[str] = None) -> list[tuple[Job, Exception]]:
    """Each job's own checks (``check`` of its kind's module) and its folder's
    (:func:`check_folder`): the refused jobs, each with its error. ``kind``: the job kind of an
    entry point whose configuration names none (``python -m experiments.crystallize``)."""
    refused = []
    for job in jobs:
        try:
            module = _kind_module(job.cfg, kind)
            module.check(job.cfg)
            check_folder(job.cfg, job.folder, getattr(module, "CONFIG_KEYS", None))
        except Exception as e:      # whatever would stop the job stops the command, now
            refused.append((job, e))
    return refused


def _one_line(e: Exception) -> str:
    text = " ".join(str(e).split())
    said = (ValueError, OSError, ResultsMismatch)   # their messages name the value
    return text if isinstance(e, said) else f"{type(e).__name__}: {text}"


def refusal(refused, n_jobs: int, multirun: bool) -> str:
    """What a refused command prints: one line per refused job."""
    if not multirun:
        return f"error: {_one_line(refused[0][1])} (nothing was run)"
    lines = [f"error: job #{job.number} of {n_jobs}{f' ({job.label})' if job.label else ''}: "
             f"{_one_line(e)}" for job, e in refused[:MAX_REFUSAL_LINES]]
    if len(refused) == 1:
        return lines[0] + " (no job was run)"
    more = len(refused) - len(lines)
    return "\n".join(lines + [f"error: {len(refused)} of {n_jobs} jobs refused"
                              + (f" ({more} not shown)" if more else "") + "; no job was run"])


def refuse(refused, n_jobs: int, multirun: bool) -> NoReturn:
    """Print the refusal and exit with status 1 (a callback's exception would only be a
    warning to Hydra); ``HYDRA_FULL_ERROR=1`` prints each error's traceback first."""
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        for _, e in refused:
            traceback.print_exception(e)
    print(refusal(refused, n_jobs, multirun), file=sys.stderr, flush=True)
    sys.exit(1)


# ------------------------------------------------------------------------- Ctrl-C
LAUNCHED: dict = {}    # what this process launched (RunCallbacks): read after a Ctrl-C


def _finished(job: Job, kind: Optional[str] = None) -> bool:
    files = _kind_module(job.cfg, kind).RESULT_FILES
    return (job.folder / FINGERPRINT).is_file() and io.is_finished(job.folder, files)


def _numbers(jobs) -> str:
    shown = ", ".join(f"#{j.number}" for j in jobs[:8])
    return shown + (f" and {len(jobs) - 8} more" if len(jobs) > 8 else "")


def interrupted(launched: dict | None = None) -> str:
    """What a Ctrl-C leaves: which jobs finished, and the command that resumes the others."""
    launched = LAUNCHED if launched is None else launched
    if not launched:
        return "interrupted before any job started"
    folder, jobs, kind = launched["folder"], launched["jobs"], launched.get("kind")
    again = ("run the same command again to resume (finished jobs are kept):\n  "
             f"{launched['command']}")
    if jobs is None:
        return f"interrupted: results so far in {folder}; {again}"
    done = [j for j in jobs if _finished(j, kind)]
    if not launched["multirun"]:
        if done:
            return f"interrupted after the job finished: results in {folder}"
        return f"interrupted: the job in {folder} did not finish; {again}"
    if len(done) == len(jobs):
        return (f"interrupted: all {len(jobs)} jobs finished in {folder}, the aggregation did "
                f"not; {again}")
    which = f" ({_numbers(done)})" if done else ""
    return f"interrupted: {len(done)} of {len(jobs)} jobs finished{which} in {folder}; {again}"


def run_interruptible(main) -> None:
    """Call a Hydra ``main``; a Ctrl-C prints :func:`interrupted` and exits with status 130
    instead of a ``KeyboardInterrupt`` traceback."""
    try:
        main()
    except KeyboardInterrupt:
        print(interrupted(), file=sys.stderr, flush=True)
        sys.exit(130)


# ------------------------------------------------------------------------- the callback
SHARED_DEVICE_ENV = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}


class RunCallbacks(Callback):
    """Hydra callback: check every job before the first runs; say where results go and how to
    resume; share devices in a multirun.

    Before the first job starts, every job of the command is composed and checked
    (:func:`planned_jobs`, :func:`check_jobs`); a refused command prints one line per refused
    job and exits, before any folder is made (:func:`refuse`). ``kind``: the job kind of an
    entry point whose configuration names none.

    In a multirun several jobs may share one accelerator (joblib workers, submitit tasks on one
    node), so JAX must not grab 75 % of its memory per process: the environment is set here,
    in the launching process, before any worker starts (workers inherit it). A variable the
    user has set is left alone.
    """

    def __init__(self, kind: Optional[str] = None):
        self.kind = kind

    def on_run_start(self, config, **kwargs) -> None:
        self._start(config, multirun=False)

    def on_multirun_start(self, config, **kwargs) -> None:
        for k, v in SHARED_DEVICE_ENV.items():
            os.environ.setdefault(k, v)
        self._start(config, multirun=True)

    def _start(self, config, multirun: bool) -> None:
        t0 = time.perf_counter()
        jobs = planned_jobs(config, multirun)
        if jobs is not None:
            refused = check_jobs(jobs, self.kind)
            if refused:
                refuse(refused, len(jobs), multirun)
            if multirun:
                log.info("checked %d jobs in %.1f s", len(jobs), time.perf_counter() - t0)
        folder = Path(str(config.hydra.sweep.dir if multirun else config.hydra.run.dir))
        LAUNCHED.update(folder=folder.absolute(), jobs=jobs, multirun=multirun,
                        kind=self.kind, command=command_line())
        print(f"results: {folder.absolute()}\n"
              f"resume (finished jobs are kept): {command_line()}", flush=True)
