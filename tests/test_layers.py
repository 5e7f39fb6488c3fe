"""The plan of the house, read from the code: every import points down a floor, and no two modules import each other,
however far round."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parent.parent
# The app's top-level packages, from the ground up, then what stands beside it.
APP_PACKAGES = ("prompts", "bot", "handlers", "banana")
PACKAGES = (*APP_PACKAGES, "standins", "bench")

# From the ground up: a module may import its own floor and the floors below it. A module's floor is the one of the
# longest prefix that names it (`bot.store.sqlite` is on `bot.store`'s floor, `bot.settings` on `bot`'s).
FLOORS: tuple[tuple[str, ...], ...] = (
    ("prompts.options", "prompts.tasks", "prompts.estimates"),  # the shared vocabulary: plain data, no I/O
    ("prompts",),  # what people type, turned into the prompt kie receives: the parser, the studio's catalog
    ("bot.blocks",),  # pure Block Kit builders
    ("bot",),  # settings and redaction: what every room below reads
    ("bot.store",),  # the only place that writes SQL
    ("bot.clients",),  # kie.ai and Slack, their limits, tokens and images
    ("bot.jobs",),  # the work in flight: the runner, its schedule, edits in a thread
    ("bot.services",),  # what people's actions call: start, budgets, Home, privacy
    ("handlers",),  # Bolt listeners, one module per surface
    ("banana.app",),  # the composition root: wiring, server, doctor
    ("banana.sandbox",),
    ("banana.cli", "banana.__main__", "banana"),
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
                for alias in node.names:  # `from bot.blocks import cards` imports the module bot.blocks.cards
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
    best: tuple[int, int] | None = None  # (length of the prefix, floor)
    for number, prefixes in enumerate(FLOORS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), number)
    return None if best is None else best[1]


def violations(graph: dict[str, set[str]]) -> list[str]:
    problems = []
    for module, imported in sorted(graph.items()):
        if module.split(".")[0] in APP_PACKAGES and floor(module) is None:
            problems.append(f"{module} is on no floor")
        for name in sorted(imported):
            mine, theirs = floor(module), floor(name)
            if mine is not None and theirs is not None and theirs > mine:
                problems.append(f"{module} imports {name}, a floor up")
            if module.startswith("standins") and not name.startswith("standins"):
                problems.append(f"{module} imports {name}: the stand-ins stand apart from the app")
            if _listener(module) and (name == "handlers" or _listener(name)):
                problems.append(f"{module} imports {name}: listener modules never import each other")
    problems += [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    return problems


# What the listeners share that is not a listener: it registers nothing, and any listener may import it.
NOT_LISTENERS = frozenset({"handlers.payloads"})


def _listener(module: str) -> bool:
    return module.startswith("handlers.") and module not in NOT_LISTENERS


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


# Bolt and aiohttp's server stay in the listeners and the composition root; the engine may use aiohttp's client.
FRAMEWORKS = ("slack_bolt", "aiohttp.web")
PURE_PACKAGES = ("prompts", "bot")


def framework_imports(root: Path = ROOT) -> list[str]:
    """Each `module imports name` where a module of prompts/ or bot/ imports Bolt or aiohttp's server."""
    found = []
    for package in PURE_PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            module = _module_name(path.relative_to(root))
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
                found += [f"{module} imports {n}" for n in names if n in FRAMEWORKS or n.startswith(_PREFIXES)]
    return sorted(set(found))


_PREFIXES = tuple(f"{name}." for name in FRAMEWORKS)


def test_the_engine_and_prompts_import_no_bolt_and_no_aiohttp_server():
    assert framework_imports() == []


