"""The layers import downwards only, and no module imports itself round a cycle.

Read from the source with ``ast`` (nothing is imported): every ``import`` a module can run,
at its top or inside a function, except those under ``if TYPE_CHECKING:``. The order is the
one ``mercato/__init__.py`` states; ``devtools`` (not shipped) may use everything, and nothing
shipped may use it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mercato.settings import REPO_ROOT

#: Bottom to top: a package may import its own layer and the ones before it.
LAYERS = [
    "mercato",
    "expectations",
    "warehouse",
    "features",
    "models",
    "monitoring",
    "serving",
    "pipeline",
    "dags",
    "devtools",
]


def _modules() -> dict[str, Path]:
    out = {}
    for package in LAYERS:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, path: Path, top_level_only: bool) -> set[str]:
    """The modules ``module`` imports (absolute names, relative imports resolved)."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(nodes: list[ast.stmt], nested: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node):
                visit(node.orelse, nested)
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names)
            if top_level_only and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for field in ("body", "orelse", "finalbody", "handlers"):
                children = getattr(node, field, None)
                if isinstance(children, list) and children and isinstance(children[0], ast.AST):
                    visit([c for c in children if isinstance(c, ast.stmt)] or [], nested)
                    for handler in children:
                        if isinstance(handler, ast.ExceptHandler):
                            visit(handler.body, nested)

    visit(tree.body, False)
    return found


MODULES = _modules()


def _layer(module: str) -> int | None:
    top = module.split(".")[0]
    return LAYERS.index(top) if top in LAYERS else None


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_higher_layer(module: str) -> None:
    own = _layer(module)
    upward = sorted(
        name
        for name in _imports(module, MODULES[module], top_level_only=False)
        if (layer := _layer(name)) is not None and layer > own
    )
    assert not upward, f"{module} ({LAYERS[own]}) imports a higher layer: {upward}"


def test_the_ground_imports_only_the_ground_and_the_standard_library() -> None:
    for module, path in MODULES.items():
        if module.split(".")[0] != "mercato":
            continue
        others = {n.split(".")[0] for n in _imports(module, path, top_level_only=False)}
        assert others <= {"mercato", "__future__"} | set(__import__("sys").stdlib_module_names), (
            f"{module} imports {sorted(others)}"
        )


def test_there_are_no_import_cycles() -> None:
    """A cycle among module-level imports (the ones that run when a module loads)."""
    graph = {
        module: {
            target
            for name in _imports(module, path, top_level_only=True)
            for target in (name, name.rpartition(".")[0])
            if target in MODULES and target != module
        }
        for module, path in MODULES.items()
    }
    # a package's __init__ is imported by its submodules implicitly; that is not a cycle
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if node.startswith(nxt + "."):
                continue
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module)


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The parser finds imports at the top, in functions and in try blocks, not TYPE_CHECKING."""
    path = tmp_path / "probe.py"
    path.write_text(
        "from typing import TYPE_CHECKING\n"
        "import mercato.settings\n"
        "if TYPE_CHECKING:\n    import serving.core\n"
        "def f():\n    from models import registry\n"
        "try:\n    import pipeline.stages\nexcept ImportError:\n    pass\n"
    )
    found = _imports("mercato.probe", path, top_level_only=False)
    assert {"mercato.settings", "models", "models.registry", "pipeline.stages"} <= found
    assert "serving.core" not in found
    assert "models" not in _imports("mercato.probe", path, top_level_only=True)


def test_every_mercato_variable_is_read_by_the_settings_only() -> None:
    """Shipped code reads ``MERCATO_*`` through ``mercato.settings``; writing one for a child
    process or a tool (dbt's profile reads ``MERCATO_WAREHOUSE_PATH``) is fine."""
    import re

    read = re.compile(
        r"""(environ\.get|getenv|_env|_number)\(\s*["']MERCATO_|environ\[["']MERCATO_\w+["']\](?!\s*=)"""
    )
    offenders = []
    for module, path in MODULES.items():
        if module.split(".")[0] == "devtools" or module == "mercato.settings":
            continue
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if read.search(line):
                offenders.append(f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
