"""Hostile Rocket.Chat input: realtime frames, message documents, webhooks, inbox payloads.

Nothing raises out of a boundary; a frame that cannot become an event is dropped with a
warning, a message with bad fields is stored and recorded as skipped with the reason, and
good messages next to bad ones are processed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bridge.ids import RCMessageID
from bridge.rctypes.events import EventSource, event_for_message
from bridge.rctypes.models import RCMessage
from bridge.rocketchat.cursor import InMemoryCursorStore
from bridge.rocketchat.ddp import DDPConnection
from bridge.rocketchat.errors import RCBadRequestError
from bridge.rocketchat.inbox_events import from_payload, to_payload
from bridge.rocketchat.intake import RocketChatIntake
from bridge.rocketchat.realtime import RealtimeListener
from bridge.rocketchat.rest import RCRestClient
from bridge.rocketchat.validation import inbox_payload_problem, message_problem
from bridge.rocketchat.webhook import PATH as WEBHOOK_PATH
from bridge.rocketchat.webhook import OutgoingWebhookIntake
from bridge.storage.database import Database
from tests.fixtures.inbox import records
from tests.hostile.harness import Harness, Row, harness
from tests.hostile.matrix_events import json_values
from tests.hostile.rc_documents import (
    PORTAL_RC_ROOM,
    RC_MARK,
    RCGenerated,
    bad_messages,
    good_messages,
)

FIXTURE_OK = settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
WEBHOOK_TOKEN = "webhook-s3cret"  # noqa: S105 - a test value


class FakeWebSocket:
    """Stands in for the server end: records what the client sends."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_str(self, data: str) -> None:
        self.sent.append(data)

    async def close(self) -> None:
        return None


@pytest_asyncio.fixture
async def bridge(db: Database, tmp_path: Path) -> AsyncIterator[Harness]:
    async with harness(db, tmp_path) as h:
        yield h


@pytest_asyncio.fixture
async def listener() -> AsyncIterator[RealtimeListener]:
    rest = RCRestClient("http://127.0.0.1:9")  # never called: frames are fed directly

    async def no_sink(event: object) -> None:
        raise AssertionError("the listener must not deliver by itself here")

    yield RealtimeListener(rest, no_sink, InMemoryCursorStore())
    await rest.close()


def connection(listener: RealtimeListener) -> DDPConnection:
    return DDPConnection(
        FakeWebSocket(),  # type: ignore[arg-type]
        listener._on_stream,  # noqa: SLF001 - the listener's real stream handler
        ping_interval=60,
        call_timeout=5,
    )


def rc_rows(rows: list[Row]) -> dict[int, Row]:
    return {
        r.payload["message"][RC_MARK]: r
        for r in rows
        if r.source == "rocketchat" and isinstance(r.payload.get("message"), dict)
    }


def changed(doc: object, collection: str = "stream-room-messages") -> dict[str, Any]:
    return {
        "msg": "changed",
        "collection": collection,
        "id": "id",
        "fields": {"eventName": "__my_messages__", "args": [doc, {"roomParticipant": True}]},
    }


@FIXTURE_OK
@given(docs=st.lists(st.one_of(good_messages(), bad_messages()), min_size=1, max_size=6))
async def test_realtime_messages_good_processed_bad_skipped_or_dropped(
    bridge: Harness, listener: RealtimeListener, docs: list[RCGenerated]
) -> None:
    conn = connection(listener)
    watermark = await bridge.watermark()
    for generated in docs:
        await conn._on_frame(changed(generated.doc))  # noqa: SLF001 - the frame entry
    sink = RocketChatIntake(bridge.db.inbox, lambda: None)
    while not listener._queue.empty():  # noqa: SLF001 - what the pump would deliver
        await sink(listener._queue.get_nowait())  # noqa: SLF001
    await bridge.drain()
    rows = rc_rows(await bridge.rows_after(watermark))
    for generated in docs:
        row = rows.get(generated.doc[RC_MARK])
        if generated.good:
            assert row is not None and row.status == "done", (generated.why, row)
        else:
            # Either it could not even become an event (dropped with a warning), or it
            # was stored and then skipped with a reason; never failed, never retried.
            assert row is None or (row.status, row.attempts) == ("skipped", 0), (
                generated.why,
                row,
            )
            assert row is None or row.last_error


FRAME_REGRESSIONS = [
    {"msg": "changed", "fields": []},  # AttributeError: dropped the connection
    {"msg": "changed", "fields": {"args": 5}},  # TypeError: list(5)
    {"msg": "ready", "subs": 5},  # TypeError: iterating an int
    changed({"_id": "m1", "rid": "r", "reactions": []}),  # AttributeError in parse
    changed({"_id": "m1", "rid": "r", "u": []}),  # AttributeError in parse
    changed({"_id": "m1", "rid": "r", "ts": {"$date": 10**300}}),  # OverflowError
    changed({"_id": ["m1"]}, "stream-notify-room")
    | {"fields": {"eventName": "r/deleteMessage", "args": [{"_id": ["m1"]}]}},
    {
        "msg": "changed",
        "collection": "stream-notify-room",
        "fields": {"eventName": "r/deleteMessageBulk", "args": [{"ts": []}]},
    },
]


