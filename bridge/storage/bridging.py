"""Repository of the bridging core: portals, ghosts, shadows, message and reaction maps."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.storage.bridging_rows import (
    GhostRow,
    MessageRow,
    PersonaRow,
    PortalRow,
    ReactionRow,
    ShadowRow,
)
from bridge.storage.cache import GHOST, PORTAL, SHADOW, UnitCache
from bridge.storage.common import insert_ignoring_conflicts, now_ms
from bridge.storage.sealed import SealError, SecretBox, is_sealed
from bridge.storage.write_buffer import InsertBuffer


@dataclass(frozen=True)
class Portal:
    id: int
    rc_room_id: str
    rc_room_type: str
    matrix_room_id: str | None
    name: str | None
    active: bool


@dataclass(frozen=True)
class Ghost:
    rc_user_id: str
    rc_username: str
    matrix_user_id: str
    display_name: str | None
    avatar_url: str | None
    avatar_hash: str | None = None
    profile_checked_ms: int | None = None


@dataclass(frozen=True)
class Shadow:
    matrix_user_id: str
    rc_user_id: str | None
    rc_username: str
    display_name: str | None
    auth_token: str | None


@dataclass(frozen=True)
class BridgedMessage:
    portal_id: int
    rc_message_id: str
    part: int
    matrix_event_id: str
    origin: str
    sender: str
    sent_ms: int
    deleted: bool = False
    rc_thread_id: str | None = None
    # The persona that sent it (a room under policy minimise); None: the sender's ghost.
    persona: str | None = None


def _portal(r: PortalRow) -> Portal:
    return Portal(r.id, r.rc_room_id, r.rc_room_type, r.matrix_room_id, r.name, r.active)


def _message(r: MessageRow) -> BridgedMessage:
    return BridgedMessage(
        r.portal_id,
        r.rc_message_id,
        r.part,
        r.matrix_event_id,
        r.origin,
        r.sender,
        r.sent_ms,
        r.deleted,
        r.rc_thread_id,
        r.persona,
    )


class BridgingStore:
    """Queries and updates run inside the caller's session (one unit of work)."""

    def __init__(
        self,
        session: AsyncSession,
        secrets: SecretBox | None = None,
        cache: UnitCache | None = None,
        inserts: InsertBuffer | None = None,
    ) -> None:
        self._s = session
        self._inserts = inserts
        # Portals, ghosts and shadows read in this unit of work (storage.cache).
        self._cache = cache or UnitCache()
        # Seals the shadows' session tokens (storage.encryption_key); None in tools that
        # never read or write one.
        self._secrets = secrets

    # --- portals -------------------------------------------------------------------------

    async def portal_by_rc(self, rc_room_id: str) -> Portal | None:
        return await self._portal_where(PortalRow.rc_room_id == rc_room_id, ("rc", rc_room_id))

    async def portal_by_matrix(self, matrix_room_id: str) -> Portal | None:
        return await self._portal_where(
            PortalRow.matrix_room_id == matrix_room_id, ("matrix", matrix_room_id)
        )

    async def portal_by_id(self, portal_id: int) -> Portal | None:
        return await self._portal_where(PortalRow.id == portal_id, ("id", portal_id))

    async def read_portals(self, portal_ids: Collection[int]) -> None:
        """Read these portals in one statement, for this unit of work's later lookups by
        id (a batch of finished actions names a portal each)."""
        wanted = [p for p in portal_ids if not self._cache.has(PORTAL, ("id", p))]
        if not wanted:
            return
        found = {
            r.id: _portal(r)
            for r in await self._s.scalars(select(PortalRow).where(PortalRow.id.in_(wanted)))
        }
        for portal_id in wanted:
            self._cache.put(PORTAL, ("id", portal_id), found.get(portal_id))

    async def _portal_where(self, condition: Any, key: tuple[str, str | int]) -> Portal | None:
        async def load() -> Portal | None:
            row = await self._s.scalar(select(PortalRow).where(condition))
            return None if row is None else _portal(row)

        return await self._cache.read(PORTAL, key, load)

    async def add_portal(
        self, rc_room_id: str, rc_room_type: str, matrix_room_id: str | None, name: str | None
    ) -> Portal:
        self._cache.drop(PORTAL)
        await self._s.execute(
            insert_ignoring_conflicts(self._s, PortalRow.__table__).values(
                rc_room_id=rc_room_id,
                rc_room_type=rc_room_type,
                matrix_room_id=matrix_room_id,
                name=name,
                active=True,
                created_ms=now_ms(),
            )
        )
        portal = await self.portal_by_rc(rc_room_id)
        assert portal is not None
        return portal

    async def set_portal_room(self, portal_id: int, matrix_room_id: str) -> None:
        self._cache.drop(PORTAL)
        await self._s.execute(
            update(PortalRow)
            .where(PortalRow.id == portal_id)
            .values(matrix_room_id=matrix_room_id, active=True)
        )

    async def set_portal_active(self, portal_id: int, active: bool) -> None:
        self._cache.drop(PORTAL)
        await self._s.execute(
            update(PortalRow).where(PortalRow.id == portal_id).values(active=active)
        )

    async def active_portals(self) -> list[Portal]:
        rows = await self._s.scalars(select(PortalRow).where(PortalRow.active.is_(True)))
        return [_portal(r) for r in rows]

    # --- ghosts and shadows --------------------------------------------------------------

    async def ghost(self, rc_user_id: str) -> Ghost | None:
        return await self._ghost_where(GhostRow.rc_user_id == rc_user_id, ("id", rc_user_id))

    async def _ghost_where(self, condition: Any, key: tuple[str, str]) -> Ghost | None:
        async def load() -> Ghost | None:
            r = await self._s.scalar(select(GhostRow).where(condition))
            if r is None:
                return None
            return Ghost(
                r.rc_user_id,
                r.rc_username,
                r.matrix_user_id,
                r.display_name,
                r.avatar_url,
                r.avatar_hash,
                r.profile_checked_ms,
            )

        return await self._cache.read(GHOST, key, load)

    async def ghost_by_matrix(self, matrix_user_id: str) -> Ghost | None:
        """The ghost of the person ``matrix_user_id`` stands for: their ghost's id or one
        of their personas' (a pill to a persona names the person on Rocket.Chat, and a
        persona's id is taken for any other ghost)."""
        r = await self._s.scalar(select(GhostRow).where(GhostRow.matrix_user_id == matrix_user_id))
        if r is not None:
            return await self.ghost(r.rc_user_id)
        persona = await self._s.get(PersonaRow, matrix_user_id)
        return None if persona is None else await self.ghost(persona.rc_user_id)

    async def ghost_by_username(self, rc_username: str) -> Ghost | None:
        r = await self._s.scalar(select(GhostRow).where(GhostRow.rc_username == rc_username))
        return None if r is None else await self.ghost(r.rc_user_id)

    async def upsert_ghost(self, rc_user_id: str, rc_username: str, matrix_user_id: str) -> None:
        self._cache.drop(GHOST)
        row = await self._s.get(GhostRow, rc_user_id)
        if row is None:
            self._s.add(
                GhostRow(
                    rc_user_id=rc_user_id, rc_username=rc_username, matrix_user_id=matrix_user_id
                )
            )
        else:
            row.rc_username = rc_username
        await self._s.flush()

    async def ghosts_after(self, rc_user_id: str, limit: int) -> list[Ghost]:
        """Ghosts in Rocket.Chat id order, after ``rc_user_id`` (keyset paging)."""
        rows = await self._s.scalars(
            select(GhostRow.rc_user_id)
            .where(GhostRow.rc_user_id > rc_user_id)
            .order_by(GhostRow.rc_user_id)
            .limit(limit)
        )
        return [g for r in list(rows) if (g := await self.ghost(r)) is not None]

    async def drop_ghost(self, rc_user_id: str) -> None:
        """The account is gone on Rocket.Chat; nothing will need its ghost row again."""
        self._cache.drop(GHOST)
        await self._s.execute(delete(GhostRow).where(GhostRow.rc_user_id == rc_user_id))

    async def set_ghost_profile(
        self,
        rc_user_id: str,
        display_name: str | None,
        avatar_url: str | None,
        *,
        avatar_hash: str | None = None,
        checked_ms: int | None = None,
    ) -> None:
        self._cache.drop(GHOST)
        await self._s.execute(
            update(GhostRow)
            .where(GhostRow.rc_user_id == rc_user_id)
            .values(
                display_name=display_name,
                avatar_url=avatar_url,
                avatar_hash=avatar_hash,
                profile_checked_ms=checked_ms,
            )
        )

    async def read_shadows(self, matrix_user_ids: Collection[str]) -> None:
        """Read these Matrix users' shadows in one statement, for this unit of work's later
        :meth:`shadow` calls (the senders of an inbox batch)."""
        wanted = [m for m in set(matrix_user_ids) if not self._cache.has(SHADOW, ("matrix", m))]
        if not wanted:
            return
        rows = await self._s.scalars(select(ShadowRow).where(ShadowRow.matrix_user_id.in_(wanted)))
        found = {r.matrix_user_id: self._shadow(r) for r in rows}
        for m in wanted:
            self._cache.put(SHADOW, ("matrix", m), found.get(m))

    async def shadow(self, matrix_user_id: str) -> Shadow | None:
        return await self._shadow_where(
            ShadowRow.matrix_user_id == matrix_user_id, ("matrix", matrix_user_id)
        )

    async def shadow_by_rc(self, rc_user_id: str) -> Shadow | None:
        return await self._shadow_where(ShadowRow.rc_user_id == rc_user_id, ("id", rc_user_id))

    async def shadow_by_username(self, rc_username: str) -> Shadow | None:
        return await self._shadow_where(ShadowRow.rc_username == rc_username, ("name", rc_username))

    def _shadow(self, r: ShadowRow) -> Shadow:
        token = None if r.auth_token is None else self._open(r.auth_token)
        return Shadow(r.matrix_user_id, r.rc_user_id, r.rc_username, r.display_name, token)

    async def _shadow_where(self, condition: Any, key: tuple[str, str]) -> Shadow | None:
        async def load() -> Shadow | None:
            r = await self._s.scalar(select(ShadowRow).where(condition))
            return None if r is None else self._shadow(r)

        return await self._cache.read(SHADOW, key, load)

    async def save_shadow(self, shadow: Shadow) -> None:
        self._cache.drop(SHADOW)
        row = await self._s.get(ShadowRow, shadow.matrix_user_id)
        if row is None:
            row = ShadowRow(matrix_user_id=shadow.matrix_user_id, rc_username=shadow.rc_username)
            self._s.add(row)
        row.rc_user_id = shadow.rc_user_id
        row.rc_username = shadow.rc_username
        row.display_name = shadow.display_name
        row.auth_token = None if shadow.auth_token is None else self._seal(shadow.auth_token)
        await self._s.flush()

    async def seal_plain_tokens(self) -> int:
        """Seal the session tokens an older version stored in plain text; returns how many."""
        self._cache.drop(SHADOW)
        rows = await self._s.scalars(select(ShadowRow).where(ShadowRow.auth_token.is_not(None)))
        sealed = 0
        for row in rows:
            if row.auth_token is not None and not is_sealed(row.auth_token):
                row.auth_token = self._seal(row.auth_token)
                sealed += 1
        await self._s.flush()
        return sealed

    def _box(self) -> SecretBox:
        if self._secrets is None:
            raise RuntimeError("storage.encryption_key is needed to store or read a session token")
        return self._secrets

    def _seal(self, token: str) -> str:
        return self._box().seal(token)

    def _open(self, stored: str) -> str:
        try:
            return self._box().open(stored)
        except SealError:
            # Sealed under another key (storage.encryption_key was changed). An empty token
            # fails Rocket.Chat's authentication, on which the executor logs the shadow in
            # again with its derived password and stores the new session sealed.
            return ""

    # --- messages and reactions ----------------------------------------------------------

    async def add_message(self, message: BridgedMessage) -> None:
        """Map a bridged message (a part already mapped is left as it is), written with
        this unit of work's other new rows (storage.write_buffer)."""
        row = {
            "portal_id": message.portal_id,
            "rc_message_id": message.rc_message_id,
            "part": message.part,
            "matrix_event_id": message.matrix_event_id,
            "origin": message.origin,
            "sender": message.sender,
            "sent_ms": message.sent_ms,
            "deleted": message.deleted,
            "rc_thread_id": message.rc_thread_id,
            "persona": message.persona,
        }
        if self._inserts is None:
            await self._s.execute(
                insert_ignoring_conflicts(self._s, MessageRow.__table__).values(row)
            )
        else:
            self._inserts.add(MessageRow.__table__, row)

    async def messages_by_rc(self, rc_message_id: str) -> list[BridgedMessage]:
        rows = await self._s.scalars(
            select(MessageRow)
            .where(MessageRow.rc_message_id == rc_message_id)
            .order_by(MessageRow.part)
        )
        return [_message(r) for r in rows]

    async def message_by_event(self, matrix_event_id: str) -> BridgedMessage | None:
        row = await self._s.scalar(
            select(MessageRow).where(MessageRow.matrix_event_id == matrix_event_id)
        )
        return None if row is None else _message(row)

    async def mark_deleted(self, rc_message_id: str) -> None:
        await self._s.execute(
            update(MessageRow).where(MessageRow.rc_message_id == rc_message_id).values(deleted=True)
        )

    async def portal_messages_between(
        self, portal_id: int, oldest_ms: int | None, latest_ms: int | None
    ) -> list[BridgedMessage]:
        stmt = select(MessageRow).where(
            MessageRow.portal_id == portal_id, MessageRow.deleted.is_(False)
        )
        if oldest_ms is not None:
            stmt = stmt.where(MessageRow.sent_ms >= oldest_ms)
        if latest_ms is not None:
            stmt = stmt.where(MessageRow.sent_ms <= latest_ms)
        rows = await self._s.scalars(stmt.order_by(MessageRow.id))
        return [_message(r) for r in rows]

    async def add_reaction(
        self,
        matrix_event_id: str,
        rc_message_id: str,
        emoji: str,
        sender: str,
        origin: str,
        persona: str | None = None,
    ) -> None:
        await self._s.execute(
            insert_ignoring_conflicts(self._s, ReactionRow.__table__).values(
                matrix_event_id=matrix_event_id,
                rc_message_id=rc_message_id,
                emoji=emoji,
                sender=sender,
                origin=origin,
                persona=persona,
            )
        )

    async def reaction_persona(self, matrix_event_id: str) -> str | None:
        """The persona that sent a bridged reaction, if one did."""
        r = await self._s.get(ReactionRow, matrix_event_id)
        return None if r is None else r.persona

    async def reactions_for(self, rc_message_id: str) -> list[tuple[str, str, str, str]]:
        """(matrix event id, emoji, sender, origin) of every bridged reaction on a message."""
        rows = await self._s.scalars(
            select(ReactionRow).where(ReactionRow.rc_message_id == rc_message_id)
        )
        return [(r.matrix_event_id, r.emoji, r.sender, r.origin) for r in rows]

    async def reaction(self, matrix_event_id: str) -> tuple[str, str, str] | None:
        r = await self._s.get(ReactionRow, matrix_event_id)
        return None if r is None else (r.rc_message_id, r.emoji, r.sender)

    async def reaction_event(self, rc_message_id: str, emoji: str, sender: str) -> str | None:
        return await self._s.scalar(
            select(ReactionRow.matrix_event_id).where(
                ReactionRow.rc_message_id == rc_message_id,
                ReactionRow.emoji == emoji,
                ReactionRow.sender == sender,
            )
        )

    async def remove_reaction(self, matrix_event_id: str) -> None:
        row = await self._s.get(ReactionRow, matrix_event_id)
        if row is not None:
            await self._s.delete(row)
