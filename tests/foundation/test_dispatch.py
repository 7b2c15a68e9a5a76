"""The dispatcher reads each stored event once, with its source's reader (handed in by the
wiring), and hands the typed event to every handler of the source; a payload the reader
refuses is skipped with its reason and reaches no handler."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bridge.bridging.dispatch import Dispatcher, Route
from bridge.matrix.event_validation import read_event
from bridge.pipeline.contracts import Inbound, SkipEvent
from bridge.rocketchat import inbox_events
from bridge.storage.database import UnitOfWork
from bridge.storage.inbox import InboxPayload, StoredEvent, encode_payload


def _event(source: str, payload: object) -> StoredEvent:
    return StoredEvent(
        id=7, source=source, event_id="$k", payload=encode_payload(payload), attempts=0
    )


def _read_ok(payload: InboxPayload) -> int:
    data = json.loads(payload)
    if not data.get("ok"):
        raise SkipEvent("not ok")
    return int(data["n"])


async def test_a_refused_payload_reaches_no_handler() -> None:
    seen: list[Inbound[int]] = []

    async def handler(uow: UnitOfWork, inbound: Inbound[int]) -> None:
        seen.append(inbound)

    dispatch = Dispatcher({"src": Route(_read_ok, [handler])})
    uow: Any = object()  # the handlers here never touch the database
    with pytest.raises(SkipEvent, match="not ok"):
        await dispatch(uow, _event("src", {}))
    assert seen == []
    await dispatch(uow, _event("src", {"ok": True, "n": 3}))
    assert seen == [Inbound(3, 7, "$k")]


async def test_an_event_is_read_once_for_all_its_handlers() -> None:
    reads: list[InboxPayload] = []
    seen: list[object] = []

    def read(payload: InboxPayload) -> object:
        reads.append(payload)
        return object()

    async def one(uow: UnitOfWork, inbound: Inbound[object]) -> None:
        seen.append(inbound.event)

    dispatch = Dispatcher({"src": Route(read, [one, one, one])})
    await dispatch(object(), _event("src", {}))  # type: ignore[arg-type]
    assert len(reads) == 1 and len(seen) == 3 and len({id(e) for e in seen}) == 1


async def test_an_unknown_source_is_skipped() -> None:
    with pytest.raises(SkipEvent, match="no handler for source"):
        await Dispatcher({})(object(), _event("elsewhere", {}))  # type: ignore[arg-type]


@pytest.mark.parametrize("read", [read_event, inbox_events.read])
@pytest.mark.parametrize(
    "payload", ["not json", "[]", '"text"', "{}", '{"type": "m.room.message"}']
)
def test_the_bridge_reads_both_of_its_sources_strictly(read: Any, payload: str) -> None:
    with pytest.raises(SkipEvent):
        read(InboxPayload(payload))
