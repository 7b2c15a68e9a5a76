"""Routes each stored inbox event to the handlers of its source, in one unit of work."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bridge.storage.database import UnitOfWork
from bridge.storage.inbox import StoredEvent
from bridge.workers.inbox import EventHandler, SkipEvent


class Dispatcher:
    def __init__(self, handlers: Mapping[str, Sequence[EventHandler]]) -> None:
        self._handlers = handlers

    async def __call__(self, uow: UnitOfWork, event: StoredEvent) -> None:
        handlers = self._handlers.get(event.source)
        if handlers is None:
            raise SkipEvent(f"no handler for source {event.source!r}")
        for handler in handlers:
            await handler(uow, event)