@FIXTURE_OK
@example(frame=FRAME_REGRESSIONS[0])
@example(frame=FRAME_REGRESSIONS[1])
@example(frame=FRAME_REGRESSIONS[2])
@example(frame=FRAME_REGRESSIONS[3])
@example(frame=FRAME_REGRESSIONS[4])
@example(frame=FRAME_REGRESSIONS[5])
@example(frame=FRAME_REGRESSIONS[6])
@example(frame=FRAME_REGRESSIONS[7])
@given(
    frame=st.fixed_dictionaries(
        {"msg": st.sampled_from(["changed", "result", "ready", "nosub", "ping", "added", "x"])},
        optional={
            "id": json_values,
            "collection": st.sampled_from(["stream-room-messages", "stream-notify-room", "x"]),
            "fields": st.fixed_dictionaries(
                {},
                optional={
                    "eventName": st.sampled_from(
                        ["__my_messages__", "r/deleteMessage", "r/deleteMessageBulk", "r/x", ""]
                    )
                    | json_values,
                    "args": st.lists(json_values, max_size=3) | json_values,
                },
            )
            | json_values,
            "subs": json_values,
            "error": json_values,
            "result": json_values,
        },
    )
)
async def test_any_ddp_frame_is_handled_without_raising(
    listener: RealtimeListener, frame: dict[str, Any]
) -> None:
    conn = connection(listener)
    await conn._on_frame(frame)  # noqa: SLF001 - must not raise: it would drop the connection
    while not listener._queue.empty():  # noqa: SLF001
        event = listener._queue.get_nowait()  # noqa: SLF001
        payload = json.loads(json.dumps(to_payload(event)))
        if inbox_payload_problem(payload) is None:
            from_payload(payload)  # whatever validates must also convert back


@given(
    doc=st.dictionaries(
        st.sampled_from(
            [
                "_id",
                "rid",
                "msg",
                "u",
                "ts",
                "_updatedAt",
                "editedAt",
                "editedBy",
                "reactions",
                "attachments",
                "files",
                "file",
                "tmid",
                "t",
                "x",
            ]
        ),
        json_values,
    )
)
def test_message_parse_raises_only_value_or_key_errors(doc: dict[str, Any]) -> None:
    problem = message_problem(doc)  # never raises
    try:
        message = RCMessage.parse(doc)
    except (KeyError, ValueError):
        assert problem is not None
        return
    if problem is None:
        payload = json.loads(
            json.dumps(to_payload(event_for_message(message, EventSource.CATCHUP)))
        )
        assert inbox_payload_problem(payload) is None
        assert from_payload(payload).room_id == doc["rid"]


@pytest.mark.parametrize(
    "payload",
    [
        {
            "type": "message",
            "room_id": PORTAL_RC_ROOM,
            "message": {"_id": "m", "rid": PORTAL_RC_ROOM, "u": []},
        },
        {"type": "message", "room_id": PORTAL_RC_ROOM, "message": "not an object"},
        {"type": "deleted", "room_id": PORTAL_RC_ROOM, "message_id": {"x": 1}},
        {"type": "deleted", "room_id": PORTAL_RC_ROOM, "message_id": "m", "deleted_ms": "soon"},
        {"type": "pruned", "room_id": PORTAL_RC_ROOM, "users": "bob"},
        {"type": "pruned", "room_id": PORTAL_RC_ROOM, "oldest_ms": 10**300},
        {"type": "pruned", "room_id": PORTAL_RC_ROOM, "ids": [1, 2]},
        {"type": "nope", "room_id": PORTAL_RC_ROOM},
        {"type": "message", "room_id": ["x"]},
        {"type": "message", "room_id": "r\x00"},
    ],
)
async def test_bad_stored_rocketchat_payloads_are_skipped_with_a_reason(
    bridge: Harness, payload: dict[str, Any]
) -> None:
    # Each of these raised inside RocketChatToMatrix (KeyError, TypeError, AttributeError,
    # OverflowError or a database error) and was retried until it failed.
    watermark = await bridge.watermark()
    assert (
        await bridge.db.inbox.store_events("rocketchat", records([payload | {"event_id": None}]))
        == 1
    )
    await bridge.drain()
    (row,) = await bridge.rows_after(watermark)
    assert (row.status, row.attempts) == ("skipped", 0) and row.last_error


