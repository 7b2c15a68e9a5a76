"""What an erasure action's executor needs, completed for rows an older version queued.

The connectors know nothing of erasure state: each erasure action's payload carries what
its executor needs (the event to redact, the message to delete, the account to scrub),
filled in by the privacy layer when it queues the action. A row queued by an older
version carries only the request's and item's ids; before its connector runs it, the
completer registered for its kind reads the rest from the erasure tables, here in the
privacy layer, the one package that owns them. New rows never take this path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bridge.pipeline.actions import Executes, Executors, Run
from bridge.pipeline.contracts import PermanentFailure
from bridge.storage.database import Database, UnitOfWork
from bridge.storage.erasure import RequestRecord

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Completer(Generic[T]):
    """``lacks(payload)``: queued by an older version; ``complete`` returns it whole (or
    raises ``PermanentFailure`` when what it names is gone)."""

    lacks: Callable[[T], bool]
    complete: Callable[[UnitOfWork, T], Awaitable[T]]


def completed(
    db: Database, table: Mapping[str, Executes[Any, Any]], completers: Mapping[str, Completer[Any]]
) -> Executors:
    """``table`` with each kind that has a completer running its older rows completed."""

    def wrap(completer: Completer[T], registered: Executes[T, R]) -> Executes[T, R]:
        run = registered.run

        async def execute(action: Run[T]) -> R:
            if completer.lacks(action.payload):
                async with db.unit_of_work() as uow:
                    whole = await completer.complete(uow, action.payload)
                action = dataclasses.replace(action, payload=whole)
            return await run(action)

        return registered.wrapped(execute)

    return {
        kind: wrap(completers[kind], registered) if kind in completers else registered
        for kind, registered in table.items()
    }


async def request_of(uow: UnitOfWork, request_id: str) -> RequestRecord:
    """The request an older row names, for its completer; gone: it fails for good."""
    request = await uow.erasure.request(request_id)
    if request is None:
        raise PermanentFailure("erasure request no longer exists")
    return request
