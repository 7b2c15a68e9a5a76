"""Routes each stored inbox event to the handlers of its source, in one unit of work.

Each source's reader runs first: it validates the stored payload and turns it into the
source's typed event (a mautrix event, a Rocket.Chat event), once for all the source's
handlers. A payload it refuses (``SkipEvent``) is recorded as skipped with the reason and
no handler sees it, so handlers read fields with the types the protocol gives them. The
readers belong to the connectors (``bridge.matrix.event_validation``,
``bridge.rocketchat.inbox_events``); the wiring hands them in, so the core imports neither.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import attrs

from bridge.pipeline.contracts import EventHandler, Inbound, SkipEvent
from bridge.storage.database import UnitOfWork
from bridge.storage.inbox import InboxPayload, StoredEvent

E = TypeVar("E")


@attrs.frozen
class Route(Generic[E]):
    """One source: its reader (raises ``SkipEvent`` with the reason for a payload it
    refuses) and the handlers of what it reads."""

    read: Callable[[InboxPayload], E]
    handlers: Sequence[EventHandler[E]]


class Dispatcher:
    def __init__(self, routes: Mapping[str, Route[Any]]) -> None:
        self._routes = routes

    async def __call__(self, uow: UnitOfWork, event: StoredEvent) -> None:
        route = self._routes.get(event.source)
        if route is None:
            raise SkipEvent(f"no handler for source {event.source!r}")
        inbound = Inbound(route.read(event.payload), event.id, event.event_id)
        for handler in route.handlers:
            await handler(uow, inbound)
