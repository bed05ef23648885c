"""The layout holds (issue 13): no import circle among the modules, and each layer imports only downwards.

The graph is read from the source (module-level imports; imports inside functions and under TYPE_CHECKING
are deliberate late bindings and are left out, and so is a module's import of its own parent package, which
Python has initialised first), so a circle is found here before it bites at start-up.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("connector", "adapters")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _top_level_imports(tree: ast.Module, module: str, is_package: bool) -> set[str]:
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        nodes = [node] if not isinstance(node, ast.If | ast.Try) else list(ast.walk(node))
        for item in nodes:
            if isinstance(item, ast.Import):
                found.update(alias.name for alias in item.names)
            elif isinstance(item, ast.ImportFrom):
                base = item.module or ""
                if item.level:
                    anchor = module.split(".") if is_package else module.split(".")[:-1]
                    anchor = anchor[: len(anchor) - item.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in item.names)
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        imports = _top_level_imports(ast.parse(path.read_text()), name, path.name == "__init__.py")
        # a module's own parent packages are initialised before it whatever it imports: not an edge
        ancestors = {".".join(name.split(".")[:n]) for n in range(1, name.count(".") + 1)}
        graph[name] = {i for i in imports if i in files and i != name and i not in ancestors}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_no_import_circles():
    assert _cycles(_graph()) == []


def test_the_graph_is_read():  # the test above must not pass because it saw nothing
    graph = _graph()
    assert "connector.cli.offline" in graph and "connector.cli.common" in graph["connector.cli.offline"]
    assert "connector.runtime.history" in graph["adapters.zendesk.reconcile"]


def test_config_and_the_rules_do_not_import_each_other_both_ways():
    graph = _graph()
    config_needs = {m for m in graph["connector.config"] if m.startswith("connector.rules")}
    assert "connector.rules.escalation" not in config_needs  # what both need is in connector.templates
    for needed in config_needs:  # a rules module config builds on (the calendar) is a leaf of the core
        assert not any(m == "connector.config" for m in graph[needed]), needed


def test_each_folder_is_one_layer():
    """The core imports no shell; adapters import no service, command line or worker loop; the runtime
    knows no help desk (it reaches them only through the registry)."""
    graph = _graph()
    for module, imports in graph.items():
        if module.startswith("connector.rules"):
            assert not {i for i in imports if i.startswith(("adapters", "connector.store", "connector.service",
                                                             "connector.runtime", "connector.cli"))}, module
        if module.startswith("adapters"):
            assert not {i for i in imports if i.startswith(("connector.service", "connector.cli"))}, module
        if module.startswith("connector.runtime"):
            assert not {i for i in imports if i.startswith(("adapters.zendesk", "adapters.freshdesk",
                                                             "adapters.webhook"))}, module


def test_command_modules_never_import_the_package_that_assembles_them():
    """The old circle (cli.py ↔ cli_reports.py) hid in a function-level import: read every import here."""
    for path in (ROOT / "connector" / "cli").glob("*.py"):
        if path.name == "__init__.py":
            continue
        names = {n.module for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ImportFrom)}
        assert "connector.cli" not in names, path.name


def test_the_command_line_starts_without_the_database_and_web_libraries():
    """`connector replay` and the other offline commands start in about half the time without SQLAlchemy,
    Alembic and Flask (issue 14: 0.3 s of every start-up came from `connector board`'s module); the commands
    that need them import them when they run."""
    import subprocess
    import sys

    probe = ("import sys, connector.cli; "
             "print(sorted(m for m in ('sqlalchemy', 'alembic', 'flask', 'psycopg') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"
