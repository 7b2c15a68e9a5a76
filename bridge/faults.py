"""Crash points for durability tests.

``BRIDGE_CRASH_AT=<point>`` makes the process SIGKILL itself when it reaches that point,
the only honest way to prove that a crash at exactly that moment loses and repeats
nothing. Unset (always, outside tests) this costs one dict lookup.
"""

from __future__ import annotations

import os
import signal

_POINT = os.environ.get("BRIDGE_CRASH_AT")


def crash_point(name: str) -> None:
    if _POINT is not None and _POINT == name:
        os.kill(os.getpid(), signal.SIGKILL)
