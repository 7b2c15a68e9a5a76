"""The bridge's own messages coming back on the realtime stream, recognised in memory.

Every message the bridge posts to Rocket.Chat returns on ``stream-room-messages``.
Stored and dispatched like any event, each such echo cost an inbox row, a cursor write
and an inbox transaction that ends in "already bridged": about a third of the database
work per relayed message (benchmark 2 in BENCHMARKS.md). The executors name each message
before posting it (a client-chosen ``_id``), so its first delivery can be told apart
without the database.

Only that first, plain delivery is dropped. A document that carries anything someone on
Rocket.Chat may have added (reactions, an edit, a deletion, a thread) still goes to the
inbox, as does every echo of an id this process did not post or has forgotten (after a
restart, say): the handlers recognise those as before. Catch-up after a reconnect is not
filtered at all. A dropped echo still moves its room's cursor, but only once every event
received before it was delivered (realtime.py), so nothing the stream carried is skipped.
"""

from __future__ import annotations

from collections import OrderedDict

from bridge.rctypes.models import RCMessage

# Enough for the messages in flight between a post and its echo, many times over.
REMEMBERED = 10_000


class OwnEchoes:
    def __init__(self, remembered: int = REMEMBERED) -> None:
        self._expected: OrderedDict[str, None] = OrderedDict()
        self._remembered = remembered
        self.dropped = 0

    def expect(self, message_id: str) -> None:
        """Called before the bridge posts a message with this id."""
        self._expected[message_id] = None
        self._expected.move_to_end(message_id)
        while len(self._expected) > self._remembered:
            self._expected.popitem(last=False)

    def is_plain_echo(self, message: RCMessage) -> bool:
        """True once for the first unchanged delivery of a message the bridge posted."""
        if message.id not in self._expected:
            return False
        if (
            message.reactions
            or message.edited_at is not None
            or message.is_system
            or message.thread_count
        ):
            return False
        del self._expected[message.id]
        self.dropped += 1
        return True
