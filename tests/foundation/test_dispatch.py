"""The dispatcher reads each stored event once, with its source's reader (handed in by the
wiring), and hands the typed event to every handler of the source; a payload the reader
refuses is skipped with its reason and reaches no handler."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from mautrix.types import Membership, MessageEvent, RedactionEvent, StateEvent

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


async def test_a_batch_is_read_once_prefetched_per_source_and_refusals_still_skip() -> None:
    """prefetch() reads the batch and hands each source its typed events; the handlers
    then get what it read (no second read), and a payload it refused is skipped."""
    reads: list[InboxPayload] = []
    prefetched: list[list[int]] = []
    seen: list[int] = []

    def read(payload: InboxPayload) -> int:
        reads.append(payload)
        return _read_ok(payload)

    async def prefetch(uow: UnitOfWork, values: Sequence[int]) -> None:
        prefetched.append(list(values))

    async def handler(uow: UnitOfWork, inbound: Inbound[int]) -> None:
        seen.append(inbound.event)

    dispatch = Dispatcher({"src": Route(read, [handler], prefetch=prefetch)})
    uow: Any = object()
    good = StoredEvent(1, "src", "$a", encode_payload({"ok": True, "n": 5}), 0)
    bad = StoredEvent(2, "src", "$b", encode_payload({}), 0)
    other = StoredEvent(3, "elsewhere", "$c", encode_payload({}), 0)
    await dispatch.prefetch(uow, [good, bad, other])
    assert prefetched == [[5]] and len(reads) == 2
    await dispatch(uow, good)
    with pytest.raises(SkipEvent, match="not ok"):
        await dispatch(uow, bad)
    with pytest.raises(SkipEvent, match="no handler for source"):
        await dispatch(uow, other)
    assert seen == [5] and len(reads) == 2  # nothing read twice


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


def _matrix(event_type: str, content: dict[str, Any], **extra: Any) -> InboxPayload:
    return encode_payload(
        {
            "type": event_type,
            "event_id": "$e",
            "room_id": "!r:hs1.test",
            "sender": "@a:hs2.test",
            "origin_server_ts": 1_700_000_000_000,
            "content": content,
            **extra,
        }
    )


def test_a_matrix_event_is_read_into_its_mautrix_type() -> None:
    message = read_event(_matrix("m.room.message", {"msgtype": "m.text", "body": "hi"}))
    assert isinstance(message, MessageEvent) and message.content.body == "hi"
    member = read_event(_matrix("m.room.member", {"membership": "join"}, state_key="@a:hs2.test"))
    assert isinstance(member, StateEvent) and member.content.membership == Membership.JOIN


def test_a_room_v11_redaction_names_its_target_in_the_content() -> None:
    # Room version 11 moved ``redacts`` into the content; mautrix reads it top-level.
    redaction = read_event(_matrix("m.room.redaction", {"redacts": "$target"}))
    assert isinstance(redaction, RedactionEvent) and redaction.redacts == "$target"


def test_an_edit_is_read_as_its_new_content() -> None:
    edit = read_event(
        _matrix(
            "m.room.message",
            {
                "msgtype": "m.text",
                "body": "* fixed",
                "m.new_content": {"msgtype": "m.text", "body": "fixed"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": "$old"},
            },
        )
    )
    assert isinstance(edit, MessageEvent) and edit.content.body == "fixed"
    assert edit.content.relates_to.event_id == "$old"
