"""The product's layout: layers import only downwards, no import cycles, rooms of a readable size.

The layers, top to bottom: the composition root (`bot.app`, `bot.cli`, the HTTP server), then
`handlers`, then the desk's tools (`bot.desk`), then the relay (`bot.relay`), then the machinery
(`bot.delivery` and the small modules beside it: configuration, logging, metrics, the Bot),
then `storage`. A module may
import from its own layer and the ones below, never from above.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "storage")
MAX_MODULE_LINES = 600
MAX_CLASS_LINES = 400

LAYERS = {  # the first prefix that matches names the layer
    "bot.__main__": 6,
    "bot.app": 6,
    "bot.cli": 6,
    "bot.http_server": 6,
    "handlers": 5,
    "bot.desk": 4,
    "bot.relay": 3,
    "bot.delivery": 2,
    "bot": 2,  # configuration, logs, metrics, hours, checks, the Bot, backups
    "storage": 1,
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
    }


def _layer(module: str) -> int:
    for prefix, layer in LAYERS.items():
        if module == prefix or module.startswith(prefix + "."):
            return layer
    raise AssertionError(f"{module} belongs to no layer")


def _imports(module: str, source: str, known: set[str], *, is_package: bool = False) -> set[str]:
    """The product modules `module` imports (TYPE_CHECKING imports included)."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {
        module: _imports(
            module,
            path.read_text(encoding="utf-8"),
            known,
            is_package=path.name == "__init__.py",
        )
        for module, path in modules.items()
    }


def test_no_module_imports_from_a_layer_above_it() -> None:
    upward = [
        f"{module} (layer {_layer(module)}) imports {target} (layer {_layer(target)})"
        for module, targets in _graph().items()
        for target in sorted(targets)
        if _layer(target) > _layer(module)
    ]
    assert upward == []


def test_the_import_graph_has_no_cycles() -> None:
    graph = _graph()
    # A package imports its own modules (its __init__ re-exports); that is no cycle of meaning.
    for module, targets in graph.items():
        targets -= {t for t in targets if t.startswith(module + ".")}
    state: dict[str, str] = {}
    cycles: list[list[str]] = []

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


@pytest.mark.parametrize("module", sorted(_modules()))
def test_rooms_stay_readable(module: str) -> None:
    path = _modules()[module]
    source = path.read_text(encoding="utf-8")
    assert len(source.splitlines()) <= MAX_MODULE_LINES, f"{module} has grown past a room"
    long_classes = [
        f"{node.name}: {node.end_lineno - node.lineno + 1} lines"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ClassDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES
    ]
    assert long_classes == []


def test_an_upward_import_is_seen() -> None:
    """The layer check can fail: storage importing the relay, even lazily, is found."""
    known = set(_modules())
    source = "def f():\n    from bot.relay.texts import Texts\n"
    found = _imports("storage.people", source, known)
    assert found == {"bot.relay.texts"}
    assert _layer("bot.relay.texts") > _layer("storage.people")
