"""``bridge`` / ``python -m bridge``: one entry point for every operator task."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from bridge.cli import (
    commands_audit,
    commands_core,
    commands_demo,
    commands_incident,
    commands_outbox,
    commands_partner,
    commands_privacy,
    commands_receiver,
)

EXIT_CONFIG = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bridge", description="Rocket.Chat ⇄ Matrix bridge that knows where personal data went"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands_core.register(sub)
    commands_audit.register(sub)
    commands_demo.register(sub)
    commands_privacy.register(sub)
    commands_outbox.register(sub)
    commands_partner.register(sub)
    commands_incident.register(sub)
    commands_receiver.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


def entry() -> None:
    """The ``bridge`` command. Every file it creates (database, its -wal and -shm, exports,
    generated configs) is private to the bridge's user: they hold personal data or secrets."""
    os.umask(0o077)
    sys.exit(main())


if __name__ == "__main__":
    entry()
