"""``bridge incident open <server>``: respond to a compromised or banned partner server
(docs/partners.md, Incident response); ``bridge incident list`` and ``show <id>``: the
incidents opened and how far each got (the dashboard's incident pages, as text or JSON;
they name nobody).

Progress goes to stderr; stdout carries the result: the people affected (``table``), the
report for the supervisory authority as JSON (``json``, validated by
``bridge/commands/schemas/incident.schema.json``) or Markdown (``markdown``). ``--out
PREFIX`` also writes ``PREFIX.json`` and ``PREFIX.md``. ``--dry-run`` shows who would be
told and sends nothing.

Exit codes: 0 done; 1 the incident cannot be opened as asked (e.g. ``--deny`` for a
server not in the register), or ``show`` of an unknown id; 2 a bad config or argument;
3 the database schema is outdated.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import attrs

from bridge.cli.commands_audit import _table, cli_actor
from bridge.cli.commands_core import EXIT_CONFIG, run_on_database, run_with_config
from bridge.config.model import Config
from bridge.privacy.incident import markdown
from bridge.privacy.incident_run import IncidentError, Outcome, open_incident
from bridge.privacy.incident_view import IncidentDetail, incident_detail, incident_list
from bridge.privacy.notices import SupportLookup
from bridge.privacy.partner_values import PartnerError, check_server_name
from bridge.privacy.partners import contacts_of
from bridge.storage.database import Database

EXIT_REFUSED = 1
HEADER = ("person", "side", "items", "categories", "rooms", "first day", "last day")
LIST_HEADER = ("incident", "opened", "server", "people", "items", "dry run", "notices",
               "requests", "deny")  # fmt: skip


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
    ls = isub.add_parser("list", help="the incidents opened, newest first, with their progress")
    ls.add_argument("--format", choices=("table", "json"), default="table")
    ls.add_argument("-c", "--config", default="config.yaml", type=Path)
    ls.set_defaults(func=cmd_list)
    show = isub.add_parser("show", help="one incident: what it found and how far it got")
    show.add_argument("incident", help="the incident's id (in-…)")
    show.add_argument("--format", choices=("table", "json"), default="table")
    show.add_argument("-c", "--config", default="config.yaml", type=Path)
    show.set_defaults(func=cmd_show)


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


async def _open(db: Database, config: Config, args: argparse.Namespace) -> Outcome:
    support = SupportLookup(config.privacy.contacts, register=contacts_of(db))
    return await open_incident(
        db,
        args.server,
        since_ms=_since(args.since),
        dry_run=args.dry_run,
        deny=args.deny,
        actor=cli_actor(),
        organisation=config.homeserver.domain,
        contact_points=list(config.privacy.admins),
        support=support,
        mail_enabled=bool(config.mail.host),
        progress=_progress,
    )


def cmd_open(args: argparse.Namespace) -> int:
    try:
        check_server_name(args.server)
        _since(args.since)
    except PartnerError as e:
        sys.stderr.write(f"{e}\n")
        return EXIT_CONFIG
    code, outcome = run_with_config(
        args.config,
        lambda db, config: _open(db, config, args),
        refusals=(IncidentError,),
        refusal_exit=EXIT_REFUSED,
        refusal_prefix="refused, nothing done: ",
    )
    if outcome is None:
        return code
    if args.out is not None:
        document = outcome.report.document()
        args.out.with_suffix(".json").write_text(json.dumps(document, indent=2) + "\n")
        args.out.with_suffix(".md").write_text(markdown(outcome.report))
        _progress(f"report written to {args.out.with_suffix('.json')} and .md")
    _emit(args, outcome)
    return 0


def _emit(args: argparse.Namespace, outcome: Outcome) -> None:
    if args.format == "json":
        json.dump(outcome.report.document(), sys.stdout, indent=2, ensure_ascii=False)
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


def _progress_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {state}" for state, n in counts.items() if n) or "none"


def cmd_list(args: argparse.Namespace) -> int:
    code, data = run_on_database(args.config, incident_list)
    if data is None:
        return code
    if args.format == "json":
        json.dump(attrs.asdict(data), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    rows = [
        [i.id, i.opened_at, i.server, i.subjects, i.items,
         "yes" if i.dry_run else "", _progress_text(i.people_notices),
         _progress_text(i.requests), "yes" if i.deny_asked else ""]
        for i in data.incidents
    ]  # fmt: skip
    _table(LIST_HEADER, rows, sys.stdout)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    async def work(db: Database) -> IncidentDetail:
        found = await incident_detail(db, args.incident)
        if found is None:
            raise LookupError(f"no incident {args.incident!r} (bridge incident list)")
        return found

    code, data = run_on_database(args.config, work, refusals=(LookupError,))
    if data is None:
        return code
    if args.format == "json":
        json.dump(attrs.asdict(data), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    out = sys.stdout
    out.write(f"Incident {data.id}: {data.server} ({data.organisation or 'unregistered'})\n")
    out.write(f"Opened {data.opened_at} by {data.opened_by}")
    out.write(" (dry run: nothing was sent)\n" if data.dry_run else "\n")
    out.write(f"Items since: {data.since or 'the start of the ledger'}\n")
    out.write(f"People affected: {data.subjects}; items: {data.items}\n")
    out.write(f"Notices to people: {_progress_text(data.people_notices)}\n")
    out.write(f"Erasure requests ({data.contacts_source or 'no lookup'}): ")
    out.write(_progress_text(data.requests) + "\n")
    deny = data.deny
    out.write(f"Deny: {deny.applied}; policy now {deny.policy_now or 'unregistered'}; ")
    out.write(f"enforced in {deny.rooms_done} of {len(deny.rooms)} room(s)\n\n")
    for what, counts in (
        ("category", data.categories),
        ("room", data.by_room),
        ("day", data.by_day),
    ):
        _table((what, "items"), list(counts.items()), out)
        out.write("\n")
    return 0
