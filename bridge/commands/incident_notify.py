"""The ``incident.notify`` outbox action: the bot tells one person (an affected person, or
a recipient server's contact) about an incident, in a DM on that person's own side
(``bridge.privacy.incident_run`` queues it)."""

from __future__ import annotations

from bridge.commands.context import Side
from bridge.commands.sides import Sides
from bridge.pipeline.actions import DoneHooks, Executors, Run, executor, on_done
from bridge.pipeline.contracts import PermanentFailure
from bridge.privacy.audit import AuditLog
from bridge.privacy.incident_run import INCIDENT_NOTIFY, IncidentNotified, IncidentNotify
from bridge.storage.database import UnitOfWork


class IncidentNotices:
    def __init__(self, sides: Sides) -> None:
        self._sides = sides

    def executors(self) -> Executors:
        return {INCIDENT_NOTIFY: executor(IncidentNotify, self._send)}

    @staticmethod
    def on_done() -> DoneHooks:
        return {INCIDENT_NOTIFY: on_done(IncidentNotify, IncidentNotified, _sent)}

    async def _send(self, run: Run[IncidentNotify]) -> IncidentNotified:
        p = run.payload
        side: Side = "matrix" if p.side == "matrix" else "rocketchat"
        if side == "rocketchat" and not p.username:
            raise PermanentFailure("no Rocket.Chat username on record: cannot open a DM")
        room = await self._sides.dm_room(side, p.user_id, p.username)
        await self._sides.say(side, room, p.text, run.key)
        return IncidentNotified(room, side)


async def _sent(uow: UnitOfWork, run: Run[IncidentNotify], result: IncidentNotified) -> None:
    side = result.side or run.payload.side
    # The key is incident:<id>:<step>:<digest> (bridge.privacy.incident_run.notify_action).
    _, incident, step, _ = (run.key.split(":") + ["", "", ""])[:4]
    await AuditLog.append(
        uow, "incident.notified", "bridge", None,
        {"incident": incident, "step": step, "side": side, "outcome": "sent"},
    )  # fmt: skip
