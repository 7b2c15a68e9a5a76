"""Routes each stored inbox event to the handlers of its source, in one unit of work.

Each source's reader runs first: it validates the stored payload and turns it into the
source's typed event (a mautrix event, a Rocket.Chat event), once for all the source's
handlers. A payload it refuses (``SkipEvent``) is recorded as skipped with the reason and
no handler sees it, so handlers read fields with the types the protocol gives them. The
readers belong to the connectors (``bridge.matrix.event_validation``,
``bridge.rocketchat.inbox_events``); the wiring hands them in, so the core imports neither.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
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
    # Reads a batch's events will need, done once for the batch (say, its senders'
    # opt-outs in one statement instead of one per sender): an optimisation only, the
    # handlers read whatever it did not.
    prefetch: Callable[[UnitOfWork, Sequence[E]], Awaitable[None]] | None = None


class Dispatcher:
    def __init__(self, routes: Mapping[str, Route[Any]]) -> None:
        self._routes = routes
        # What prefetch() read of the current batch, by inbox id, so each payload is
        # read once: the typed event, or why it was refused.
        self._read: dict[int, Any] = {}

    async def prefetch(self, uow: UnitOfWork, events: Sequence[StoredEvent]) -> None:
        """Read a claimed batch's events and let each source prefetch for them."""
        self._read.clear()
        if not any(route.prefetch for route in self._routes.values()):
            return  # nothing would use the early reads: each event is read when handled
        by_source: dict[str, list[Any]] = {}
        for event in events:
            route = self._routes.get(event.source)
            if route is None:
                continue
            try:
                value = self._read[event.id] = route.read(event.payload)
            except SkipEvent as refused:
                self._read[event.id] = refused
                continue
            by_source.setdefault(event.source, []).append(value)
        for source, values in by_source.items():
            prefetch = self._routes[source].prefetch
            if prefetch is not None:
                await prefetch(uow, values)

    async def __call__(self, uow: UnitOfWork, event: StoredEvent) -> None:
        route = self._routes.get(event.source)
        if route is None:
            raise SkipEvent(f"no handler for source {event.source!r}")
        read = self._read.pop(event.id, None)
        if isinstance(read, SkipEvent):
            raise read
        value = route.read(event.payload) if read is None else read
        inbound = Inbound(value, event.id, event.event_id)
        for handler in route.handlers:
            await handler(uow, inbound)
