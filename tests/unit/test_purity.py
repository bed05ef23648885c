"""The rules core is pure (DESIGN §1, STYLE §1–2): no I/O imports, no reading of the clock."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "connector" / "rules"

# What the core may import: the standard library's pure parts, `holidays`, and these project modules.
ALLOWED_PROJECT = {"connector.rules", "connector.events", "connector.errors", "connector.templates",
                   "connector.config"}
FORBIDDEN = {"flask", "requests", "sqlalchemy", "alembic", "apscheduler", "zenpy", "freshdesk", "adapters", "socket",
             "http", "urllib", "subprocess", "os", "sys", "io", "pathlib", "shutil", "tempfile", "sqlite3",
             "psycopg", "psycopg2", "logging", "time", "random", "asyncio", "threading_timer", "click", "yaml",
             "waitress", "gunicorn", "signal", "multiprocessing"}
CLOCK_READS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"),
               ("time", "time"), ("time", "monotonic"), ("time", "perf_counter")}


def _modules(tree: ast.AST) -> list[tuple[str, bool]]:
    """Return (module, type_checking_only) for each import."""
    out = []
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in ast.walk(node):
                guarded.add(id(sub))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, id(node) in guarded) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, id(node) in guarded))
    return out


def test_rules_import_nothing_that_does_io():
    files = sorted(RULES.glob("*.py"))
    assert len(files) >= 6
    bad = []
    for path in files:
        for module, type_only in _modules(ast.parse(path.read_text())):
            top = module.split(".")[0]
            if top in FORBIDDEN:
                bad.append(f"{path.name}: imports {module}")
            if top == "connector" and not type_only:
                if not any(module == p or module.startswith(p + ".") for p in ALLOWED_PROJECT - {"connector.config"}):
                    bad.append(f"{path.name}: imports {module} at run time")
    assert bad == []


def test_modules_the_rules_import_are_pure_too():
    for name in ("events.py", "errors.py", "templates.py"):
        for module, _ in _modules(ast.parse((ROOT / "connector" / name).read_text())):
            assert module.split(".")[0] not in FORBIDDEN, f"{name} imports {module}"


def test_rules_never_read_the_clock():
    bad = []
    for path in sorted(RULES.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value
                name = getattr(owner, "id", None) or getattr(owner, "attr", "")
                if (name, node.func.attr) in CLOCK_READS:
                    bad.append(f"{path.name}:{node.lineno}: {name}.{node.func.attr}()")
    assert bad == []
