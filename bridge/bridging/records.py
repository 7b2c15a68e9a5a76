"""What the bridge writes down when an outbound action is done.

These hooks run in the database transaction that marks the action done, so the id
mapping and the disclosure ledger's record exist exactly when the send happened: a send
that never happened is never recorded, and one repeated after a crash is recorded once.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from bridge.bridging.action_values import (
    CarriesDisclosure,
    CreatePortal,
    Disclosure,
    EnsureShadow,
    GhostMembership,
    GhostProfile,
    MatrixMessage,
    MatrixRedact,
    MatrixSend,
    MatrixSent,
    MatrixUpload,
    NamesPortal,
    NoResult,
    PortalCreated,
    ProfileSet,
    RCDelete,
    RCPost,
    RCReact,
    RCSend,
    RCSent,
    RCUpdate,
    RCUpload,
    Redacted,
    RoomSeed,
    SeedLedger,
    SentAs,
    ShadowReady,
    StoredPersona,
    Subject,
)
from bridge.bridging.minimise import persona_of
from bridge.ids import EventID, RCMessageID, RCRoomID, RCUserID, RCUsername, RoomID, UserID
from bridge.pipeline import keys, kinds
from bridge.pipeline.actions import DoneHooks, Run, on_done
from bridge.privacy.categories import Category, Origin
from bridge.privacy.ledger import BridgedItem, DisclosureLedger, ProfileChange, SeedMember
from bridge.privacy.subjects import MatrixPerson, Person, RCPerson
from bridge.storage.bridging import BridgedMessage, Shadow
from bridge.storage.common import now_ms
from bridge.storage.database import UnitOfWork


def person(data: Subject) -> Person:
    """The ``subject`` of an action payload: who the carried data is about."""
    if data.matrix_user_id:
        return MatrixPerson(UserID(data.matrix_user_id))
    return RCPerson(RCUserID(data.rc_user_id or ""), RCUsername(data.rc_username or ""))


class Records:
    def __init__(self, ledger: DisclosureLedger) -> None:
        self._ledger = ledger

    @staticmethod
    async def prefetch(uow: UnitOfWork, payloads: Sequence[object | None]) -> None:
        """Before a batch of finished actions is recorded: their portals and the people
        their disclosures are about, one read each (most hooks look up the portal the
        action names, and every disclosure its subject). ``payloads`` are the actions'
        typed payloads, of any kinds (None for one that does not fit its class)."""
        ids = {p.portal_id for p in payloads if isinstance(p, NamesPortal)}
        await uow.bridging.read_portals([i for i in ids if i is not None])
        mx, rc = set(), set()
        for p in payloads:
            disclosure = p.disclosure if isinstance(p, CarriesDisclosure) else None
            if disclosure is None:
                continue
            subject = disclosure.subject
            if subject.matrix_user_id is not None:
                mx.add(subject.matrix_user_id)
            elif subject.rc_user_id is not None:
                rc.add(subject.rc_user_id)
        await uow.ledger.read_subjects(mx, rc)

    def table(self) -> DoneHooks:
        return {
            kinds.MATRIX_SEND: on_done(MatrixSend, MatrixSent, self.matrix_sent),
            kinds.MATRIX_UPLOAD: on_done(MatrixUpload, MatrixSent, self.matrix_sent),
            kinds.MATRIX_REDACT: on_done(MatrixRedact, Redacted, self.matrix_redacted),
            kinds.CREATE_PORTAL: on_done(CreatePortal, PortalCreated, self.portal_created),
            kinds.MATRIX_SEED: on_done(SeedLedger, RoomSeed, self.room_seeded),
            kinds.MATRIX_PROFILE: on_done(GhostProfile, ProfileSet, self.ghost_profile_set),
            kinds.MATRIX_MEMBERSHIP: on_done(GhostMembership, SentAs, self.ghost_moved),
            kinds.RC_SHADOW: on_done(EnsureShadow, ShadowReady, self.shadow_ready),
            kinds.RC_SEND: on_done(RCSend, RCSent, self.rc_sent),
            kinds.RC_UPLOAD: on_done(RCUpload, RCSent, self.rc_sent),
            kinds.RC_UPDATE: on_done(RCUpdate, NoResult, self.rc_updated),
            kinds.RC_DELETE: on_done(RCDelete, NoResult, self.rc_deleted),
            kinds.RC_REACT: on_done(RCReact, NoResult, self.rc_reacted),
        }

    async def _disclose(
        self,
        uow: UnitOfWork,
        d: Disclosure | None,
        room_id: str,
        event_id: str | None,
        rc_message_id: str | None = None,
        *,
        refused: bool = False,
        minimised: bool = False,
    ) -> None:
        """Record the ``disclosure`` an action's payload describes, if it has one."""
        if d is None:
            return
        if refused:
            # A file that was refused did not cross: what did is a notice in the sender's
            # name saying so. It is recorded (erasure redacts it) without media or name.
            d = attrs.evolve(d, categories=int(Category.MESSAGE_TEXT), content=None)
        elif minimised:
            # Sent as its name and a link: the file itself did not cross (docs/partners.md).
            d = attrs.evolve(d, categories=int(Category(d.categories) & ~Category.MEDIA))
        await self._ledger.record(
            uow,
            BridgedItem(
                subject=person(d.subject),
                origin=Origin[d.origin],
                room_id=RoomID(room_id),
                sent_ms=now_ms(),
                categories=Category(d.categories),
                event_id=EventID(event_id) if event_id else None,
                rc_message_id=RCMessageID(rc_message_id or d.rc_message_id or "") or None,
                content=d.content,
                mentions=tuple(person(m) for m in d.mentions or ()),
            ),
        )

    async def _room_of(self, uow: UnitOfWork, portal_id: int) -> str | None:
        portal = await uow.bridging.portal_by_id(portal_id)
        return None if portal is None else portal.matrix_room_id

    async def matrix_sent(
        self, uow: UnitOfWork, run: Run[MatrixMessage], result: MatrixSent
    ) -> None:
        payload = run.payload
        record = payload.record
        persona = None if result.persona is None else result.persona.matrix_user_id
        if record is not None:
            await uow.bridging.add_message(
                BridgedMessage(
                    portal_id=payload.portal_id,
                    rc_message_id=record.rc_message_id,
                    part=record.part,
                    matrix_event_id=result.event_id,
                    origin=record.origin,
                    sender=record.sender,
                    sent_ms=record.sent_ms,
                    rc_thread_id=record.rc_thread_id,
                    persona=persona,
                )
            )
        reaction = payload.reaction
        if reaction is not None:
            await uow.bridging.add_reaction(
                result.event_id,
                reaction.rc_message_id,
                reaction.emoji,
                reaction.sender,
                reaction.origin,
                persona,
            )
        await self._disclose(
            uow,
            payload.disclosure,
            result.room_id,
            result.event_id,
            refused=result.refused is not None,
            minimised=result.minimised,
        )
        await self._personas_used(uow, result.persona, result.mentioned_personas)
        if result.ghost_joined:
            subject = None if payload.disclosure is None else payload.disclosure.subject
            await self._ghost_entered(uow, subject, result.room_id, result.persona)

    async def ghost_moved(self, uow: UnitOfWork, run: Run[GhostMembership], result: SentAs) -> None:
        """A persona that joined a room (``matrix.membership``) carries its name there."""
        if result.persona is not None:
            await self._personas_used(uow, result.persona, result.mentioned_personas)
            room_id = await self._room_of(uow, run.payload.portal_id)
            if room_id:
                await self._ghost_entered(uow, None, room_id, result.persona)

    async def _personas_used(
        self,
        uow: UnitOfWork,
        persona: StoredPersona | None,
        mentioned: tuple[StoredPersona, ...] | None,
    ) -> None:
        """Remember the personas a send named or was sent by (bridge.bridging.minimise)."""
        used = [persona] if persona is not None else []
        for data in used + list(mentioned or ()):
            await uow.personas.save(persona_of(data))

    async def _ghost_entered(
        self,
        uow: UnitOfWork,
        subject: Subject | None,
        room: str,
        persona: StoredPersona | None,
    ) -> None:
        """A ghost's join carries its name into the room (``m.room.member`` displayname).
        A persona's carries the persona's name, and no avatar: that is what the room got."""
        room_id = RoomID(room)
        if persona is not None:
            await self._ledger.record_profile(
                uow,
                ProfileChange(
                    subject=RCPerson(RCUserID(persona.rc_user_id)),
                    origin=Origin.ROCKETCHAT,
                    categories=Category.DISPLAY_NAME,
                    sent_ms=now_ms(),
                    rooms={room_id: None},
                    content=persona.display_name,
                ),
            )
            return
        ghost = await uow.bridging.ghost((subject and subject.rc_user_id) or "")
        if ghost is None or not ghost.display_name:
            return
        await self._ledger.record_profile(
            uow,
            ProfileChange(
                subject=RCPerson(RCUserID(ghost.rc_user_id), RCUsername(ghost.rc_username)),
                origin=Origin.ROCKETCHAT,
                categories=Category.DISPLAY_NAME,
                sent_ms=now_ms(),
                rooms={room_id: None},
                content=ghost.display_name,
            ),
        )

    async def matrix_redacted(
        self, uow: UnitOfWork, run: Run[MatrixRedact], _result: Redacted
    ) -> None:
        if run.payload.reaction:
            await uow.bridging.remove_reaction(run.payload.event_id)
        elif run.payload.rc_message_id:
            await uow.bridging.mark_deleted(run.payload.rc_message_id)

    async def portal_created(
        self, uow: UnitOfWork, run: Run[CreatePortal], result: PortalCreated
    ) -> None:
        payload = run.payload
        room_id = RoomID(result.room_id)
        await uow.bridging.set_portal_room(payload.portal_id, room_id)
        # A room the bridge creates starts with only its bot, on this server.
        await self._ledger.seed_room(
            uow,
            room_id,
            members=[SeedMember(UserID(result.creator), "join", result.created_ms)],
            visibility=payload.history_visibility,
            visibility_ts_ms=result.created_ms,
        )
        await self._ledger.bind_room(uow, room_id, RCRoomID(payload.rc_room_id))

    async def room_seeded(self, uow: UnitOfWork, run: Run[SeedLedger], result: RoomSeed) -> None:
        """An existing room linked as a portal: timelines from /members and /state."""
        room_id = RoomID(result.room_id)
        if result.encrypted:
            # Encrypted before the bot arrived: its m.room.encryption event never reached
            # the appservice stream, so the refusal happens here.
            await uow.bridging.set_portal_active(run.payload.portal_id, False)
            await uow.enqueue(
                kinds.notice(
                    "matrix",
                    keys.encrypted_notice_key(room_id),
                    room_id,
                    "Encrypted rooms are not supported by the Rocket.Chat bridge: this room "
                    "was not linked.",
                )
            )
            return
        await self._ledger.seed_room(
            uow,
            room_id,
            members=[SeedMember(UserID(m.user_id), m.membership, m.ts) for m in result.members],
            visibility=result.visibility,
            visibility_ts_ms=result.visibility_ts,
        )
        await self._ledger.bind_room(uow, room_id, RCRoomID(run.payload.rc_room_id))

    async def ghost_profile_set(
        self, uow: UnitOfWork, run: Run[GhostProfile], result: ProfileSet
    ) -> None:
        payload = run.payload
        ghost = await uow.bridging.ghost(payload.rc_user_id)
        await uow.bridging.set_ghost_profile(
            payload.rc_user_id,
            payload.display_name,
            result.avatar_url,
            avatar_hash=result.avatar_hash,
            checked_ms=now_ms(),
        )
        categories = Category(0)
        if ghost is None or ghost.display_name != payload.display_name:
            categories |= Category.DISPLAY_NAME
        if result.avatar_changed:
            categories |= Category.AVATAR
        if result.rooms and categories:
            # A profile reaches every server of every room the ghost is in.
            await self._ledger.record_profile(
                uow,
                ProfileChange(
                    subject=RCPerson(
                        RCUserID(payload.rc_user_id),
                        None if payload.rc_username is None else RCUsername(payload.rc_username),
                    ),
                    origin=Origin.ROCKETCHAT,
                    categories=categories,
                    sent_ms=now_ms(),
                    rooms={RoomID(r): None for r in result.rooms},
                    content=f"{payload.display_name}|{result.avatar_hash or ''}",
                ),
            )

    async def shadow_ready(
        self, uow: UnitOfWork, run: Run[EnsureShadow], result: ShadowReady
    ) -> None:
        await uow.bridging.save_shadow(
            Shadow(
                matrix_user_id=result.matrix_user_id,
                rc_user_id=result.rc_user_id,
                rc_username=result.rc_username,
                display_name=result.display_name,
                auth_token=result.auth_token,
            )
        )
        await self._ledger.link(
            uow,
            Origin.MATRIX,
            UserID(result.matrix_user_id),
            RCUserID(result.rc_user_id),
            RCUsername(result.rc_username),
        )
        portal_id = run.payload.portal_id
        room_id = None if portal_id is None else await self._room_of(uow, portal_id)
        if room_id:
            # The Matrix user's name now sits on the organisation's Rocket.Chat.
            await self._ledger.record_profile(
                uow,
                ProfileChange(
                    subject=MatrixPerson(UserID(result.matrix_user_id)),
                    origin=Origin.MATRIX,
                    categories=Category.DISPLAY_NAME,
                    sent_ms=now_ms(),
                    rooms={RoomID(room_id): None},
                    content=result.display_name,
                ),
            )

    async def rc_sent(self, uow: UnitOfWork, run: Run[RCPost], result: RCSent) -> None:
        payload = run.payload
        record = payload.record
        await uow.bridging.add_message(
            BridgedMessage(
                portal_id=payload.portal_id,
                rc_message_id=result.rc_message_id,
                part=0,
                matrix_event_id=record.matrix_event_id,
                origin="matrix",
                sender=payload.sender,
                sent_ms=record.sent_ms,
                rc_thread_id=record.rc_thread_id,
            )
        )
        await self._rc_disclosed(
            uow,
            payload.portal_id,
            payload.disclosure,
            record.matrix_event_id,
            result.rc_message_id,
            refused=result.refused is not None,
        )

    async def rc_updated(self, uow: UnitOfWork, run: Run[RCUpdate], _result: NoResult) -> None:
        p = run.payload
        await self._rc_disclosed(
            uow, p.portal_id, p.disclosure, p.record.matrix_event_id, p.rc_message_id
        )

    async def _rc_disclosed(
        self,
        uow: UnitOfWork,
        portal_id: int,
        disclosure: Disclosure | None,
        event_id: str,
        rc_message_id: str,
        *,
        refused: bool = False,
    ) -> None:
        room_id = await self._room_of(uow, portal_id)
        if room_id:
            await self._disclose(uow, disclosure, room_id, event_id, rc_message_id, refused=refused)

    async def rc_deleted(self, uow: UnitOfWork, run: Run[RCDelete], _result: NoResult) -> None:
        await uow.bridging.mark_deleted(run.payload.rc_message_id)

    async def rc_reacted(self, uow: UnitOfWork, run: Run[RCReact], _result: NoResult) -> None:
        p = run.payload
        if p.should_react:
            await uow.bridging.add_reaction(
                p.matrix_event_id, p.rc_message_id, p.emoji, p.sender, "matrix"
            )
            await self._rc_disclosed(
                uow, p.portal_id, p.disclosure, p.record.matrix_event_id, p.rc_message_id
            )
        else:
            await uow.bridging.remove_reaction(p.matrix_event_id)
