"""The dispatcher runs each source's validator (handed in by the wiring) before its handlers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from bridge.app import INBOX_VALIDATORS
from bridge.bridging.dispatch import Dispatcher
from bridge.pipeline.contracts import SkipEvent
from bridge.storage.database import UnitOfWork
from bridge.storage.inbox import StoredEvent


def _event(source: str, payload: dict[str, Any]) -> StoredEvent:
    return StoredEvent(id=1, source=source, event_id=None, payload=payload, attempts=0)


def test_a_source_without_a_validator_is_refused_at_wiring() -> None:
    async def handler(uow: UnitOfWork, event: StoredEvent) -> None:
        raise AssertionError("never called")

    with pytest.raises(ValueError, match="no validator for inbox source"):
        Dispatcher({"matrix": [handler], "rocketchat": [handler]}, {"matrix": lambda p: None})


async def test_a_refused_payload_reaches_no_handler() -> None:
    seen: list[StoredEvent] = []

    async def handler(uow: UnitOfWork, event: StoredEvent) -> None:
        seen.append(event)

    def only_ok(payload: Mapping[str, Any]) -> str | None:
        return None if payload.get("ok") else "not ok"

    dispatch = Dispatcher({"src": [handler]}, {"src": only_ok})
    uow: Any = object()  # the handlers here never touch the database
    with pytest.raises(SkipEvent, match="not ok"):
        await dispatch(uow, _event("src", {}))
    assert seen == []
    await dispatch(uow, _event("src", {"ok": True}))
    assert [e.payload for e in seen] == [{"ok": True}]


def test_the_bridge_validates_both_of_its_sources() -> None:
    assert INBOX_VALIDATORS["matrix"]({"type": "m.room.message"}) is not None
    assert INBOX_VALIDATORS["rocketchat"]({}) is not None
