"""Hostile appservice transactions: a clear refusal, nothing broken, nothing else lost.

Property: whatever the homeserver sends, the transaction endpoint answers 200, 400 or 413
(500 only when the database fails); every good event of an accepted transaction ends
``done``, every bad one ``skipped`` with a reason, none ``failed``, and no handler raises.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bridge.storage.database import Database
from tests.hostile.harness import Harness, harness
from tests.hostile.matrix_events import (
    MARK,
    PORTAL_ROOM,
    Generated,
    bad_events,
    good_events,
    json_values,
    transactions,
    valid_event_id,
)

FIXTURE_OK = settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


@pytest_asyncio.fixture
async def bridge(db: Database, tmp_path: Path) -> AsyncIterator[Harness]:
    async with harness(db, tmp_path) as h:
        yield h


def storable(event_id: object) -> str | None:
    """The inbox's de-duplication key: a string both databases can hold (else none)."""
    if not isinstance(event_id, str) or len(event_id) > 255 or "\x00" in event_id:
        return None
    try:
        event_id.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return event_id


async def check_outcomes(bridge: Harness, watermark: int, expected: dict[int, Generated]) -> None:
    await bridge.drain()
    rows = [r for r in await bridge.rows_after(watermark) if r.source == "matrix"]
    got = {row.payload[MARK]: row for row in rows}
    assert sorted(got) == sorted(expected), "stored events differ from the de-duplicated input"
    for mark, generated in expected.items():
        row = got[mark]
        want = "done" if generated.good else "skipped"
        assert (row.status, row.attempts) == (want, 0), (
            generated.why,
            row.last_error,
            generated.event,
        )
        if not generated.good:
            assert row.last_error, f"skipped without a reason: {generated.why}"


@FIXTURE_OK
@given(data=st.data(), batches=st.lists(transactions(), min_size=1, max_size=3))
async def test_good_events_are_processed_and_bad_ones_skipped_with_a_reason(
    bridge: Harness, data: st.DataObject, batches: list[list[Any]]
) -> None:
    watermark = await bridge.watermark()
    expected: dict[int, Generated] = {}
    seen = bridge.seen
    run = uuid.uuid4().hex[:8]
    earlier: list[Generated] = []
    for n, drawn in enumerate(batches):
        entries = list(drawn)
        if earlier and data.draw(st.booleans(), label="repeat an id across transactions"):
            clone = data.draw(st.one_of(good_events(), bad_events()))
            twin = data.draw(st.sampled_from(earlier))
            if valid_event_id(twin.event.get("event_id")):
                clone.event["event_id"] = twin.event["event_id"]
            entries = [*entries, clone]
        body = {"events": [e.event if isinstance(e, Generated) else e for e in entries]}
        assert await bridge.put(f"{run}-{n}", body) == 200
        if data.draw(st.booleans(), label="replay the transaction"):
            assert await bridge.put(f"{run}-{n}", body) == 200
        for entry in entries:
            if not isinstance(entry, Generated):
                continue  # a non-object entry is dropped at intake (and counted)
            earlier.append(entry)
            key = storable(entry.event.get("event_id"))
            if key is None or key not in seen:
                expected[entry.event[MARK]] = entry
            if key is not None:
                seen.add(key)
    await check_outcomes(bridge, watermark, expected)


def _event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "m.room.message",
        "event_id": f"$reg{uuid.uuid4().hex}",
        "room_id": PORTAL_ROOM,
        "sender": "@mallory:hs2.test",
        "origin_server_ts": 1_700_000_000_000,
        "content": {"msgtype": "m.text", "body": "hello"},
        MARK: 0,
    }
    event.update(overrides)
    return event


