"""Routes each stored inbox event to the handlers of its source, in one unit of work.

Each source's validator runs first: an event it refuses is recorded as skipped with the
reason and no handler sees it, so handlers may read fields with the types the protocol
gives them. The validators belong to the connectors (``bridge.matrix.event_validation``,
``bridge.rocketchat.validation``); the wiring hands them in, so the core imports neither.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bridge.pipeline.contracts import EventHandler, SkipEvent
from bridge.storage.database import UnitOfWork
from bridge.storage.inbox import StoredEvent

Validator = Callable[[Mapping[str, Any]], "str | None"]


class Dispatcher:
    def __init__(
        self,
        handlers: Mapping[str, Sequence[EventHandler]],
        validators: Mapping[str, Validator],
    ) -> None:
        # A source without a validator would hand unchecked payloads to its handlers.
        unchecked = sorted(set(handlers) - set(validators))
        if unchecked:
            raise ValueError(f"no validator for inbox source(s) {', '.join(unchecked)}")
        self._handlers = handlers
        self._validators = validators

    async def __call__(self, uow: UnitOfWork, event: StoredEvent) -> None:
        handlers = self._handlers.get(event.source)
        if handlers is None:
            raise SkipEvent(f"no handler for source {event.source!r}")
        problem = self._validators[event.source](event.payload)
        if problem is not None:
            raise SkipEvent(problem)
        for handler in handlers:
            await handler(uow, event)
