"""``bridge incident open <server>``: respond to a compromised or banned partner server
(docs/partners.md, Incident response).

Progress goes to stderr; stdout carries the result: the people affected (``table``), the
report for the supervisory authority as JSON (``json``, validated by
``bridge/commands/schemas/incident.schema.json``) or Markdown (``markdown``). ``--out
PREFIX`` also writes ``PREFIX.json`` and ``PREFIX.md``. ``--dry-run`` shows who would be
told and sends nothing.

Exit codes: 0 done; 1 the incident cannot be opened as asked (e.g. ``--deny`` for a
server not in the register); 2 a bad config or argument; 3 the database schema is outdated.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from bridge.cli.commands_audit import _table, cli_actor
from bridge.cli.commands_core import EXIT_CONFIG, EXIT_SCHEMA, load_or_exit
from bridge.config.model import Config
from bridge.privacy.incident import markdown
from bridge.privacy.incident_run import IncidentError, Outcome, open_incident
from bridge.privacy.notices import SupportLookup
from bridge.privacy.partner_values import PartnerError, check_server_name
from bridge.privacy.partners import contacts_of
from bridge.storage.database import Database
from bridge.storage.schema import SchemaOutdatedError

EXIT_REFUSED = 1
HEADER = ("person", "side", "items", "categories", "rooms", "first day", "last day")


def register(sub: Any) -> None:
    incident = sub.add_parser("incident", help="respond to a compromised or banned server")
    isub = incident.add_subparsers(dest="incident_command", required=True, metavar="WHAT")
    op = isub.add_parser("open", help="who was affected, tell them, ask for erasure, report")
    op.add_argument("server", help="the homeserver's name")
    op.add_argument("--since", help="only items sent from this UTC date on (YYYY-MM-DD)")
    op.add_argument("--dry-run", action="store_true", help="show who would be told; send nothing")
    op.add_argument("--deny", action="store_true", help="also set the server's policy to deny")
    op.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    op.add_argument("--out", type=Path, help="also write the report to OUT.json and OUT.md")
    op.add_argument("-c", "--config", default="config.yaml", type=Path)
    op.set_defaults(func=cmd_open)


def _since(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise PartnerError(f"--since {value!r}: a date as YYYY-MM-DD") from None
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)


def _progress(text: str) -> None:
    sys.stderr.write(f"incident: {text}\n")


async def _open(config: Config, args: argparse.Namespace, since: int | None) -> Outcome:
    db = Database.from_config(config)
    try:
        await db.require_current_schema()
        support = SupportLookup(config.privacy.contacts, register=contacts_of(db))
        return await open_incident(
            db,
            args.server,
            since_ms=since,
            dry_run=args.dry_run,
            deny=args.deny,
            actor=cli_actor(),
            organisation=config.homeserver.domain,
            contact_points=list(config.privacy.admins),
            support=support,
            mail_enabled=bool(config.mail.host),
            progress=_progress,
        )
    finally:
        await db.close()


def cmd_open(args: argparse.Namespace) -> int:
    try:
        check_server_name(args.server)
        since = _since(args.since)
    except PartnerError as e:
        sys.stderr.write(f"{e}\n")
        return EXIT_CONFIG
    config = load_or_exit(args.config, allow_example_values=True)
    if config is None:
        return EXIT_CONFIG
    try:
        outcome = asyncio.run(_open(config, args, since))
    except SchemaOutdatedError as e:
        sys.stderr.write(f"database error: {e}\n")
        return EXIT_SCHEMA
    except IncidentError as e:
        sys.stderr.write(f"refused, nothing done: {e}\n")
        return EXIT_REFUSED
    if args.out is not None:
        args.out.with_suffix(".json").write_text(json.dumps(outcome.report, indent=2) + "\n")
        args.out.with_suffix(".md").write_text(markdown(outcome.report))
        _progress(f"report written to {args.out.with_suffix('.json')} and .md")
    _emit(args, outcome)
    return 0


def _emit(args: argparse.Namespace, outcome: Outcome) -> None:
    if args.format == "json":
        json.dump(outcome.report, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return
    if args.format == "markdown":
        sys.stdout.write(markdown(outcome.report))
        return
    rows = [
        [
            p.name,
            p.side,
            p.items,
            ";".join(f"{k}={v}" for k, v in sorted(p.categories.items())),
            len(p.rooms),
            min(p.days),
            max(p.days),
        ]
        for p in outcome.scope.people
    ]
    _table(HEADER, rows, sys.stdout)
    verb = "would be told" if args.dry_run else "told"
    sys.stdout.write(
        f"{len(outcome.would_notify)} people {verb}: {', '.join(outcome.would_notify)}\n"
    )
