"""Every command that reads something answers in JSON on request (``--format json``), for
scripts and monitoring; the exit codes are the table in docs/operations.md."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from bridge.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
# Commands that change something or run something, rather than read: no JSON report.
NOT_READS = {
    "run",
    "generate-registration",
    "db upgrade",
    "demo",
    "receiver",  # a long-running service, like run
    "outbox retry",
    "outbox drop",
    "partner set",
    "partner remove",
    "privacy export",  # its output is the JSON export document itself
}


def _leaves(
    parser: argparse.ArgumentParser, prefix: str = ""
) -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return {prefix.strip(): parser}
    for name, child in subs[0].choices.items():
        found.update(_leaves(child, f"{prefix} {name}"))
    return found


def test_every_read_command_takes_format_json() -> None:
    leaves = _leaves(build_parser())
    assert NOT_READS <= leaves.keys()
    missing = []
    for name, parser in leaves.items():
        if name in NOT_READS:
            continue
        formats = [a for a in parser._actions if "--format" in a.option_strings]
        if not formats or "json" not in (formats[0].choices or ()):
            missing.append(name)
    assert missing == []
    assert {"privacy list", "audit verify", "outbox dead"} <= leaves.keys()


def test_the_exit_code_table_lists_every_code_the_cli_defines() -> None:
    table = (ROOT / "docs" / "operations.md").read_text().split("## CLI exit codes", 1)[1]
    documented = {int(c) for c in re.findall(r"^\| (\d+) \|", table, re.MULTILINE)}
    defined = set()
    for path in (ROOT / "bridge" / "cli").glob("*.py"):
        defined |= {int(c) for c in re.findall(r"^EXIT_\w+ = (\d+)", path.read_text(), re.M)}
    assert defined <= documented, defined - documented
    assert 0 in documented
