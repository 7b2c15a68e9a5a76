"""The one backoff: how long to wait after failures in a row.

Doubling from ``base`` up to ``cap`` seconds, with "equal jitter" (a wait between half the
ceiling and the ceiling): things that failed together (every action of a room, every
client after a Rocket.Chat restart) do not all come back at the same instant, and none
comes back much sooner than planned. Used by the outbox's retries, the inbox's and the
workers' failed rounds, the Rocket.Chat REST client's in-process retries (through
tenacity) and the realtime reconnects.
"""

from __future__ import annotations

import random

import attrs

# 2**30 times any base is past every cap: the exponent stops there.
_MAX_EXPONENT = 30


@attrs.frozen
class Backoff:
    base: float
    cap: float
    jitter: bool = True

    def ceiling(self, failures: int) -> float:
        """The longest wait after ``failures`` (1 or more) failures in a row."""
        exponent = min(max(failures - 1, 0), _MAX_EXPONENT)
        return min(self.cap, self.base * float(2**exponent))

    def delay(self, failures: int) -> float:
        """The wait after ``failures`` (1 or more) failures in a row."""
        ceiling = self.ceiling(failures)
        if not self.jitter:
            return ceiling
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - spreading, not secrecy


# Between tries to reach a server at start-up (the homeserver's ping, Rocket.Chat's
# login): 1 s, doubling to a minute.
STARTUP = Backoff(1.0, 60.0)
