"""The layer contracts (pyproject.toml ``[tool.importlinter]``, docs/architecture.md).

The first test runs ``lint-imports`` on the package as it is. The others copy the package,
add one import that breaks a rule, and check that the same command refuses it: a contract
that could never fail would prove nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """The check scripts/test.sh runs, on the ``bridge`` package found in ``root``."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(  # noqa: S603 - our own tool, fixed arguments
        [str(LINT_IMPORTS), "--no-logo", "--no-cache", str(PYPROJECT)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_package_keeps_its_layer_contracts() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def _layers() -> list[set[str]]:
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    (layers,) = (c for c in config["contracts"] if c["type"] == "layers")
    return [{name.strip() for name in layer.split("|")} for layer in layers["layers"]]


def test_the_layers_run_from_entry_points_down_to_storage() -> None:
    """The order docs/architecture.md states; reordering the list would allow what it
    forbids, so the order itself is checked."""

    def level(package: str) -> int:
        (found,) = (i for i, layer in enumerate(_layers()) if package in layer)
        return found

    chain = ["cli", "app", "web", "workers", "matrix", "bridging", "privacy", "pipeline"]
    chain += ["storage", "config", "ids"]
    assert [level(p) for p in chain] == sorted(level(p) for p in chain)
    assert len({level(p) for p in chain}) == len(chain), "each on a level of its own"
    assert level("web") == level("commands")
    assert level("matrix") == level("rocketchat")
    assert level("app") == level("sandbox")


def test_every_package_but_the_sandbox_is_kept_from_it() -> None:
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    (forbidden,) = (c for c in config["contracts"] if c["id"] == "sandbox")
    placed = {f"bridge.{name}" for layer in _layers() for name in layer}
    assert set(forbidden["source_modules"]) == placed - {"bridge.sandbox"}


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    shutil.copytree(
        ROOT / "bridge", tmp_path / "bridge", ignore=shutil.ignore_patterns("__pycache__")
    )
    return tmp_path


BROKEN = {
    "storage imports a layer above it": (
        "bridge/storage/upward.py",
        "import bridge.web.health\n",
        "bridge.storage is not allowed to import bridge.web",
    ),
    "one connector imports the other": (
        "bridge/matrix/sideways.py",
        "import bridge.rocketchat.rest\n",
        "bridge.matrix is not allowed to import bridge.rocketchat",
    ),
    "privacy imports the relay": (
        "bridge/privacy/relay.py",
        "import bridge.bridging.portals\n",
        "bridge.privacy is not allowed to import bridge.bridging",
    ),
    "the core imports a connector": (
        "bridge/bridging/connector.py",
        "import bridge.matrix.executors\n",
        "bridge.bridging is not allowed to import bridge.matrix",
    ),
    "the running bridge imports the sandbox": (
        "bridge/workers/demo_hook.py",
        "import bridge.sandbox.demo\n",
        "bridge.workers is not allowed to import bridge.sandbox",
    ),
    "a command other than the demo imports the sandbox": (
        "bridge/cli/commands_sneaky.py",
        "import bridge.sandbox.demo\n",
        "The running bridge never imports the sandbox BROKEN",
    ),
    "a new package is placed in no layer": (
        "bridge/unplaced/__init__.py",
        "",
        "bridge.unplaced",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_rule_fails_the_check(package_copy: Path, case: str) -> None:
    path, source, expected = BROKEN[case]
    target = package_copy / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source)
    result = lint_imports(package_copy)
    assert result.returncode != 0
    assert expected in result.stdout, result.stdout
