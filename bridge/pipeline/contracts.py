"""The contracts between the pipeline's workers and the code they run.

The inbox worker runs an ``InboxHandler`` per stored event: the dispatcher, which reads it
into its source's typed event and hands that to each ``EventHandler`` of the source. The
outbox worker runs an ``Executor`` per action, then its ``OnDone`` hook (or ``OnDead``
when it is given up). A job one process runs at a time is handed to a ``Lead``. An
executor tells the worker how it failed by what it raises. These live below the
connectors and the core so that both can implement them without importing the workers
(the connector/core split of mautrix-go's bridgev2/networkinterface.go).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, ClassVar, Generic, TypeVar

import attrs

from bridge.storage.database import UnitOfWork
from bridge.storage.inbox import StoredEvent
from bridge.storage.outbox import Action

E = TypeVar("E")
E_co = TypeVar("E_co", covariant=True)


@attrs.frozen
class Inbound(Generic[E_co]):
    """A stored event as its source's handlers see it: read and validated once, typed
    (a mautrix event, a Rocket.Chat event), with what the inbox row says of it."""

    event: E_co
    # The inbox row's id, and its de-duplication key (a Matrix event id, or the
    # connector's key for a Rocket.Chat event, see bridge.rocketchat.inbox_events).
    inbox_id: int
    inbox_key: str | None


# What the inbox worker runs per stored event (the dispatcher).
InboxHandler = Callable[[UnitOfWork, StoredEvent], Awaitable[None]]
# Reads a claimed inbox batch will need, done together before its events are handled.
InboxPrefetch = Callable[[UnitOfWork, Sequence[StoredEvent]], Awaitable[None]]
# What a source's handlers are: each takes the event read once by the dispatcher.
EventHandler = Callable[[UnitOfWork, Inbound[E]], Awaitable[None]]

Result = dict[str, Any] | None
Executor = Callable[[Action], Awaitable[Result]]
# Runs in the transaction that marks the action done (the ledger records disclosures here).
OnDone = Callable[[UnitOfWork, Action, Result], Awaitable[None]]
# Runs in the transaction that makes the action a dead letter, with its last error: the
# notice to a person waiting on it, or the erasure item's final status, commits with it.
OnDead = Callable[[UnitOfWork, Action, str], Awaitable[None]]

Work = Callable[[], Awaitable[None]]
# Runs ``work`` whenever this process leads the named job (bridge.workers.leader); never
# returns (cancel it to stop).
Lead = Callable[[str, Work], Coroutine[Any, Any, None]]


async def run_here(job: str, work: Work) -> None:
    """A ``Lead`` for a part used alone (tests, tools): this process leads every job."""
    await work()


# HTTP statuses that say the server (or the proxy in front of it) is away, not that the
# request is wrong: retried as Unavailable.
AWAY_STATUSES = frozenset({502, 503, 504})


class SkipEvent(Exception):
    """The event is malformed or irrelevant; record why and move on."""


class RetryLater(Exception):
    """A temporary failure; ``retry_after`` (seconds) overrides the backoff when known.

    It spends one of the action's attempts: the failure may be the action's own fault.
    """

    uses_attempt: ClassVar[bool] = True

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Unavailable(RetryLater):
    """The other side is away or busy (no answer, 502-504, a rate limit): nothing says
    the action is at fault, so it spends only the age budget, not an attempt. Otherwise
    an outage of a few minutes would kill every message queued during it."""

    uses_attempt = False


class Waiting(Unavailable):
    """Not a failure: the action waits for another (e.g. the profile scrub for the
    redactions, so a ghost never leaves a room before its messages there are redacted)."""


class PermanentFailure(Exception):
    """Retrying cannot help (e.g. the target room no longer exists)."""
