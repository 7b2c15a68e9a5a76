"""The connectors (bridge.matrix, bridge.rocketchat) know nothing of ledger or erasure
state: they run primitives with what an action's payload carries, and the privacy layer
reads and writes that state (docs/architecture.md). Checked in the source: no connector
module reaches the unit of work's ``erasure``, ``ledger`` or ``personas`` stores or
imports their storage modules or the pseudonyms."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "bridge"
CONNECTORS = ("matrix", "rocketchat")
STORES = {"erasure", "ledger", "personas"}
MODULES = {
    "bridge.storage.erasure",
    "bridge.storage.ledger",
    "bridge.storage.ledger_reads",
    "bridge.storage.personas",
    "bridge.privacy.pseudonyms",
}
# Modules still reading that state, each with where it is to go.
NOT_YET: dict[str, str] = {}


def _uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in STORES:
            if isinstance(node.value, ast.Name) and node.value.id == "uow":
                found.append(f"line {node.lineno}: uow.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = {node.module} | {f"{node.module}.{a.name}" for a in node.names}
            found += [f"line {node.lineno}: imports {m}" for m in sorted(names & MODULES)]
        elif isinstance(node, ast.Import):
            found += [
                f"line {node.lineno}: imports {a.name}" for a in node.names if a.name in MODULES
            ]
    return found


def _report() -> dict[str, list[str]]:
    out = {}
    for package in CONNECTORS:
        for path in sorted((ROOT / package).rglob("*.py")):
            uses = _uses(path)
            if uses:
                out[str(path.relative_to(ROOT))] = uses
    return out


def test_connectors_read_no_ledger_or_erasure_state() -> None:
    found = _report()
    unexpected = {m: u for m, u in found.items() if m not in NOT_YET}
    assert not unexpected, unexpected
    stale = sorted(set(NOT_YET) - set(found))
    assert not stale, f"no longer reads that state, drop it from NOT_YET: {stale}"


def test_the_check_sees_a_planted_use(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text(
        "from bridge.privacy import pseudonyms\n"
        "async def f(uow):\n"
        "    return await uow.erasure.request('er-1')\n"
    )
    assert _uses(planted) == ["line 1: imports bridge.privacy.pseudonyms", "line 3: uow.erasure"]
