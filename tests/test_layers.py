"""The plan of the house, read from the code: every import points down a floor, and no two modules import each other,
however far round."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parent.parent
PACKAGES = ("banana", "standins", "bench")

# From the ground up. A module may import its own floor and the floors below it.
FLOORS = (
    "banana.domain",
    "banana.prompts",
    "banana.ui",
    "banana.engine",
    "banana.handlers",
    "banana.app",
    "banana.sandbox",
    "banana.cli",
    "banana.__main__",
)


def read_imports(root: Path = ROOT) -> dict[str, set[str]]:
    """Each of the project's modules and the project modules it imports (anywhere in it, functions included)."""
    files = {_module_name(path.relative_to(root)): path for p in PACKAGES for path in (root / p).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(_known(alias.name, files) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:  # `from banana.ui import blocks` imports the module banana.ui.blocks
                    child = f"{node.module}.{alias.name}"
                    found.add(child if child in files else _known(node.module, files))
        graph[module] = {name for name in found if name and name != module}
    return graph


def _module_name(relative: Path) -> str:
    parts = list(relative.with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _known(name: str, files: dict[str, Path]) -> str:
    """The project module an import names, or "" for anything outside the project."""
    while name and name not in files:
        name = name.rpartition(".")[0]
    return name


def floor(module: str) -> int | None:
    for number, prefix in enumerate(FLOORS):
        if module == prefix or module.startswith(prefix + "."):
            return number
    return None


def violations(graph: dict[str, set[str]]) -> list[str]:
    problems = []
    for module, imported in sorted(graph.items()):
        if module.startswith("banana.") and floor(module) is None:
            problems.append(f"{module} is on no floor")
        for name in sorted(imported):
            mine, theirs = floor(module), floor(name)
            if mine is not None and theirs is not None and theirs > mine:
                problems.append(f"{module} imports {name}, a floor up")
            if module.startswith("standins") and not name.startswith("standins"):
                problems.append(f"{module} imports {name}: the stand-ins stand apart from the app")
            if module.startswith("banana.handlers.") and name.startswith("banana.handlers"):
                problems.append(f"{module} imports {name}: listener modules never import each other")
    problems += [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import each other, directly or round a loop (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for name in sorted(graph.get(module, ())):
            if name not in index:
                visit(name)
                low[module] = min(low[module], low[name])
            elif name in stack:
                low[module] = min(low[module], index[name])
        if low[module] == index[module]:
            group = []
            while (name := stack.pop()) != module:
                group.append(name)
            group.append(module)
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_every_import_points_down_and_none_goes_round():
    graph = read_imports()
    assert "banana.engine.runner" in graph and "banana.handlers.commands" in graph  # the project was read
    assert "banana.domain.tasks" in graph["banana.engine.runner"]
    assert violations(graph) == []


def test_the_engine_never_reaches_for_a_listener():
    graph = read_imports()
    engine = [m for m in graph if m.startswith("banana.engine")]
    assert len(engine) > 5
    assert not any(name.startswith(("banana.handlers", "banana.app")) for m in engine for name in graph[m])


def test_the_checks_catch_what_they_are_for():
    graph = {
        "banana.domain.tasks": {"banana.engine.store"},  # up two floors
        "banana.engine.store": {"banana.engine.runner"},
        "banana.engine.runner": {"banana.engine.store"},  # round a loop
        "banana.handlers.views": {"banana.handlers.actions"},  # one listener module importing another
        "banana.handlers.actions": set(),
        "standins.slack": {"banana.domain.tasks"},
        "banana.stray": set(),
    }
    problems = violations(graph)
    assert "banana.domain.tasks imports banana.engine.store, a floor up" in problems
    assert "import cycle: banana.engine.runner -> banana.engine.store" in problems
    assert any("listener modules never import each other" in p for p in problems)
    assert any("stand-ins stand apart" in p for p in problems)
    assert "banana.stray is on no floor" in problems
    assert violations({"banana.cli": {"banana.sandbox.script", "banana.domain"}, "banana.domain": set()}) == []


def test_a_from_import_of_a_submodule_counts_as_that_module(tmp_path):
    (tmp_path / "banana" / "ui").mkdir(parents=True)
    (tmp_path / "banana" / "__init__.py").write_text("")
    (tmp_path / "banana" / "ui" / "__init__.py").write_text("")
    (tmp_path / "banana" / "ui" / "blocks.py").write_text("def later():\n    from banana.ui import cards\n")
    (tmp_path / "banana" / "ui" / "cards.py").write_text("from banana.ui import blocks\nimport httpx\n")
    graph = read_imports(tmp_path)
    assert graph["banana.ui.cards"] == {"banana.ui.blocks"}
    assert cycles(graph) == [["banana.ui.blocks", "banana.ui.cards"]]
