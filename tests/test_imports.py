"""Import every module of the package: catches import cycles and import-time errors."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import bridge

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(bridge.__path__, "bridge.")
    if ".migrations" not in m.name and not m.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_module_imports(name: str) -> None:
    assert importlib.import_module(name) is not None


def test_only_storage_imports_sqlalchemy() -> None:
    """docs/architecture.md: only ``bridge.storage`` talks to SQLAlchemy."""
    root = Path(bridge.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("storage/"):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "sqlalchemy" or n.startswith("sqlalchemy.") for n in names):
                offenders.append(rel)
    assert offenders == []