@FIXTURE_OK
@given(
    docs=st.lists(st.one_of(good_messages(), bad_messages()), min_size=1, max_size=5),
    kind=st.sampled_from(["message", "deleted", "pruned"]),
    junk=st.dictionaries(
        st.sampled_from(
            [
                "type",
                "room_id",
                "message_id",
                "deleted_ms",
                "oldest_ms",
                "latest_ms",
                "users",
                "ids",
                "ignore_threads",
            ]
        ),
        json_values,
    ),
)
async def test_stored_payloads_good_done_bad_skipped(
    bridge: Harness, docs: list[RCGenerated], kind: str, junk: dict[str, Any]
) -> None:
    watermark = await bridge.watermark()
    payloads = [
        {
            "event_id": f"rc-fuzz:{g.doc[RC_MARK]}",
            "type": "message",
            "room_id": g.doc.get("rid"),
            "message": g.doc,
        }
        for g in docs
    ]
    payloads.append({"event_id": None, "type": kind, "room_id": PORTAL_RC_ROOM} | junk)
    await bridge.db.inbox.store_events("rocketchat", records(payloads))
    await bridge.drain()
    rows = await bridge.rows_after(watermark)
    assert len(rows) == len(payloads)
    outcomes = [(r.status, r.attempts, r.last_error) for r in rows]
    assert all(s in ("done", "skipped") and a == 0 for s, a, _ in outcomes), outcomes
    by_mark = rc_rows(rows)
    for g in docs:
        assert by_mark[g.doc[RC_MARK]].status == ("done" if g.good else "skipped"), g.why


# What "Rocket.Chat" answers chat.getMessage with: the documents the payloads name.
SERVED_DOCS: dict[str, Any] = {}


async def served_message(message_id: RCMessageID) -> RCMessage:
    if message_id not in SERVED_DOCS:
        raise RCBadRequestError(400, "no such message")
    return RCMessage.parse(SERVED_DOCS[message_id])


@pytest_asyncio.fixture
async def webhook(bridge: Harness) -> AsyncIterator[TestClient[Any, Any]]:
    app = web.Application()
    OutgoingWebhookIntake(
        WEBHOOK_TOKEN, served_message, RocketChatIntake(bridge.db.inbox, lambda: None)
    ).add_routes(app)
    async with TestClient(TestServer(app)) as client:
        yield client


def webhook_payload(doc: dict[str, Any]) -> dict[str, Any]:
    """The webhook call announcing ``doc``, which chat.getMessage then serves."""
    if isinstance(doc.get("_id"), str):
        SERVED_DOCS[doc["_id"]] = doc
    u = doc.get("u") if isinstance(doc.get("u"), dict) else {}
    return {
        "token": WEBHOOK_TOKEN,
        "bot": False,
        "channel_id": doc.get("rid"),
        "message_id": doc["_id"],
        "timestamp": "2024-05-01T10:00:00.000Z",
        "user_id": u.get("_id"),
        "user_name": u.get("username"),
        "text": doc.get("msg"),
    }


@FIXTURE_OK
@example(payload={"token": "wrong-ü"})  # non-ASCII token: compare_digest raised TypeError → 500
@example(
    payload={
        "token": WEBHOOK_TOKEN,
        "message_id": "m",
        "channel_id": "r",
        "timestamp": {"$date": 10**300},
    }
)
@given(
    payload=st.dictionaries(
        st.sampled_from(
            [
                "token",
                "message_id",
                "channel_id",
                "timestamp",
                "user_id",
                "user_name",
                "text",
                "tmid",
                "alias",
                "isEdited",
                "bot",
            ]
        ),
        json_values,
    )
    | st.one_of(good_messages(), bad_messages()).map(lambda g: webhook_payload(g.doc))
)
async def test_webhook_answers_200_400_or_403_never_500(
    bridge: Harness, webhook: TestClient[Any, Any], payload: dict[str, Any]
) -> None:
    watermark = await bridge.watermark()
    resp = await webhook.post(WEBHOOK_PATH, data=json.dumps(payload))
    assert resp.status in (200, 400, 403, 413), resp.status  # 413: over 64 KiB
    if resp.status != 200:
        assert "error" in await resp.json()
        assert await bridge.rows_after(watermark) == []
    await bridge.drain()
    assert all(r.status in ("done", "skipped") for r in await bridge.rows_after(watermark))


async def test_webhook_good_message_is_processed(
    bridge: Harness, webhook: TestClient[Any, Any]
) -> None:
    doc = {
        "_id": "whGood0000000001",
        "rid": PORTAL_RC_ROOM,
        "msg": "hi",
        "u": {"_id": "U1", "username": "alice"},
    }
    watermark = await bridge.watermark()
    resp = await webhook.post(WEBHOOK_PATH, json=webhook_payload(doc))
    assert resp.status == 200
    await bridge.drain()
    (row,) = await bridge.rows_after(watermark)
    assert row.status == "done"
