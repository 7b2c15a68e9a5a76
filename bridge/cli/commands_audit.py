"""``bridge audit subject|server|flows|verify|export``: the ledger and the audit log for
privacy officers.

Output shapes (table, JSON, CSV) are documented in docs/ledger.md and docs/audit.md; the
JSON is a contract that tests check. A subject lookup and an export are themselves
recorded in the audit log, as the CLI user (``cli:<login name>``).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import getpass
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bridge.cli.commands_core import EXIT_CONFIG, load_or_exit, run_on_database
from bridge.config.signing_key import CheckpointError, load_signing_key
from bridge.privacy import audit, pseudonyms
from bridge.privacy.categories import Origin
from bridge.privacy.checkpoints import Checkpoint, verify_against
from bridge.privacy.checkpoints import read_file as read_checkpoints
from bridge.privacy.exports import FORMATS as EXPORT_FORMATS
from bridge.privacy.exports import WHATS, Exporter
from bridge.privacy.queries import (
    AmbiguousSubjectError,
    CategoryCount,
    LedgerQueries,
    RecipientSummary,
    SubjectNotFoundError,
    day_start_ms,
)
from bridge.privacy.retention_views import RoomExpiry, subject_expiries
from bridge.privacy.subjects import Subject
from bridge.storage.database import Database

EXIT_NOT_FOUND = 1
FORMATS = ("table", "json", "csv")
DAY_MS = 86_400_000


class UsageError(ValueError):
    """A bad argument value, reported in one line (exit 2)."""


def register(sub: Any) -> None:
    audit = sub.add_parser("audit", help="who received which personal data (the ledger)")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="WHAT")

    subject = audit_sub.add_parser("subject", help="recipients of one person's data")
    subject.add_argument("id", help="@user:server, a Rocket.Chat user id, or a username")
    subject.set_defaults(func=cmd_subject)

    server = audit_sub.add_parser("server", help="what went to one recipient")
    server.add_argument("name", help="a homeserver name, or rocketchat:<host>")
    server.add_argument("--limit", type=int, default=100, help="disclosures listed (JSON)")
    server.set_defaults(func=cmd_server)

    flows = audit_sub.add_parser("flows", help="items per recipient per UTC day")
    flows.set_defaults(func=cmd_flows)

    verify = audit_sub.add_parser("verify", help="check the audit log's hash chain")
    verify.add_argument(
        "--against",
        type=Path,
        metavar="CHECKPOINTS",
        help="also check the chain against this file of signed checkpoints",
    )
    verify.set_defaults(func=cmd_verify)

    export = audit_sub.add_parser("export", help="flows or the request log as CSV/JSON")
    export.add_argument("--what", choices=WHATS, required=True)
    export.add_argument("--output", "-o", type=Path, help="file to write (default stdout)")
    export.set_defaults(func=cmd_export)

    for p in (subject, server, flows, verify, export):
        p.add_argument("-c", "--config", default="config.yaml", type=Path)
    for p in (subject, server, flows):
        p.add_argument("--format", choices=FORMATS, default="table")
    export.add_argument("--format", choices=EXPORT_FORMATS, default="csv")
    verify.add_argument("--format", choices=("text", "json"), default="text")
    for p in (server, flows, export):
        p.add_argument("--since", metavar="DATE", help="first UTC day included (YYYY-MM-DD)")
        p.add_argument("--until", metavar="DATE", help="last UTC day included (YYYY-MM-DD)")


def _err(message: str) -> None:
    print(message, file=sys.stderr)  # noqa: T201 - the CLI's own output


def parse_day(value: str | None, flag: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{flag} must be a date as YYYY-MM-DD, not {value!r}") from None


def _window(args: argparse.Namespace) -> tuple[int | None, int | None]:
    since = parse_day(args.since, "--since")
    until = parse_day(args.until, "--until")
    if since and until and until < since:
        raise UsageError("--until is before --since")
    return (
        None if since is None else day_start_ms(since),
        None if until is None else day_start_ms(until) + DAY_MS,
    )


def iso(ms: int) -> str:
    stamp = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _categories(counts: Sequence[CategoryCount]) -> dict[str, int]:
    return {c.category.label: c.items for c in counts}


def _recipient_json(r: RecipientSummary) -> dict[str, Any]:
    out: dict[str, Any] = {
        "recipient": r.recipient,
        "kind": r.kind.label,
        "items": r.items,
        "categories": _categories(r.categories),
        "first": iso(r.first_ms) if r.items else None,
        "last": iso(r.last_ms) if r.items else None,
    }
    if r.subjects is not None:
        out["subjects"] = r.subjects
    return out


def cli_actor() -> str:
    """Who the audit log names for a CLI action: the operating-system login."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (containers)
        return "cli:unknown"


