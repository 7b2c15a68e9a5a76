"""The Rocket.Chat side at run time: log in, link configured rooms, follow their events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Literal

from bridge.bridging.portals import link_room
from bridge.config import Config
from bridge.ids import RCRoomID
from bridge.pipeline import backoff, keys
from bridge.pipeline.contracts import Lead, run_here
from bridge.rctypes.links import FileLinks
from bridge.rctypes.models import RCLogin, RCRoom
from bridge.rocketchat.catchup import CatchUp
from bridge.rocketchat.echoes import OwnEchoes
from bridge.rocketchat.errors import (
    RCAPIError,
    RCAuthError,
    RCBadRequestError,
    RCError,
    RCNotFoundError,
)
from bridge.rocketchat.files import FileFetcher
from bridge.rocketchat.intake import RocketChatIntake
from bridge.rocketchat.people import PeopleCheck
from bridge.rocketchat.realtime import RealtimeListener
from bridge.rocketchat.rest import RCRestClient
from bridge.storage.cursors import DatabaseCursorStore
from bridge.storage.database import Database

log = logging.getLogger(__name__)

# How soon a process follows a room that another process linked: the realtime listener
# subscribes to its deletions, the webhook intake stops refusing its messages.
ROOMS_REFRESH_SECONDS = 10.0


class LinkRefusedError(Exception):
    """A room that cannot be bridged; the message says why."""


class RocketChatSide:
    def __init__(
        self,
        config: Config,
        db: Database,
        on_stored: Callable[[], None],
        on_reconnect: Callable[[], Awaitable[None]] | None = None,
        lead: Lead = run_here,
    ) -> None:
        self._config = config
        self._on_reconnect = on_reconnect
        # Runs a job in the one process that leads it (bridge.workers.leader).
        self._lead = lead
        self._db = db
        rc = config.rocketchat
        login = (
            RCLogin(rc.user_id, rc.auth_token)  # type: ignore[arg-type]
            if rc.user_id and rc.auth_token
            else None
        )
        self.admin = RCRestClient(rc.url, login=login)
        self.file_links = FileLinks(rc.url)
        # Uploads and avatars, from Rocket.Chat's file routes only (bridge.rocketchat.files).
        self.files = FileFetcher(self.file_links, self.admin.transport)
        self.bot_user_ids: set[str] = {rc.user_id} if rc.user_id else set()
        self.intake = RocketChatIntake(db.inbox, on_stored)
        self.cursors = DatabaseCursorStore(db.sessions, "rc")
        self._catchup = CatchUp(self.admin, self.cursors, self.intake)
        self.bot_username: str | None = None
        # Webhook intake: rooms known to be followed, and channels known not to be (until
        # when: another process may link one, and this one must then read it).
        self._followed: set[str] = set()
        self._not_followed: dict[str, float] = {}
        self.listener: RealtimeListener | None = None
        # Filled by the executors before each post; the listener drops the plain echoes.
        self.echoes = OwnEchoes()
        self.ready = asyncio.Event()
        self.people = PeopleCheck(self.admin, self.intake, self._ghost_page)
        self._people_task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        """Log in (retrying while Rocket.Chat is away), link rooms, then follow events.

        Every process logs in and serves the REST side (executors, commands); the
        intake (the realtime listener, or the webhook mode's catch-up) and the people
        check run in one process at a time, the one that leads them.
        """
        await self._login()
        await self._link_configured_rooms()
        if self._config.rocketchat.intake == "realtime":
            self.listener = RealtimeListener(
                self.admin, self.intake, self.cursors, echoes=self.echoes
            )
        self._people_task = asyncio.create_task(
            self._lead(keys.RC_PEOPLE_JOB, self._check_people), name="rc-people"
        )
        self.ready.set()
        await self._lead(keys.RC_INTAKE_JOB, self._follow_events)

    async def _follow_events(self) -> None:
        """The intake, while this process leads it."""
        if self.listener is None:
            await self._catch_up_periodically()
            return
        listener = self.listener
        rooms = await self._followed_rooms()
        for room in rooms:
            listener.rooms.add(room)
        log.info("Following %d Rocket.Chat room(s)", len(rooms))
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(listener.run())
                group.create_task(self._follow_new_rooms(listener))
                if self._on_reconnect is not None:
                    group.create_task(self._watch_reconnects(listener, self._on_reconnect))
        finally:
            listener.connected.clear()

    async def _follow_new_rooms(self, listener: RealtimeListener) -> None:
        """Rooms another process linked, or a DM it opened, reach this one through the
        database: followed within ``ROOMS_REFRESH_SECONDS``, and caught up on at once
        (the stream brought their messages already; their deletions it did not)."""
        while True:
            await asyncio.sleep(ROOMS_REFRESH_SECONDS)
            try:
                for room in await self._followed_rooms():
                    if room not in listener.rooms:
                        await listener.add_room(room)
                        await listener.catchup.rooms([room])
            except RCError as e:
                log.warning("Following a new Rocket.Chat room failed (%s); next round", e)
            except Exception:  # a background loop's boundary: the listener goes on
                log.exception("Following new Rocket.Chat rooms failed; next round")

    async def _followed_rooms(self) -> list[RCRoomID]:
        async with self._db.unit_of_work() as uow:
            rooms = [RCRoomID(p.rc_room_id) for p in await uow.bridging.active_portals()]
            # DMs with the bridge's account (bridge/commands/dm.py) are caught up on like
            # portals, so a command typed while the bridge was down is still answered.
            rooms += [RCRoomID(r) for r in await uow.commands.dm_rooms("rocketchat")]
        return rooms

    async def _catch_up_periodically(self) -> None:
        """Webhook intake: outgoing webhooks announce new and edited messages only, and
        a call Rocket.Chat gave up on is gone. Every followed room is therefore caught up
        on (``chat.syncMessages``) at start and every ``webhook_catchup_seconds``: that
        finds deletions, prunes and whatever a webhook call missed."""
        catchup = self._catchup
        interval = self._config.rocketchat.webhook_catchup_seconds
        while True:
            try:
                await catchup.rooms(await self._followed_rooms())
            except RCError as e:
                log.warning("Catch-up with Rocket.Chat failed (%s); next in %ds", e, interval)
            except Exception:  # a background worker's boundary: log, try again later
                log.exception("Catch-up failed; next in %ds", interval)
            await asyncio.sleep(interval)

    async def _ghost_page(self, after: str, limit: int) -> list[tuple[str, str]]:
        async with self._db.unit_of_work() as uow:
            ghosts = await uow.bridging.ghosts_after(after, limit)
        return [(g.rc_user_id, g.rc_username) for g in ghosts]

    async def _check_people(self) -> None:
        """Account deletions the stream did not deliver (bridge.rocketchat.people)."""
        interval = self._config.rocketchat.people_check_seconds
        while True:
            try:
                await self.people.round()
            except (RCError, ValueError) as e:
                log.warning("People check with Rocket.Chat failed (%s); next in %ds", e, interval)
            except Exception:  # a background worker's boundary: log, try again later
                log.exception("People check failed; next in %ds", interval)
            await asyncio.sleep(interval)

    @staticmethod
    async def _watch_reconnects(
        listener: RealtimeListener, on_reconnect: Callable[[], Awaitable[None]]
    ) -> None:
        """Tell the bridge each time the realtime connection is back after a loss."""
        seen = listener.connections
        while True:
            await listener.connected.wait()
            if listener.connections != seen:
                seen = listener.connections
                await on_reconnect()
            await asyncio.sleep(0.5)

    async def _login(self) -> None:
        rc = self._config.rocketchat
        tries = 0
        while True:
            tries += 1
            delay = backoff.STARTUP.delay(tries)
            try:
                if rc.username and rc.password and self.admin.login_info is None:
                    await self.admin.login(rc.username, rc.password)
                me = await self.admin.me()
            except RCAuthError as e:
                log.error("Rocket.Chat refused the bridge's credentials (%s); check config", e)
            except RCError as e:
                log.error(
                    "Cannot reach Rocket.Chat at %s (%s); retrying in %.0fs", rc.url, e, delay
                )
            else:
                self.bot_user_ids.add(me.id)
                self.bot_username = me.username
                log.info("Logged in to Rocket.Chat as %s", me.username)
                return
            await asyncio.sleep(delay)

    async def _link_configured_rooms(self) -> None:
        for rc_room_id, matrix_room_id in self._config.bridge.rooms.items():
            try:
                room = await self.admin.rooms_info(RCRoomID(rc_room_id))
            except RCAPIError as e:
                log.error("Cannot bridge Rocket.Chat room %s: %s", rc_room_id, e.error)
                continue
            await self.join(room.id, room.type)
            async with self._db.unit_of_work() as uow:
                await link_room(
                    uow, self._config, rc_room_id, room.type, room.name, room.topic, matrix_room_id
                )

    async def resolve_room(self, ref: str) -> RCRoom:
        """A room by id, or by name (``#name`` or ``name``), as the admin types it."""
        try:
            return await self.admin.rooms_info(RCRoomID(ref))
        except RCNotFoundError:
            pass
        except RCBadRequestError:
            pass
        return await self.admin.rooms_info_by_name(ref.removeprefix("#"))

    async def link(
        self,
        ref: str,
        matrix_room_id: str | None = None,
        invitees: tuple[str, ...] = (),
    ) -> tuple[int, RCRoom]:
        """Bridge a channel or private group: join it, record the portal, follow it."""
        room = await self.resolve_room(ref)
        if room.type not in ("c", "p"):
            raise LinkRefusedError("only channels and private groups can be bridged")
        await self.join(room.id, room.type)
        async with self._db.unit_of_work() as uow:
            portal = await link_room(
                uow,
                self._config,
                room.id,
                room.type,
                room.name,
                room.topic,
                matrix_room_id,
                invitees=invitees,
            )
        await self.follow(room.id)
        return portal.id, room

    async def join(self, rc_room_id: str, rc_room_type: str) -> None:
        """Make the bridge's account a member: realtime streams need membership."""
        me = self.admin.login_info
        assert me is not None
        kind: Literal["channels", "groups"] = "groups" if rc_room_type == "p" else "channels"
        await self.admin.room_invite(kind, RCRoomID(rc_room_id), me.user_id)

    async def follows(self, rc_room_id: str) -> bool:
        """Whether the bridge reads this room: a portal, or a DM with its account.

        The realtime stream only carries rooms the bridge's account is in; an outgoing
        webhook may announce every channel of the server, whose messages the bridge must
        not even read."""
        if rc_room_id in self._followed:
            return True
        now = asyncio.get_running_loop().time()
        if self._not_followed.get(rc_room_id, now) > now:
            return False
        if rc_room_id in await self._followed_rooms():
            self._followed.add(rc_room_id)
            return True
        room = await self.admin.rooms_info(RCRoomID(rc_room_id))
        if room.type != "d":
            # Until linked here (follow), or for a while, in case another process links it.
            self._not_followed[rc_room_id] = now + ROOMS_REFRESH_SECONDS
            return False
        # A DM (a first !privacy command): followed when the bridge's account is in it.
        return self.bot_username is not None and self.bot_username in room.usernames

    async def follow(self, rc_room_id: str) -> None:
        self._not_followed.pop(rc_room_id, None)
        if self.listener is not None:
            await self.listener.add_room(RCRoomID(rc_room_id))
        else:
            # Webhook intake: the periodic catch-up covers the room from now on, so a
            # deletion before its next round is still found.
            await self._catchup.ensure_cursor(RCRoomID(rc_room_id))

    async def close(self) -> None:
        if self._people_task is not None:
            self._people_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._people_task
        if self.listener is not None:
            await self.listener.stop()
        await self.admin.close()
