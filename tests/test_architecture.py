"""The package's shape, computed from its source: imports run down the layers of docs/architecture.md,
no module imports itself back through others, and no library function takes more than seven parameters.

Every import counts: at the top of a module, inside a function, and under ``TYPE_CHECKING``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "newsletter"
ARCHITECTURE = PACKAGE.parent / "docs" / "architecture.md"

#: The rooms of each layer, top first (docs/architecture.md draws the same). A room is a package under
#: newsletter/ or a top-level module; "" is newsletter/__init__.py.
LAYERS = (
    ("cli", "__main__"),
    ("server", "release"),
    ("audience", "review", "archive"),
    ("delivery", "tracking"),
    ("compose",),
    ("store",),
    ("settings", "errors", "tokens", "personalize", "email_validation", "textfiles", "return_path", "dkim_key", "durations", ""),
)
MAX_PARAMETERS = 7


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ["newsletter", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _target(name: str) -> str:
    """The module of ours that ``import name`` loads (a name inside a module counts as that module)."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def imports_of(module: str) -> set[str]:
    """Every module of the package that ``module`` imports, wherever in the file."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {_target(a.name) for a in node.names if a.name.split(".")[0] == "newsletter"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            if base.split(".")[0] != "newsletter":
                continue
            for alias in node.names:  # `from newsletter.store import ledger` imports the module ledger
                full = f"{base}.{alias.name}"
                found.add(full if full in MODULES else _target(base))
    found.discard(module)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def room(module: str) -> str:
    """The room of a module: its package under newsletter/, or its own name for a top-level module."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


RANK = {name: rank for rank, rooms in enumerate(LAYERS) for name in rooms}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts of more than one node (Tarjan), each a circle of imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            part = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                part.append(top)
                if top == node:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_function_level_and_type_checking_imports():
    # The reader must see what is imported late, or every rule below would pass on an empty graph.
    assert "newsletter.delivery.registry" in GRAPH["newsletter.delivery.send"]  # top level
    assert "newsletter.store.ledger" in GRAPH["newsletter.delivery.send"]  # inside a function
    assert "newsletter.compose.model" in GRAPH["newsletter.delivery.hooks"]  # under TYPE_CHECKING
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_there_is_no_import_circle_between_modules():
    assert cycles(GRAPH) == []


def test_there_is_no_import_circle_between_rooms():
    rooms = {room(m): set() for m in GRAPH}
    for module, targets in GRAPH.items():
        rooms[room(module)] |= {room(t) for t in targets} - {room(module)}
    assert cycles(rooms) == []


def test_every_room_has_a_layer():
    assert {room(m) for m in MODULES} - set(RANK) == set()


def test_imports_run_down_the_layers_only():
    upward = sorted(f"{module} -> {target}" for module, targets in GRAPH.items() for target in targets
                    if RANK[room(target)] < RANK[room(module)])
    assert upward == []


def test_the_architecture_document_draws_the_same_layers():
    block = re.search(r"```text\n(.*?)```", ARCHITECTURE.read_text(), re.S)
    assert block, "docs/architecture.md draws the layers, top first, one line each, in a ```text block"
    drawn = [{word.strip("/").removesuffix(".py") for word in line.split()}
             for line in block.group(1).splitlines() if line.strip()]
    assert drawn == [{name for name in rooms if name} for rooms in LAYERS]


def _parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    args = node.args
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
    return [n for n in names if n not in ("self", "cls")]


@pytest.mark.parametrize("module", sorted(m for m in MODULES if room(m) != "cli"))
def test_no_library_function_takes_more_than_seven_parameters(module):
    """The CLI's command functions take one parameter per option; everything below them groups its values."""
    tree = ast.parse(MODULES[module].read_text())
    wide = [f"{node.name} ({len(_parameters(node))})" for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and len(_parameters(node)) > MAX_PARAMETERS]
    assert wide == []