# Regression examples: each was a 500 at the endpoint or a handler exception (→ failed
# after eight retries) before the fix. The good event next to each must still be done.
REGRESSIONS: dict[str, dict[str, Any]] = {
    "msgtype is a list (unhashable: TypeError in the relay)": _event(
        content={"msgtype": ["m.text"], "body": "x"}
    ),
    "info is a list (AttributeError in the relay)": _event(
        content={"msgtype": "m.file", "body": "f", "url": "mxc://a/b", "info": ["x"]}
    ),
    "info.mimetype is an object (stored in the outbox, sent to Rocket.Chat)": _event(
        content={"msgtype": "m.file", "body": "f", "url": "mxc://a/b", "info": {"mimetype": {}}}
    ),
    "filename is an object (disclosure content not a string)": _event(
        content={"msgtype": "m.file", "body": "f", "url": "mxc://a/b", "filename": {"a": 1}}
    ),
    "event_id missing (KeyError in the relay)": {
        k: v for k, v in _event().items() if k != "event_id"
    },
    "lone surrogate in the body (the whole transaction was a 500)": _event(
        content={"msgtype": "m.text", "body": "\ud800"}
    ),
    "NUL in the event id (a 500 on PostgreSQL)": _event(event_id="$a\x00b"),
    "NUL in a mentioned user id (database error in the relay on PostgreSQL)": _event(
        content={
            "msgtype": "m.text",
            "body": "hi",
            "format": "org.matrix.custom.html",
            "formatted_body": '<a href="https://matrix.to/#/@a%00b:hs2.test">x</a>',
        }
    ),
    "m.room.member without state_key": _event(type="m.room.member", content={"membership": "join"}),
    "state_key is a number": _event(
        type="m.room.member", state_key=5, content={"membership": "join"}
    ),
    "m.new_content is a string": _event(
        content={
            "msgtype": "m.text",
            "body": "* x",
            "m.new_content": "x",
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$x"},
        }
    ),
    # Handlers take mautrix's typed events: what mautrix cannot read, or would read as
    # something else, is skipped with a reason before any handler sees it.
    "m.replace without m.new_content (mautrix reads the outer body as the edit)": _event(
        content={
            "msgtype": "m.text",
            "body": "* x",
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$x"},
        }
    ),
    "a membership the spec does not name (mautrix cannot read it)": _event(
        type="m.room.member", state_key="@mallory:hs2.test", content={"membership": "weird"}
    ),
    "no origin_server_ts (the spec and mautrix require it)": {
        k: v for k, v in _event().items() if k != "origin_server_ts"
    },
    "power levels mautrix cannot read (users not an object)": _event(
        type="m.room.power_levels", state_key="", content={"users": "x"}
    ),
}


@pytest.mark.parametrize("why", sorted(REGRESSIONS))
async def test_regression_bad_event_is_skipped_and_its_neighbour_done(
    bridge: Harness, why: str
) -> None:
    bad = json.loads(json.dumps(REGRESSIONS[why]))
    bad[MARK] = 1
    good = _event()
    good[MARK] = 2
    watermark = await bridge.watermark()
    assert await bridge.put(uuid.uuid4().hex, {"events": [bad, good]}) == 200
    await check_outcomes(
        bridge, watermark, {1: Generated(bad, False, why), 2: Generated(good, True, "good")}
    )


async def test_long_event_ids_are_not_collapsed_by_truncation(bridge: Harness) -> None:
    # The inbox used to keep the first 255 characters as the de-duplication key, so two
    # different over-long ids collapsed into one row and the second was never recorded.
    prefix = "$" + "x" * 300
    first, second = _event(event_id=prefix + "a"), _event(event_id=prefix + "b")
    first[MARK], second[MARK] = 1, 2
    watermark = await bridge.watermark()
    assert await bridge.put(uuid.uuid4().hex, {"events": [first, second]}) == 200
    await check_outcomes(
        bridge,
        watermark,
        {1: Generated(first, False, "long id"), 2: Generated(second, False, "long id")},
    )


BAD_BODIES = [
    b"{" + b'"events":' + b"[" * 5000 + b"]" * 5000 + b"}",  # RecursionError: was a 500
    b'{"events": [], "n": ' + b"1" * 5000 + b"}",  # int past 4300 digits: was a 500
    b"\xff\xfe{}",
    b"",
    b"null",
    b'{"events": {"0": {}}}',
    b'{"events": [1, 2]}\x00',
]


@FIXTURE_OK
@example(body=BAD_BODIES[0], txn="1")
@example(body=BAD_BODIES[1], txn="1")
@example(body=b'{"events": []}', txn="x" * 300)  # over the column width: was a 500 on PG
@example(body=b'{"events": []}', txn="nul\x00")
@given(
    body=st.sampled_from(BAD_BODIES)
    | st.binary(max_size=200)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.dictionaries(st.sampled_from(["events", "ephemeral", "txn_id", "x"]), json_values).map(
        lambda v: json.dumps(v).encode()
    ),
    # Any path segment a homeserver could send ("." and ".." are path syntax, not ids).
    txn=st.text(min_size=1, max_size=40).filter(lambda t: t not in (".", "..")),
)
async def test_any_body_is_answered_without_a_500(bridge: Harness, body: bytes, txn: str) -> None:
    watermark = await bridge.watermark()
    status = await bridge.put(quote(txn, safe="", errors="surrogatepass"), body)
    # aiohttp's router answers 404 for a path with a brace in it, before our handler runs.
    assert status in ((200, 400, 404) if {"{", "}"} & set(txn) else (200, 400)), status
    if status == 400:
        assert await bridge.rows_after(watermark) == []
    await bridge.drain()
    assert {r.status for r in await bridge.rows_after(watermark)} <= {"done", "skipped"}


@pytest.mark.parametrize(
    "query", ["access_token=%ED%A0%80", "access_token=%00", "access_token=%C3%A9"]
)
async def test_hostile_query_tokens_are_refused_not_crashed(bridge: Harness, query: str) -> None:
    resp = await bridge.client.put(
        f"/_matrix/app/v1/transactions/q?{query}", data=b'{"events": []}'
    )
    assert resp.status == 403
    assert (await resp.json())["errcode"] == "M_FORBIDDEN"