def test_the_framework_check_catches_bolt_and_aiohttp_web(tmp_path):
    (tmp_path / "bot" / "services").mkdir(parents=True)
    (tmp_path / "prompts").mkdir()
    (tmp_path / "bot" / "services" / "a.py").write_text("from slack_bolt.context.async_context import X\n")
    (tmp_path / "bot" / "services" / "b.py").write_text("from aiohttp import web, ClientSession\n")
    (tmp_path / "prompts" / "c.py").write_text("import aiohttp\nimport slack_sdk\ndef f():\n    import slack_bolt\n")
    assert framework_imports(tmp_path) == [
        "bot.services.a imports slack_bolt.context.async_context",
        "bot.services.a imports slack_bolt.context.async_context.X",
        "bot.services.b imports aiohttp.web",
        "prompts.c imports slack_bolt",
    ]


def test_every_import_points_down_and_none_goes_round():
    graph = read_imports()
    assert "bot.jobs.runner" in graph and "handlers.commands" in graph  # the project was read
    assert "prompts.tasks" in graph["bot.jobs.runner"]
    assert violations(graph) == []


def test_the_top_level_packages_point_down_too():
    """prompts < bot < handlers < banana, read from the imports themselves, not from the floors' names."""
    graph = read_imports()
    order = {package: number for number, package in enumerate(APP_PACKAGES)}
    upward = sorted(
        f"{module} imports {name}"
        for module, imported in graph.items()
        for name in imported
        if module.split(".")[0] in order
        and name.split(".")[0] in order
        and order[name.split(".")[0]] > order[module.split(".")[0]]
    )
    assert upward == []


def test_the_engine_never_reaches_for_a_listener():
    graph = read_imports()
    engine = [m for m in graph if m == "bot" or m.startswith("bot.")]
    assert len(engine) > 5
    assert not any(name.startswith(("handlers", "banana")) for m in engine for name in graph[m])


def test_the_checks_catch_what_they_are_for():
    graph = {
        "prompts.tasks": {"bot.store"},  # up three floors
        "bot.store": {"bot.jobs.runner"},
        "bot.jobs.runner": {"bot.store"},  # round a loop
        "bot.clients.kie": {"bot.services.budget"},  # a client reaching for a service
        "handlers.views": {"handlers.actions"},  # one listener module importing another
        "handlers.actions": {"handlers.payloads"},  # the payload readers are shared, not a listener
        "handlers.payloads": set(),
        "standins.slack": {"prompts.tasks"},
        "bot.stray": set(),
        "banana.stray": set(),
    }
    problems = violations(graph)
    assert "prompts.tasks imports bot.store, a floor up" in problems
    assert "bot.store imports bot.jobs.runner, a floor up" in problems
    assert "bot.clients.kie imports bot.services.budget, a floor up" in problems
    assert "import cycle: bot.jobs.runner -> bot.store" in problems
    assert [p for p in problems if "listener modules never import each other" in p] == [
        "handlers.views imports handlers.actions: listener modules never import each other"
    ]
    assert "handlers.views imports handlers" in " ".join(violations({"handlers.views": {"handlers"}}))
    assert any("stand-ins stand apart" in p for p in problems)
    assert "banana.stray is on no floor" not in problems  # `banana` itself is the top floor
    assert floor("bot.stray") == floor("bot.settings") and floor("bot.store.sqlite") == floor("bot.store")
    assert violations({"banana.cli": {"banana.sandbox.script", "prompts"}, "prompts": set()}) == []


def test_a_from_import_of_a_submodule_counts_as_that_module(tmp_path):
    (tmp_path / "bot" / "blocks").mkdir(parents=True)
    (tmp_path / "bot" / "__init__.py").write_text("")
    (tmp_path / "bot" / "blocks" / "__init__.py").write_text("")
    (tmp_path / "bot" / "blocks" / "text.py").write_text("def later():\n    from bot.blocks import cards\n")
    (tmp_path / "bot" / "blocks" / "cards.py").write_text("from bot.blocks import text\nimport httpx\n")
    graph = read_imports(tmp_path)
    assert graph["bot.blocks.cards"] == {"bot.blocks.text"}
    assert cycles(graph) == [["bot.blocks.cards", "bot.blocks.text"]]
