"""The disclosure ledger service: what the bridge calls to record what crossed where.

Every write happens in the caller's :class:`~bridge.storage.database.UnitOfWork`. A
disclosure is recorded by the outbox ``OnDone`` hook, in the transaction that marks the
send done: a send that never happened is never recorded, and a send interrupted by a
crash runs again (idempotently) and is recorded then.

Membership and visibility observations come from the appservice event stream; a room is
seeded once, on first contact, from ``/joined_members``, ``/members`` and ``/state``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from bridge.ids import (
    EventID,
    RCMessageID,
    RCRoomID,
    RCUserID,
    RCUsername,
    RoomID,
    ServerName,
    UserID,
)
from bridge.privacy import pseudonyms
from bridge.privacy.categories import PROFILE, Category, Origin, RecipientKind
from bridge.privacy.hashing import check_key, content_hash
from bridge.privacy.subjects import MatrixPerson, Person, identity, link, subject_ref
from bridge.privacy.timeline import (
    EPOCH,
    Interval,
    Presence,
    ServerTimeline,
    Visibility,
    VisibilityChange,
    reach,
    server_of,
    transition,
)
from bridge.storage.common import now_ms
from bridge.storage.database import UnitOfWork
from bridge.storage.ledger import LedgerStore, NewDisclosure

log = logging.getLogger(__name__)

# Disclosures deleted per pruning transaction: a first pruning of a long backlog (say,
# after the retention was shortened) then holds the write lock briefly at a time.
PRUNE_BATCH = 5000


class LedgerError(ValueError):
    """A disclosure or observation the ledger cannot record as given."""


@dataclass(frozen=True)
class LedgerSettings:
    local_server: ServerName
    # The organisation's Rocket.Chat as a recipient name, see rocketchat_recipient().
    rocketchat: str
    hash_key: bytes

    def __post_init__(self) -> None:
        check_key(self.hash_key)


def rocketchat_recipient(url: str) -> str:
    """``rocketchat:<host[:port]>``: cannot collide with a server name, which has no scheme."""
    host = urlsplit(url).netloc or url
    return f"rocketchat:{host}"


@dataclass(frozen=True)
class BridgedItem:
    """One item carried across: a message, an edit, a file, a reaction.

    ``content`` is hashed and dropped, never stored. Each of ``mentions`` becomes a
    subject too: a row of category ``mention`` about that person.
    """

    subject: Person
    origin: Origin
    room_id: RoomID
    sent_ms: int
    categories: Category
    event_id: EventID | None = None
    rc_message_id: RCMessageID | None = None
    content: bytes | str | None = None
    mentions: tuple[Person, ...] = ()


@dataclass(frozen=True)
class ProfileChange:
    """A ghost's or shadow user's display name / avatar, set or changed.

    It reaches every server of every room the ghost is in, so ``rooms`` lists them all,
    with the ``m.room.member`` event that carried the change in each, when known.
    """

    subject: Person
    origin: Origin
    categories: Category
    sent_ms: int
    rooms: Mapping[RoomID, EventID | None]
    content: bytes | str | None = None


@dataclass(frozen=True)
class SeedMember:
    """A member event from ``/members`` (or ``/joined_members``, as ``join``)."""

    user_id: UserID
    membership: str
    ts_ms: int


class DisclosureLedger:
    def __init__(self, settings: LedgerSettings) -> None:
        self._settings = settings

    # -- disclosures ---------------------------------------------------------------------

    async def record(self, uow: UnitOfWork, item: BridgedItem) -> int:
        """Record ``item`` and a mention row per other person it names; returns how many
        rows."""
        if not item.categories:
            raise LedgerError("a disclosure needs at least one data category")
        store = uow.ledger
        room = await self._room(store, item.room_id)
        author = await subject_ref(store, item.subject)
        digest = (
            None if item.content is None else content_hash(self._settings.hash_key, item.content)
        )
        rows = [self._row(author, room, item, item.categories, digest)]
        mentioned = {author}
        for person in item.mentions:
            ref = await subject_ref(store, person)
            if ref not in mentioned:
                mentioned.add(ref)
                # The mentioned person's data is their identity, not the author's text.
                rows.append(self._row(ref, room, item, Category.MENTION, None))
        await store.add_disclosures(rows)
        return len(rows)

    @staticmethod
    def _row(
        subject: int, room: int, item: BridgedItem, categories: Category, digest: bytes | None
    ) -> NewDisclosure:
        return NewDisclosure(
            subject_ref=subject,
            room_ref=room,
            origin=int(item.origin),
            categories=int(categories),
            sent_ms=item.sent_ms,
            event_id=item.event_id,
            rc_message_id=item.rc_message_id,
            content_hash=digest,
        )

    async def record_profile(self, uow: UnitOfWork, change: ProfileChange) -> int:
        """One disclosure per room of the ghost; recipients follow from each room's timeline."""
        if not change.categories or change.categories & ~PROFILE:
            raise LedgerError("a profile disclosure carries display name and/or avatar only")
        store = uow.ledger
        subject = await subject_ref(store, change.subject)
        digest = (
            None
            if change.content is None
            else content_hash(self._settings.hash_key, change.content)
        )
        rows = []
        for room_id, event_id in sorted(change.rooms.items()):
            rows.append(
                NewDisclosure(
                    subject_ref=subject,
                    room_ref=await self._room(store, room_id),
                    origin=int(change.origin),
                    categories=int(change.categories),
                    sent_ms=change.sent_ms,
                    event_id=event_id,
                    rc_message_id=None,
                    content_hash=digest,
                )
            )
        await store.add_disclosures(rows)
        return len(rows)

    async def link(
        self,
        uow: UnitOfWork,
        origin: Origin,
        matrix_user_id: UserID,
        rc_user_id: RCUserID,
        rc_username: RCUsername | None = None,
    ) -> int:
        """A Matrix user and their Rocket.Chat shadow (origin ``matrix``), or a Rocket.Chat
        user and their Matrix ghost (origin ``rocketchat``), are one subject."""
        return await link(uow.ledger, origin, matrix_user_id, rc_user_id, rc_username)

    async def bind_room(self, uow: UnitOfWork, room_id: RoomID, rc_room_id: RCRoomID) -> None:
        store = uow.ledger
        await store.set_rc_room(await self._room(store, room_id), rc_room_id)

    # -- timelines -----------------------------------------------------------------------

    async def observe_membership(
        self, uow: UnitOfWork, room_id: RoomID, user_id: UserID, membership: str, at_ms: int
    ) -> bool:
        """An ``m.room.member`` event. Only a server's first join / last leave (or invite)
        changes its timeline; a profile change (join → join) changes nothing. True when
        the user's server joined the room with it (its first joined member)."""
        store = uow.ledger
        room = await self._room(store, room_id)
        server = await self._server(store, server_of(user_id))
        old = Presence(await store.server_presence(room, server))
        await store.set_member(
            room,
            server,
            self._member(user_id),
            Presence.of_membership(membership),
            at_ms,
            formerly=self._earlier(user_id),
        )
        change = transition(old, Presence(await store.server_presence(room, server)))
        if not change.opens and not change.closes:
            return False
        for kind in change.closes:
            await store.close_presence(room, server, kind, at_ms)
        for kind in change.opens:
            await store.open_presence(room, server, kind, at_ms)
        await self._rebuild_reach(store, room, server)
        return Presence.JOINED in change.opens

    async def observe_visibility(
        self, uow: UnitOfWork, room_id: RoomID, visibility: str, at_ms: int
    ) -> None:
        """An ``m.room.history_visibility`` event: re-derive every server's reach."""
        store = uow.ledger
        room = await self._room(store, room_id)
        await store.set_visibility(room, at_ms, Visibility.parse(visibility))
        for server in await store.room_servers(room):
            await self._rebuild_reach(store, room, server)

    async def seed_room(
        self,
        uow: UnitOfWork,
        room_id: RoomID,
        *,
        members: Sequence[SeedMember],
        visibility: str | None,
        visibility_ts_ms: int = EPOCH,
        at_ms: int | None = None,
    ) -> bool:
        """Seed a room's timelines on first contact; False when it was seeded before.

        When a server joined is unknown (a member event's time may be a later profile
        change), so seeded presence starts at :data:`EPOCH`: for notification duties
        (Art. 17(2), 19) naming one server too many is the safe error, missing one is not.
        A server whose users have all left was present until its last leave.
        """
        store = uow.ledger
        room = await self._room(store, room_id)
        if not await store.mark_seeded(room, now_ms() if at_ms is None else at_ms):
            return False
        if visibility is not None:
            await store.set_visibility(room, visibility_ts_ms, Visibility.parse(visibility))
        current: dict[int, Presence] = {}
        left_at: dict[int, int] = {}
        for m in members:
            server = await self._server(store, server_of(m.user_id))
            presence = Presence.of_membership(m.membership)
            if presence is Presence.NONE:
                left_at[server] = max(left_at.get(server, EPOCH), m.ts_ms)
                continue
            await store.set_member(
                room,
                server,
                self._member(m.user_id),
                presence,
                m.ts_ms,
                formerly=self._earlier(m.user_id),
            )
            current[server] = max(current.get(server, Presence.NONE), presence)
        for server in sorted(current.keys() | left_at.keys()):
            presence = current.get(server, Presence.NONE)
            for kind in (Presence.INVITED, Presence.JOINED):
                if presence >= kind:
                    await store.open_presence(room, server, kind, EPOCH)
                elif server in left_at:
                    await store.open_presence(room, server, kind, EPOCH)
                    await store.close_presence(room, server, kind, left_at[server])
            await self._rebuild_reach(store, room, server)
        log.info("Seeded ledger timelines of %s with %d servers", room_id, len(current | left_at))
        return True

    # -- erasure and retention -------------------------------------------------------------

    async def pseudonymise(self, uow: UnitOfWork, person: Person) -> int:
        """After an erasure: drop the subject's identifiers and content hashes, keep the
        evidence (see docs/ledger.md). Returns the number of disclosures touched."""
        store = uow.ledger
        if isinstance(person, MatrixPerson):
            found = await store.find_subject(matrix_user_id=person.user_id)
        else:
            found = await store.find_subject(rc_user_id=person.user_id)
        if not found:
            return 0
        subject = found[0]
        name = await pseudonyms.digest(uow, identity(subject))
        return await store.pseudonymise_subject(subject.id, name, now_ms())

    async def prune_older_than(
        self, uow: UnitOfWork, cutoff_ms: int, limit: int = PRUNE_BATCH
    ) -> int:
        """Retention (``privacy.ledger_retention_days``): delete up to ``limit`` disclosures
        sent before ``cutoff_ms``, keeping in the same transaction how many items went to
        each recipient per UTC day and category, naming no one; returns how many went
        (fewer than ``limit``: nothing older is left)."""
        removed = await uow.ledger.prune_before(cutoff_ms, limit, Origin.MATRIX)
        log.info("Pruned %d ledger disclosures older than %d", removed, cutoff_ms)
        return removed

    # -- helpers -------------------------------------------------------------------------

    def _member(self, user_id: str) -> str:
        """A member is stored by a keyed tag, not by id: the timelines only count members
        per server, and a person still in a room after their erasure must not be named
        there (``bridge.privacy.pseudonyms.member_tag``)."""
        return pseudonyms.member_tag(self._settings.hash_key, user_id)

    def _earlier(self, user_id: str) -> tuple[str, ...]:
        """Forms an older version stored the member under: the id, then its pseudonym."""
        return user_id, pseudonyms.legacy_name(self._settings.hash_key, user_id)

    async def _room(self, store: LedgerStore, room_id: RoomID) -> int:
        rc = await store.server_ref(self._settings.rocketchat, RecipientKind.ROCKETCHAT)
        return await store.room_ref(room_id, rc_server_ref=rc)

    async def _server(self, store: LedgerStore, name: str) -> int:
        local = name == self._settings.local_server
        kind = RecipientKind.LOCAL_HOMESERVER if local else RecipientKind.REMOTE_HOMESERVER
        return await store.server_ref(name, kind)

    @staticmethod
    async def _rebuild_reach(store: LedgerStore, room: int, server: int) -> None:
        records = await store.presence(room, server)
        timeline = ServerTimeline(
            joined=tuple(
                Interval(r.from_ms, r.to_ms) for r in records if r.state == Presence.JOINED
            ),
            aware=tuple(
                Interval(r.from_ms, r.to_ms) for r in records if r.state == Presence.INVITED
            ),
        )
        changes = [VisibilityChange(f, Visibility(v)) for f, v in await store.visibility(room)]
        ranges = reach(timeline, changes)
        await store.replace_reach(room, server, [(r.from_ms, r.to_ms) for r in ranges])
