"""The architecture as tests: which layer may import what, what stays free of gevent, and the
public names. Every import counts, also one inside a function or under TYPE_CHECKING."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "loadgen"

# Importing any of these monkey-patches the process or needs a patched one.
GEVENT_WORLD = ("gevent", "geventhttpclient", "locust")
# The layers around the core; the core (every module directly under loadgen/) imports none.
OUTER = (
    "loadgen.cli",
    "loadgen.dashboards",
    "loadgen.report",
    "loadgen.run",
    "loadgen.sidecar",
    "loadgen.sim",
    "loadgen.sinks",
    "loadgen.swarm",
)
ENTRY_POINT = "loadgen.__main__"


def package(name: str) -> tuple[str, ...]:
    """A package and everything under it, as module-name patterns."""
    return (name, f"{name}.*")


EVERY = package("loadgen")
# The core: the package itself and every module directly under loadgen/ but the entry point.
CORE = ("loadgen", *sorted(f"loadgen.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem[0] != "_"))


@dataclass(frozen=True)
class Rule:
    """Modules matching `layer` import nothing under `never`, unless they match `exempt`."""

    says: str
    layer: tuple[str, ...]
    never: tuple[str, ...]
    exempt: tuple[str, ...] = ()


RULES = (
    Rule("only the swarm runs in gevent", EVERY, GEVENT_WORLD, exempt=package("loadgen.swarm")),
    Rule(
        "the CLI process never enters the Locust world",
        package("loadgen.cli") + package("loadgen.run"),
        ("loadgen.swarm", *GEVENT_WORLD),
    ),
    Rule("click stays in the CLI", EVERY, ("click",), exempt=package("loadgen.cli")),
    Rule(
        "the CLI is a leaf", EVERY, ("loadgen.cli",), exempt=(*package("loadgen.cli"), ENTRY_POINT)
    ),
    Rule("the core imports no outer layer", CORE, (*OUTER, *GEVENT_WORLD)),
    Rule("backends are core", package("loadgen.backends"), (*OUTER, *GEVENT_WORLD)),
    Rule(
        "reports read results files, not the sidecar or the swarm",
        package("loadgen.report"),
        ("loadgen.sidecar", "loadgen.swarm"),
    ),
)
NO_CYCLES_INSIDE = ("loadgen.backends",)


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module (`from a import b` gives a.b when b is a module)
    line: int

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _from_base(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = parts[: len(parts) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _targets(module: str, path: Path, node: ast.AST) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        base = _from_base(module, path, node)
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            yield submodule if submodule in modules() else base


@cache
def imports() -> tuple[Import, ...]:
    found: list[Import] = []
    for module, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            line = getattr(node, "lineno", 0)
            found.extend(Import(module, t, line) for t in _targets(module, path, node))
    return tuple(dict.fromkeys(found))  # `from a import b, c` is one import of a


def _matches(module: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatchcase(module, p) for p in patterns)


def _under(target: str, prefixes: tuple[str, ...]) -> bool:
    return any(target == p or target.startswith(f"{p}.") for p in prefixes)


@pytest.mark.parametrize("rule", RULES, ids=[r.says for r in RULES])
def test_layer_rule(rule: Rule) -> None:
    broken = [
        str(imp)
        for imp in imports()
        if _matches(imp.module, rule.layer)
        and not _matches(imp.module, rule.exempt)
        and _under(imp.target, rule.never)
    ]
    assert not broken, f"{rule.says}:\n" + "\n".join(broken)


def test_core_is_the_top_level_modules() -> None:
    assert {"loadgen.records", "loadgen.schema", "loadgen.line_protocol"} <= set(CORE)
    assert ENTRY_POINT not in CORE and "loadgen.backends" not in CORE


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph` as a path that returns to its start, else None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for nxt in sorted(graph.get(node, ())):
            if (found := visit(nxt, [*path, node])) is not None:
                return found
        done.add(node)
        return None

    for start in sorted(graph):
        if (found := visit(start, [])) is not None:
            return found
    return None


@pytest.mark.parametrize("pkg", NO_CYCLES_INSIDE)
def test_no_import_cycle_between_files(pkg: str) -> None:
    inside = package(pkg)
    graph: dict[str, set[str]] = {}
    for imp in imports():
        if _matches(imp.module, inside) and _matches(imp.target, inside):
            graph.setdefault(imp.module, set()).add(imp.target)
    cycle = _cycle(graph)
    assert cycle is None, " -> ".join(cycle or [])


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


_GEVENT_FREE_PROBE = """
import importlib, json, pkgutil, sys
import loadgen.cli, loadgen.report
names = ["loadgen.cli"]
names += sorted({target.split(":")[0] for target in loadgen.cli.COMMANDS.values()})
names += ["loadgen.sim.server", "loadgen.sidecar.runner"]
names += sorted(f"loadgen.report.{m.name}" for m in pkgutil.iter_modules(loadgen.report.__path__))
pulled_in_by = {}
for name in names:
    importlib.import_module(name)
    for banned in BANNED:
        if banned in sys.modules:
            pulled_in_by.setdefault(banned, name)
print(json.dumps({"imported": names, "pulled_in_by": pulled_in_by}))
"""


def _probe(script: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    data: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return data


def test_cli_simulator_sidecar_and_report_stay_free_of_gevent() -> None:
    """What `loadgen sim`, `loadgen sidecar` and `loadgen report` import is never patched."""
    found = _probe(f"BANNED = {GEVENT_WORLD!r}\n{_GEVENT_FREE_PROBE}")
    imported = found["imported"]
    assert isinstance(imported, list)
    assert {"loadgen.cli.swarm", "loadgen.cli.sidecar", "loadgen.report.writer"} <= set(imported)
    assert found["pulled_in_by"] == {}


_EXPORTS_PROBE = """
import importlib, inspect, json
module = importlib.import_module(NAME)
star = {}
exec(f"from {NAME} import *", star)  # resolves every name of __all__, lazy ones too
own = sorted(
    name
    for name, value in vars(module).items()
    if not name.startswith("_")
    and (inspect.isclass(value) or inspect.isfunction(value))
    and value.__module__.startswith("loadgen")
)
print(json.dumps({
    "all": getattr(module, "__all__", None),
    "star": sorted(n for n in star if n != "__builtins__"),
    "own": own,
}))
"""

# The names a user's code may import; changing them is an API change.
EXPORTS = {
    "loadgen": {
        "EngineSample",
        "GpuSample",
        "HostSample",
        "ProcessSample",
        "RequestRecord",
        "__version__",
    },
    "loadgen.swarm": {"ChatUser", "events"},  # `from loadgen.swarm import ChatUser, events`
}


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_exported_members(name: str) -> None:
    found = _probe(f"NAME = {name!r}\n{_EXPORTS_PROBE}")
    exported, star, own = found["all"], found["star"], found["own"]
    assert isinstance(exported, list) and isinstance(star, list) and isinstance(own, list)
    assert set(exported) == EXPORTS[name] and len(exported) == len(set(exported))
    assert star == sorted(EXPORTS[name])  # every exported name imports
    assert set(own) <= set(exported)  # no loadgen class or function left unexported
