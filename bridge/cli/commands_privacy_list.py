"""``bridge privacy list``: erasure requests with their state and deadline, filtered.

Lists no one by name: a row holds the request's id, state, dates, jurisdiction and which
side asked, so a listing is not a lookup of a person (``bridge privacy status`` is, and is
audited as one).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from bridge.privacy.erasure import ErasureEngine, Overdue
from bridge.privacy.erasure_model import RequestState
from bridge.storage.erasure import RequestRecord

LIMIT = 1000


def register(psub: Any) -> argparse.ArgumentParser:
    listing: argparse.ArgumentParser = psub.add_parser(
        "list", help="erasure requests with state and deadline"
    )
    listing.add_argument(
        "--state",
        action="append",
        choices=[s.value for s in RequestState],
        help="only requests in this state (repeat for several)",
    )
    listing.add_argument(
        "--overdue", action="store_true", help="only open requests past a deadline"
    )
    listing.add_argument(
        "--since", metavar="DATE", help="only requests received on or after (YYYY-MM-DD, UTC)"
    )
    return listing


def since_ms(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"--since must be a date as YYYY-MM-DD, not {value!r}") from None
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)


async def rows(
    engine: ErasureEngine, args: argparse.Namespace, since: int | None
) -> list[dict[str, Any]]:
    states = args.state or [s.value for s in RequestState]
    late: dict[str, Overdue] = {o.id: o for o in await engine.overdue()}
    found = [
        r
        for r in await engine.requests(states, LIMIT)
        if (since is None or r.received_ms >= since) and (not args.overdue or r.id in late)
    ]
    return [_row(r, r.id in late, r.id in late and late[r.id].receipt_overdue) for r in found]


def _row(r: RequestRecord, overdue: bool, receipt_overdue: bool) -> dict[str, Any]:
    return {
        "id": r.id,
        "state": r.state,
        "jurisdiction": r.jurisdiction,
        "requested_from": r.requester_side,
        "received": _iso(r.received_ms),
        "due": _iso(r.extended_due_ms or r.due_ms),
        "extended": r.extended_due_ms is not None,
        "receipt_due": _iso(r.receipt_due_ms),
        "receipt_confirmed": _iso(r.receipt_confirmed_ms),
        "finished": _iso(r.finished_ms),
        "overdue": overdue,
        "receipt_overdue": receipt_overdue,
    }


def show(args: argparse.Namespace, found: list[dict[str, Any]]) -> None:
    if args.format == "json":
        _out(json.dumps({"requests": found}, indent=2))
        return
    for r in found:
        late = "  OVERDUE" if r["overdue"] else ""
        _out(f"{r['id']}  {r['state']:<14}  received {r['received']}  due {r['due']}{late}")
    if not found:
        _out("(no requests)")


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="seconds")


def _out(text: str) -> None:
    print(text)  # noqa: T201 - the CLI's own output
