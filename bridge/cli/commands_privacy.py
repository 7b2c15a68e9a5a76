"""``bridge privacy erase|status|list|overdue``: the erasure engine for privacy officers.

The CLI records and reads requests; the running bridge executes them (its engine picks
up approved requests), so ``erase --wait`` shows the progress of the live bridge.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bridge.cli import commands_privacy_list as listing
from bridge.cli.commands_audit import cli_actor
from bridge.cli.commands_core import run_with_config
from bridge.commands.export import Identity, Retention, export_file
from bridge.config import Config
from bridge.privacy import report as words
from bridge.privacy.audit import EXPORT_PRODUCED, AuditLog, Details
from bridge.privacy.deadlines import Jurisdiction
from bridge.privacy.erasure import ErasureEngine, erasure_settings
from bridge.privacy.erasure_model import (
    ErasureError,
    ErasureScope,
    ErasureStatus,
    Requester,
    RequesterSide,
    RequestState,
)
from bridge.privacy.erasure_status import render_report
from bridge.privacy.queries import AmbiguousSubjectError, LedgerQueries, SubjectNotFoundError
from bridge.storage.database import Database

EXIT_NOT_FOUND = 1
EXIT_USAGE = 2


def register(sub: Any) -> None:
    privacy = sub.add_parser("privacy", help="erasure requests (GDPR Art. 17, CCPA §1798.105)")
    psub = privacy.add_subparsers(dest="privacy_command", required=True, metavar="WHAT")
    erase = psub.add_parser("erase", help="erase a person's bridged data everywhere it went")
    erase.add_argument("subject", help="@user:server, a Rocket.Chat user id, or a username")
    erase.add_argument("--room", help="only this room (Matrix or Rocket.Chat id)")
    erase.add_argument("--before", metavar="DATE", help="only items sent before (YYYY-MM-DD)")
    erase.add_argument("--jurisdiction", choices=[j.value for j in Jurisdiction], default="gdpr")
    erase.add_argument("--requester", default="cli", help="who asked (recorded in the log)")
    erase.add_argument("--wait", action="store_true", help="follow progress until finished")
    erase.set_defaults(func=cmd_erase)
    status = psub.add_parser("status", help="a request's per-recipient status and report")
    status.add_argument("request", help="the request id (er-…)")
    status.set_defaults(func=cmd_status)
    overdue = psub.add_parser("overdue", help="open requests past a deadline")
    overdue.set_defaults(func=cmd_overdue)
    requests = listing.register(psub)
    requests.set_defaults(func=cmd_list)
    for p in (erase, status, overdue, requests):
        p.add_argument("-c", "--config", default="config.yaml", type=Path)
        p.add_argument("--format", choices=("text", "json"), default="text")
    export = psub.add_parser(
        "export", help="everything the bridge holds about a person, as JSON (GDPR Art. 15, 20)"
    )
    export.add_argument("subject", help="@user:server, a Rocket.Chat user id, or a username")
    export.add_argument("--output", type=Path, help="write to this file (default: stdout)")
    export.add_argument("--actor", default="cli", help="who produced it (audit log)")
    export.add_argument("-c", "--config", default="config.yaml", type=Path)
    export.set_defaults(func=cmd_export)


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    stamp = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def summary(status: ErasureStatus) -> dict[str, Any]:
    """The JSON summary (docs/erasure.md)."""
    return {
        "id": status.id,
        "state": status.state.value,
        "subject": status.subject,
        "requester": {"id": status.requester.id, "side": status.requester.side.value},
        "jurisdiction": status.jurisdiction.value,
        "scope": {"room": status.scope.room, "before": iso(status.scope.before_ms)},
        "received": iso(status.received_ms),
        "due": iso(status.due_ms),
        "receipt_due": iso(status.receipt_due_ms),
        "finished": iso(status.finished_ms),
        "items": status.items,
        "matrix": words.labelled(status.matrix),
        "rocketchat": words.labelled(status.rocketchat),
        "recipients": [
            {
                "recipient": r.recipient,
                "kind": r.kind,
                "room_id": r.room_id,
                "reach": r.reach,
                "items": r.items,
                "status": words.label(r.status),
                "detail": r.detail,
                "expected_purge": status.purges.get(r.recipient) if r.room_id else None,
            }
            for r in status.recipients
        ],
        "steps": [
            {"step": s.step, "status": words.label(s.status), "detail": s.detail}
            for s in status.steps
        ],
    }


def _progress(status: ErasureStatus) -> str:
    sent = sum(n for s, n in status.matrix.items() if s in (words.REDACTION_SENT, words.NOT_NEEDED))
    deleted = sum(n for s, n in status.rocketchat.items() if s in (words.DELETED, words.NOT_NEEDED))
    return (
        f"{status.id}: {status.state.value}; Matrix {sent}/{status.items} done, "
        f"Rocket.Chat {deleted}/{status.items} done"
    )


def _before(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"--before must be a date as YYYY-MM-DD, not {value!r}") from None
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)


def _run(args: argparse.Namespace, job: Callable[[ErasureEngine, Config], Awaitable[int]]) -> int:
    async def work(db: Database, config: Config) -> int:
        return await job(ErasureEngine(db, erasure_settings(config)), config)

    refusals = (SubjectNotFoundError, AmbiguousSubjectError, ErasureError)
    code, result = run_with_config(args.config, work, refusals=refusals)
    return code if result is None else result


def _show(args: argparse.Namespace, status: ErasureStatus) -> None:
    if args.format == "json":
        _out(json.dumps(summary(status), indent=2, ensure_ascii=False))
    else:
        _out(render_report(status))


def cmd_erase(args: argparse.Namespace) -> int:
    try:
        scope = ErasureScope(room=args.room, before_ms=_before(args.before))
    except ValueError as e:
        _err(str(e))
        return EXIT_USAGE

    async def job(engine: ErasureEngine, config: Config) -> int:
        requester = Requester(args.requester, RequesterSide.ADMIN)
        rid = await engine.request(
            args.subject, requester, scope, Jurisdiction(args.jurisdiction), verified=True
        )
        status = await engine.status(rid)
        if status.state is RequestState.VERIFIED:  # admin-approval: the officer approves
            await engine.approve(rid, args.requester)
        if args.format == "text":
            _out(f"Request {rid} recorded; the running bridge executes it.")
        while args.wait:
            status = await engine.status(rid)
            if args.format == "text":
                _out(_progress(status))
            if status.state.finished:
                break
            await asyncio.sleep(1.0)
        _show(args, await engine.status(rid))
        return 0

    return _run(args, job)


def cmd_status(args: argparse.Namespace) -> int:
    async def job(engine: ErasureEngine, config: Config) -> int:
        # The status names the person: the read is on record, found or not.
        await engine.record_read(args.request, cli_actor(), "cli privacy status")
        _show(args, await engine.status(args.request))
        return 0

    return _run(args, job)


def cmd_list(args: argparse.Namespace) -> int:
    try:
        since = listing.since_ms(args.since)
    except ValueError as e:
        _err(str(e))
        return EXIT_USAGE

    async def job(engine: ErasureEngine, config: Config) -> int:
        listing.show(args, await listing.rows(engine, args, since))
        return 0

    return _run(args, job)


def cmd_overdue(args: argparse.Namespace) -> int:
    async def job(engine: ErasureEngine, config: Config) -> int:
        late = await engine.overdue()
        rows = [
            {
                "id": o.id,
                "state": o.state.value,
                "due": iso(o.due_ms),
                "receipt_overdue": o.receipt_overdue,
            }
            for o in late
        ]
        if args.format == "json":
            _out(json.dumps({"overdue": rows}, indent=2))
        else:
            for r in rows:
                _out(f"{r['id']}  {r['state']}  due {r['due']}")
            if not rows:
                _out("(no overdue requests)")
        return 0

    return _run(args, job)


def cmd_export(args: argparse.Namespace) -> int:
    """The same document as ``!privacy export`` (bridge/commands/schemas/export.schema.json),
    for an officer answering a request received another way; recorded in the audit log."""

    async def work(db: Database, config: Config) -> bytes:
        subject = await LedgerQueries(db).find_subject(args.subject)
        identity = Identity(subject.matrix_user_id, subject.rc_user_id, subject.rc_username)
        export = await export_file(db, identity, Retention.of(config))
        details: Details = {
            "via": "bridge privacy export",
            "sha256": export.sha256,
            "bytes": len(export.data),
        }
        await AuditLog(db).record(EXPORT_PRODUCED, args.actor, subject.id, details)
        return export.data

    refusals = (SubjectNotFoundError, AmbiguousSubjectError)
    code, data = run_with_config(args.config, work, refusals=refusals)
    if data is None:
        return code
    if args.output is None:
        sys.stdout.buffer.write(data + b"\n")
    else:
        args.output.write_bytes(data)
        _err(f"Wrote {len(data)} bytes to {args.output}")
    return 0
