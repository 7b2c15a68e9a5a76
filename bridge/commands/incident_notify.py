"""The ``incident.notify`` outbox action: the bot tells one person (an affected person, or
a recipient server's contact) about an incident, in a DM on that person's own side
(``bridge.privacy.incident_run`` queues it)."""

from __future__ import annotations

from typing import Any

from bridge.commands.context import Side
from bridge.commands.sides import Sides
from bridge.pipeline.contracts import Executor, OnDone, PermanentFailure
from bridge.privacy.audit import AuditLog
from bridge.privacy.incident_run import INCIDENT_NOTIFY
from bridge.storage.database import UnitOfWork
from bridge.storage.outbox import Action


class IncidentNotices:
    def __init__(self, sides: Sides) -> None:
        self._sides = sides

    def executors(self) -> dict[str, Executor]:
        return {INCIDENT_NOTIFY: self._send}

    @staticmethod
    def on_done() -> dict[str, OnDone]:
        return {INCIDENT_NOTIFY: _sent}

    async def _send(self, action: Action) -> dict[str, Any]:
        p = action.payload
        side: Side = "matrix" if p["side"] == "matrix" else "rocketchat"
        if side == "rocketchat" and not p.get("username"):
            raise PermanentFailure("no Rocket.Chat username on record: cannot open a DM")
        room = await self._sides.dm_room(side, p["user_id"], p.get("username"))
        await self._sides.say(side, room, p["text"], action.key)
        return {"room_id": room, "side": side}


async def _sent(uow: UnitOfWork, action: Action, result: Any) -> None:
    side = (result or {}).get("side", action.payload["side"])
    # The key is incident:<id>:<step>:<digest> (bridge.privacy.incident_run.notify_action).
    _, incident, step, _ = (action.key.split(":") + ["", "", ""])[:4]
    await AuditLog.append(
        uow, "incident.notified", "bridge", None,
        {"incident": incident, "step": step, "side": side, "outcome": "sent"},
    )  # fmt: skip
