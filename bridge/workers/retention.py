"""Retention across federation: each portal's policy mirrored, and its items expired.

Every ``retention.poll_seconds`` (bounded: a few settings reads plus one ``rooms.info`` per
active portal), the worker reads Rocket.Chat's retention settings and each portal room's
own policy (bridge.privacy.retention_policy), then:

1. puts the matching ``m.room.retention`` into the portal room when it changed, through
   the outbox (one action per room and content, so a repeat sets nothing twice);
2. opens a retention expiry (bridge.privacy.expiry) for every room whose policy's age
   has passed items the bridge relayed, cut off at ``now - max_age``.

The expiry does not wait for Rocket.Chat's own job to prune (it may run only every 30
minutes, or never for a Matrix-origin message it does not know is old), and does not
rely on remote homeservers honouring ``m.room.retention`` (Synapse ignores it unless
its ``retention`` option is on). Expiries are paced by the erasure engine's own queues.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import attrs
from mautrix.api import Method, Path
from mautrix.errors import MatrixStandardRequestError
from mautrix.types import EventType, RoomID

from bridge.pipeline import keys
from bridge.pipeline.actions import Executes, Queued, Run, action, executor, new_action
from bridge.privacy.erasure_model import RequestId
from bridge.privacy.retention_policy import (
    RETENTION_EVENT,
    RoomPolicy,
    effective_policy,
    read_settings,
    retention_content,
)
from bridge.privacy.server_versions import ServerVersions
from bridge.rctypes.retention import RCRoomRetention
from bridge.rocketchat.errors import RCError
from bridge.storage.common import now_ms
from bridge.storage.database import Database
from bridge.storage.policy import RoomPolicyRecord
from bridge.workers.loop import WorkerLoop

log = logging.getLogger(__name__)

SET_RETENTION = "matrix.retention"


class PolicySource(Protocol):
    async def setting(self, setting_id: str) -> object: ...

    async def room_retention(self, room_id: Any) -> RCRoomRetention: ...


class Expirer(Protocol):
    async def expire(
        self, room_id: str, before_ms: int, *, files_only: bool = False
    ) -> RequestId | None: ...


@dataclass(frozen=True)
class RoomRetention:
    matrix_room_id: str
    rc_room_id: str
    policy: RoomPolicy | None
    name: str | None = None


def _record(room: RoomRetention, now: int) -> RoomPolicyRecord:
    p = room.policy
    return RoomPolicyRecord(
        room.matrix_room_id,
        room.rc_room_id,
        room.name,
        None if p is None else p.max_age_ms,
        p is not None and p.files_only,
        None if p is None else p.source,
        now,
    )


@action(SET_RETENTION)
@attrs.frozen
class SetRetention:
    """Put ``content`` into the room's ``m.room.retention`` (bridge.privacy.retention_policy)."""

    room_id: str
    content: dict[str, int]  # {"max_lifetime": ms}, or {} for no policy


@attrs.frozen
class RetentionSet:
    room_id: str
    content: dict[str, int]
    set: bool  # False: the room already carried it


def set_retention_action(room_id: str, content: dict[str, int]) -> Queued:
    return new_action(
        SetRetention(room_id, content),
        key=keys.retention_key(room_id, content),
        queue=keys.matrix_room_queue(room_id),
    )


class RetentionWorker(WorkerLoop):
    name = "Retention"

    def __init__(
        self,
        db: Database,
        expirer: Expirer,
        source: Callable[[], PolicySource | None],
        *,
        interval_seconds: float,
        wake_outbox: Callable[[], None] = lambda: None,
        clock: Callable[[], int] = now_ms,
        versions: ServerVersions | None = None,
    ) -> None:
        super().__init__(interval_s=interval_seconds)
        # Each round also asks a few recipient servers what software they run.
        self.versions = versions
        self._db = db
        self._expirer = expirer
        self._source = source
        self._wake_outbox = wake_outbox
        self._clock = clock
        # What each room was last given, so an unchanged policy enqueues nothing.
        self._mirrored: dict[str, dict[str, int]] = {}
        self.policies: dict[str, RoomRetention] = {}

    async def round(self) -> bool:
        try:
            await self.run_once()
        except RCError as e:  # away or refusing: the next round asks again
            log.warning("Retention round skipped: Rocket.Chat answered %s", e)
        finally:
            # Asked whatever became of the policies (a failure of theirs is the loop's).
            if self.versions is not None:
                try:
                    await self.versions.check_due()
                except Exception:  # a boundary: the next round asks again
                    log.exception("Asking servers for their software failed")
        return False

    async def run_once(self) -> list[RequestId]:
        """Read the policies, mirror them, open the expiries due; returns those opened."""
        rooms = await self.read_policies()
        if rooms is None:
            return []
        await self._mirror(rooms)
        opened: list[RequestId] = []
        now = self._clock()
        for room in rooms:
            if room.policy is None:
                continue
            cutoff = now - room.policy.max_age_ms
            found = await self._expirer.expire(
                room.matrix_room_id, cutoff, files_only=room.policy.files_only
            )
            if found is not None:
                opened.append(found)
        return opened

    async def read_policies(self) -> list[RoomRetention] | None:
        source = self._source()
        if source is None:
            return None  # Rocket.Chat not connected yet
        settings = await read_settings(source)
        async with self._db.unit_of_work() as uow:
            portals = await uow.bridging.active_portals()
        rooms = []
        for portal in portals:
            if portal.matrix_room_id is None:
                continue
            policy = effective_policy(settings, await source.room_retention(portal.rc_room_id))
            rooms.append(
                RoomRetention(portal.matrix_room_id, portal.rc_room_id, policy, portal.name)
            )
        self.policies = {r.matrix_room_id: r for r in rooms}
        # For the dashboard's retention page, which cannot ask Rocket.Chat itself.
        now = self._clock()
        async with self._db.unit_of_work() as uow:
            for r in rooms:
                await uow.room_policies.put(_record(r, now))
        return rooms

    async def _mirror(self, rooms: list[RoomRetention]) -> None:
        # A room first seen without a policy is left as it is: no event saying "none"
        # into every portal at each start.
        changed = [
            (r.matrix_room_id, retention_content(r.policy))
            for r in rooms
            if self._mirrored.get(r.matrix_room_id, {}) != retention_content(r.policy)
        ]
        if not changed:
            return
        async with self._db.unit_of_work() as uow:
            for room_id, content in changed:
                await uow.enqueue(set_retention_action(room_id, content))
        for room_id, content in changed:
            self._mirrored[room_id] = content
        self._wake_outbox()


def retention_executor(api: Any) -> Executes[SetRetention, RetentionSet]:
    """The outbox executor: the bot puts the state event (it created the portal, with the
    power to change its state), unless the room already carries that content (a restart
    mirrors every policy once more)."""
    event_type = EventType.find(RETENTION_EVENT, EventType.Class.STATE)

    async def put(run: Run[SetRetention]) -> RetentionSet:
        room_id = RoomID(run.payload.room_id)
        content = run.payload.content
        bot = api.bot_intent()
        path = Path.v3.rooms[room_id].state[RETENTION_EVENT]
        try:
            current = await bot.api.request(Method.GET, path)
        except MatrixStandardRequestError as e:
            if e.errcode != "M_NOT_FOUND":
                raise
            current = {}
        if current == content:
            return RetentionSet(room_id, content, set=False)
        await bot.send_state_event(room_id, event_type, content)
        return RetentionSet(room_id, content, set=True)

    return executor(SetRetention, put)