def _run(
    args: argparse.Namespace, query: Callable[[Database], Awaitable[dict[str, Any]]]
) -> tuple[int, dict[str, Any] | None]:
    return run_on_database(
        args.config, query, refusals=(SubjectNotFoundError, AmbiguousSubjectError)
    )


def _emit(
    args: argparse.Namespace,
    data: dict[str, Any],
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
) -> None:
    out = sys.stdout  # looked up per call: tests and callers may swap it
    if args.format == "json":
        json.dump(data, out, indent=2, ensure_ascii=False)
        out.write("\n")
    elif args.format == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    else:
        _table(header, rows, out)


def _table(header: Sequence[str], rows: Sequence[Sequence[object]], out: TextIO) -> None:
    cells = [[str(c) for c in header]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for n, row in enumerate(cells):
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")
        if n == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")
    if not rows:
        out.write("(nothing recorded)\n")


def _cat_text(categories: dict[str, int]) -> str:
    return ";".join(f"{k}={v}" for k, v in categories.items())


RECIPIENT_HEADER = ("recipient", "kind", "items", "first", "last", "categories")


def _recipient_row(r: dict[str, Any]) -> list[object]:
    return [
        r["recipient"],
        r["kind"],
        r["items"],
        r["first"],
        r["last"],
        _cat_text(r["categories"]),
    ]


def cmd_subject(args: argparse.Namespace) -> int:
    async def query(db: Database) -> dict[str, Any]:
        q = LedgerQueries(db)
        try:
            found = await q.find_subject(args.id, erased_too=True)
        except LookupError:  # the query names a person: on record even when nobody is found
            await audit.AuditLog(db).record(
                audit.SUBJECT_LOOKUP, cli_actor(), None, {"via": "cli", "found": False}
            )
            raise
        report = await q.recipients_of_subject(found)
        s = report.subject
        # Looking a person up is itself on record (who looked at whose data, and when).
        await audit.AuditLog(db).record(
            audit.SUBJECT_LOOKUP,
            cli_actor(),
            s.id,
            {"via": "cli", "recipients": len(report.recipients)},
        )
        return {
            "subject": {
                "id": s.id,
                "origin": s.origin.label,
                "matrix_user_id": s.matrix_user_id,
                "rc_user_id": s.rc_user_id,
                "rc_username": s.rc_username,
                "erased_at": None if s.erased_ms is None else iso(s.erased_ms),
                **(await _pseudonyms(db, s, args.id)),
            },
            "recipients": [_recipient_json(r) for r in report.recipients],
            # Each item expires its room's max age after it was sent (docs/retention.md).
            "expiry": [_expiry_json(e) for e in await subject_expiries(db, found)],
        }

    code, data = _run(args, query)
    if data is not None:
        _emit(args, data, RECIPIENT_HEADER, [_recipient_row(r) for r in data["recipients"]])
    return code


def _expiry_json(e: RoomExpiry) -> dict[str, Any]:
    return {
        "room_id": e.room_id,
        "max_age_ms": e.max_age_ms,
        "files_only": e.files_only,
        "pending": e.pending,
        "expired_before": None if e.expired_before_ms is None else iso(e.expired_before_ms),
        "first_expiry": None if e.first_expiry_ms is None else iso(e.first_expiry_ms),
        "last_expiry": None if e.last_expiry_ms is None else iso(e.last_expiry_ms),
    }


async def _pseudonyms(db: Database, s: Subject, typed: str) -> dict[str, str | None]:
    """How the audit log (and the request log, once erased) names this person: the
    pseudonym of their own account's id (an erased subject was found by exactly that id),
    null once its key was shredded; and the pseudonym versions before per-person keys
    wrote, which entries of that time carry."""
    own = s.rc_user_id if s.origin is Origin.ROCKETCHAT else s.matrix_user_id
    account = own if own is not None else typed
    hash_key = db.pseudonym_key
    if hash_key is None:
        return {"pseudonym": None, "earlier_pseudonym": None}
    current = await pseudonyms.existing_in(db, account)
    return {"pseudonym": current, "earlier_pseudonym": pseudonyms.legacy_name(hash_key, account)}


def cmd_server(args: argparse.Namespace) -> int:
    try:
        since, until = _window(args)
        if args.limit < 1:
            raise UsageError("--limit must be at least 1")
    except UsageError as e:
        _err(str(e))
        return EXIT_CONFIG

    async def query(db: Database) -> dict[str, Any]:
        q = LedgerQueries(db)
        summary = await q.server_summary(args.name, since_ms=since, until_ms=until)
        if summary is None:
            raise SubjectNotFoundError(f"no recipient {args.name!r} in the ledger")
        page = await q.disclosed_to(args.name, since_ms=since, until_ms=until, limit=args.limit)
        kept = await q.server_aggregate(args.name, since_ms=since, until_ms=until)
        return {
            **_recipient_json(summary),
            "aggregated": None if kept is None else kept.as_json(),
            "since": args.since,
            "until": args.until,
            "disclosures": [
                {
                    "id": i.disclosure_id,
                    "subject_id": i.subject_id,
                    "room_id": i.room_id,
                    "origin": i.origin.label,
                    "categories": list(i.categories.labels),
                    "sent": iso(i.sent_ms),
                    "event_id": i.event_id,
                    "rc_message_id": i.rc_message_id,
                    "register_version": i.register_version,
                }
                for i in page.items
            ],
            "next": page.next,
        }

    code, data = _run(args, query)
    if data is not None:
        kept = data["aggregated"] or {}
        base = [*_recipient_row(data), data["subjects"]]
        if args.format != "table":
            more = [kept.get("before"), kept.get("items"), _cat_text(kept.get("categories", {}))]
            header = (*RECIPIENT_HEADER, "subjects", *AGGREGATED_HEADER)
            _emit(args, data, header, [[*base, *more]])
        else:  # the aggregates as a sentence under the table
            _emit(args, data, (*RECIPIENT_HEADER, "subjects"), [base])
            if kept:
                sys.stdout.write(
                    f"before {kept['before']}: {kept['items']} items per category "
                    f"({_cat_text(kept['categories'])}) "
                    "(aggregated, subjects no longer recorded)\n"
                )
    return code


# Pruned disclosures, kept as day counts that name no one (docs/ledger.md, "Retention").
AGGREGATED_HEADER = ("aggregated_before", "aggregated_items", "aggregated_categories")


def cmd_flows(args: argparse.Namespace) -> int:
    try:
        since, until = _window(args)
    except UsageError as e:
        _err(str(e))
        return EXIT_CONFIG

    async def query(db: Database) -> dict[str, Any]:
        flows = await LedgerQueries(db).flows(since_ms=since, until_ms=until)
        return {
            "since": args.since,
            "until": args.until,
            "flows": [
                {
                    "day": f.day.isoformat(),
                    "recipient": f.recipient,
                    "kind": f.kind.label,
                    "items": f.items,
                    "categories": _categories(f.categories),
                }
                for f in flows
            ],
        }

    code, data = _run(args, query)
    if data is not None:
        header = ("day", "recipient", "kind", "items", "categories")
        rows = [
            [f["day"], f["recipient"], f["kind"], f["items"], _cat_text(f["categories"])]
            for f in data["flows"]
        ]
        _emit(args, data, header, rows)
    return code


class ProgressBar:
    """A one-line bar on stderr, drawn only when stderr is a terminal."""

    WIDTH = 30

    def __init__(self, label: str, out: TextIO | None = None) -> None:
        self._out = out if out is not None else sys.stderr
        self._label = label
        self._on = self._out.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self._on:
            return
        share = 1.0 if total <= 0 else min(1.0, done / total)
        filled = round(share * self.WIDTH)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self._out.write(f"\r{self._label} [{bar}] {share:4.0%} {done}/{total}")
        self._out.flush()

    def close(self) -> None:
        if self._on:
            self._out.write("\n")
            self._out.flush()


def cmd_verify(args: argparse.Namespace) -> int:
    """Exit 0 when the chain is intact (and agrees with every checkpoint given); 1 naming
    the first entry, or checkpoint, that does not match; 2 when the checkpoints cannot be
    read or the config has no key to check them with."""
    against: list[tuple[int, Checkpoint]] | None = None
    public: Ed25519PublicKey | None = None
    if args.against is not None:
        config = load_or_exit(args.config, allow_example_values=True)
        if config is None:
            return EXIT_CONFIG
        if config.audit.signing_key is None:
            _err("audit.signing_key: is needed to check checkpoints (the key that signed them)")
            return EXIT_CONFIG
        try:
            against = read_checkpoints(args.against)
        except (OSError, CheckpointError) as e:
            _err(f"cannot read checkpoints: {getattr(e, 'strerror', None) or e}")
            return EXIT_CONFIG
        if not against:
            _err(f"{args.against} holds no checkpoint")
            return EXIT_CONFIG
        public = load_signing_key(config.audit.signing_key).public_key()
    bar = ProgressBar("verifying")

    async def query(db: Database) -> dict[str, Any]:
        result = await audit.AuditLog(db).verify(progress=bar)
        bar.close()
        fault = None if result.fault is None else str(result.fault)
        if fault is None and against is not None and public is not None:
            found = await verify_against(db, against, public)
            fault = None if found is None else str(found)
        return {"entries": result.entries, "head": result.head_hash, "fault": fault}

    code, data = _run(args, query)
    if data is None:
        return code
    if args.format == "json":
        print(json.dumps({"ok": data["fault"] is None, **data}, indent=2))  # noqa: T201
        return 0 if data["fault"] is None else EXIT_NOT_FOUND
    if data["fault"] is not None:
        _err(f"audit log does NOT verify: {data['fault']}")
        return EXIT_NOT_FOUND
    checked = "" if against is None else f"; agrees with {len(against)} checkpoint(s)"
    print(f"audit log verifies: {data['entries']} entries, head {data['head']}{checked}")  # noqa: T201
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    try:
        since, until = _window(args)
    except UsageError as e:
        _err(str(e))
        return EXIT_CONFIG
    bar = ProgressBar(f"exporting {args.what}")

    async def query(db: Database) -> dict[str, Any]:
        exporter = Exporter(db)
        if args.output is None:
            out: TextIO = sys.stdout
            result = await exporter.export(
                args.what,
                args.format,
                out,
                actor=cli_actor(),
                since_ms=since,
                until_ms=until,
                progress=bar,
            )
        else:
            with args.output.open("w", encoding="utf-8", newline="") as out:
                result = await exporter.export(
                    args.what,
                    args.format,
                    out,
                    actor=cli_actor(),
                    since_ms=since,
                    until_ms=until,
                    progress=bar,
                )
        bar.close()
        return {"rows": result.rows, "sha256": result.sha256}

    try:
        code, data = _run(args, query)
    except OSError as e:
        _err(f"cannot write {args.output}: {e.strerror}")
        return EXIT_CONFIG
    if data is not None and args.output is not None:
        _err(f"wrote {data['rows']} rows to {args.output} (sha256 {data['sha256']})")
    return code
