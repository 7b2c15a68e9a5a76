"""How long a client may sleep while it holds an outbox slot.

An outbox worker runs one action per queue at a time. A client that sleeps inside the
action, e.g. waiting out a Rocket.Chat rate limit of several minutes, holds the room's
queue for as long, and hides the wait from the retry budget. Inside a slot, clients
sleep at most ``slot_wait_limit()`` seconds in total, then raise, and the outbox
schedules the retry durably (with the server's ``retry_after`` when it gave one).

A context variable, so the bound follows the action's task into every client it calls,
without threading a parameter through each API; outside a slot (the realtime listener,
the start-up login) clients keep their own patience.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_LIMIT: ContextVar[float | None] = ContextVar("outbox_slot_wait_limit", default=None)


@contextmanager
def outbox_slot(limit_s: float) -> Iterator[None]:
    token = _LIMIT.set(limit_s)
    try:
        yield
    finally:
        _LIMIT.reset(token)


def slot_wait_limit() -> float | None:
    """Seconds a client may still sleep in total in this slot; None outside any slot."""
    return _LIMIT.get()
