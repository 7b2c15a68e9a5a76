"""Waiting for an event with a time limit, without losing a cancellation.

``asyncio.wait_for`` on Python 3.11 swallows a cancellation that arrives in the same
loop iteration as the awaited thing finishing: it returns the result instead of raising
``CancelledError`` (CPython gh-86296, fixed by the rewrite of ``wait_for`` in 3.12). A
worker that waits for its wake-up event with it, in a loop, then goes on looping after
being cancelled whenever a wake-up and the cancellation meet (say, an action queued as
the bridge stops), and whoever awaits the cancelled task waits forever: the bridge
never finished stopping. ``asyncio.timeout`` raises the cancellation in that case.
"""

from __future__ import annotations

import asyncio


async def wait_set(event: asyncio.Event, seconds: float) -> bool:
    """Wait until ``event`` is set or ``seconds`` pass; True when it was set."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True
