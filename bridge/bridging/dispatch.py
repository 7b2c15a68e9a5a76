"""Routes each stored inbox event to the handlers of its source, in one unit of work.

Each source's validator runs first: an event it refuses is recorded as skipped with the
reason and no handler sees it, so handlers may read fields with the types the protocol
gives them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bridge.matrix.event_validation import event_problem
from bridge.pipeline.contracts import EventHandler, SkipEvent
from bridge.rocketchat.intake import SOURCE as RC_SOURCE
from bridge.rocketchat.validation import inbox_payload_problem
from bridge.storage.database import UnitOfWork
from bridge.storage.inbox import StoredEvent

Validator = Callable[[Mapping[str, Any]], "str | None"]

VALIDATORS: Mapping[str, Validator] = {
    "matrix": event_problem,
    RC_SOURCE: inbox_payload_problem,
}


class Dispatcher:
    def __init__(
        self,
        handlers: Mapping[str, Sequence[EventHandler]],
        validators: Mapping[str, Validator] = VALIDATORS,
    ) -> None:
        self._handlers = handlers
        self._validators = validators

    async def __call__(self, uow: UnitOfWork, event: StoredEvent) -> None:
        handlers = self._handlers.get(event.source)
        if handlers is None:
            raise SkipEvent(f"no handler for source {event.source!r}")
        validate = self._validators.get(event.source)
        if validate is not None and (problem := validate(event.payload)) is not None:
            raise SkipEvent(problem)
        for handler in handlers:
            await handler(uow, event)
