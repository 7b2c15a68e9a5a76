"""Typed progress notes of pending outbox actions.

An action with a multi-step effect the other side cannot deduplicate (a Rocket.Chat file
upload, then its posting) notes how far it got in its row; the note is JSON there, a
value of the action's own class above the storage boundary.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from bridge.pipeline.actions import MALFORMED, converter
from bridge.storage.outbox import Outbox

T = TypeVar("T")


class Progress(Generic[T]):
    """How far a pending action got with a multi-step effect, noted durably in its row
    (:meth:`Outbox.save_progress`), as a value of ``cls``: a run after a crash reads it
    and continues. A note that does not fit ``cls`` (an older version's) reads as none."""

    def __init__(self, outbox: Outbox, cls: type[T]) -> None:
        self._outbox = outbox
        self._cls = cls

    async def read(self, action_id: int) -> T | None:
        noted = await self._outbox.progress(action_id)
        if noted is None:
            return None
        try:
            return converter.structure(noted, self._cls)
        except MALFORMED:
            return None

    async def note(self, action_id: int, value: T) -> None:
        await self._outbox.save_progress(action_id, converter.unstructure(value))
