"""Matrix → Rocket.Chat: turns stored Matrix events into Rocket.Chat outbox actions."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Literal, Protocol
from urllib.parse import unquote

import emoji
from mautrix.types import (
    Event,
    EventType,
    Format,
    MediaMessageEventContent,
    Membership,
    MemberStateEventContent,
    MessageEvent,
    MessageType,
    ReactionEvent,
    RedactionEvent,
    RelatesTo,
    RelationType,
    StateEvent,
    TextMessageEventContent,
)

from bridge.bridging import redactions
from bridge.bridging.action_values import (
    Disclosure,
    EnsureShadow,
    EventRef,
    PostRecord,
    RCDelete,
    RCReact,
    RCSend,
    RCUpdate,
    RCUpload,
    ShadowJoin,
    ShadowKick,
    Subject,
)
from bridge.bridging.formatting import MATRIX_TO, matrix_to_rc, strip_reply_fallback
from bridge.bridging.identities import Identities
from bridge.pipeline import keys, kinds
from bridge.pipeline.actions import new_action
from bridge.pipeline.contracts import Inbound
from bridge.privacy.categories import Category
from bridge.storage.bridging import BridgedMessage, Portal
from bridge.storage.database import UnitOfWork

log = logging.getLogger(__name__)

_TEXT_TYPES = {MessageType.TEXT, MessageType.NOTICE, MessageType.EMOTE}
_MEDIA_TYPES = {MessageType.IMAGE, MessageType.FILE, MessageType.VIDEO, MessageType.AUDIO}
_PILL = re.compile(re.escape(MATRIX_TO) + r"(@[^\"'?<>\s]+)")


class CrossingGate(Protocol):
    """Privacy checks before a message crosses (bridge.commands.optout.RelayGate)."""

    async def matrix_message(
        self, uow: UnitOfWork, portal: Portal, sender: str, event_id: str
    ) -> bool: ...

    async def opted_out(
        self, uow: UnitOfWork, side: Literal["matrix", "rocketchat"], user_id: str
    ) -> bool: ...


class MatrixToRocketChat:
    def __init__(
        self,
        ids: Identities,
        is_command: Callable[[str], bool],
        max_body_chars: int,
        *,
        alias_mode: bool = False,
        gate: CrossingGate | None = None,
    ) -> None:
        self._ids = ids
        # Opted-out senders stay on Matrix; everyone else gets the privacy notice once.
        self._gate = gate
        # In alias mode the bridge's own account posts for everyone: no shadow accounts.
        self._alias_mode = alias_mode
        self._max_body = max_body_chars
        # Commands to the bridge are answered by it, never relayed into the room.
        self._is_command = is_command

    async def __call__(self, uow: UnitOfWork, inbound: Inbound[Event]) -> None:
        event = inbound.event
        if not isinstance(event, MessageEvent | RedactionEvent | ReactionEvent | StateEvent):
            return
        portal = await uow.bridging.portal_by_matrix(event.room_id)
        if portal is None or not portal.active:
            return
        if event.type == EventType.ROOM_ENCRYPTION:
            await self._refuse_encryption(uow, portal, event.room_id)
            return
        if self._ids.is_bridge_user(event.sender):
            return  # our own ghosts' and bot's events: never relay back (echo suppression)
        if isinstance(event, MessageEvent):
            await self._message(uow, portal, event)
        elif isinstance(event, RedactionEvent):
            await self._redaction(uow, portal, event, event.redacts)
        elif isinstance(event, ReactionEvent):
            await self._reaction(uow, portal, event)
        elif isinstance(event.content, MemberStateEventContent):
            await self._membership(uow, portal, event, event.content)

    async def _refuse_encryption(self, uow: UnitOfWork, portal: Portal, room_id: str) -> None:
        """The bridge cannot read encrypted events, so it stops rather than relay nothing."""
        await uow.bridging.set_portal_active(portal.id, False)
        log.warning("Portal %s became encrypted; bridging stopped", portal.id)
        await uow.enqueue(
            kinds.notice(
                "matrix",
                keys.encrypted_notice_key(room_id),
                room_id,
                "Encrypted rooms are not supported by the Rocket.Chat bridge: bridging of this "
                "room has stopped. Messages sent from now on stay on Matrix.",
            )
        )

    async def _refuse_long(self, uow: UnitOfWork, event: MessageEvent, length: int) -> None:
        """Too long to relay: say so in the room instead of failing silently."""
        await uow.enqueue(
            kinds.notice(
                "matrix",
                keys.too_long_notice_key(event.event_id),
                event.room_id,
                f"A message from {event.sender} was not bridged to Rocket.Chat: it has "
                f"{length} characters, more than the limit of {self._max_body}.",
            )
        )

    async def _membership(
        self, uow: UnitOfWork, portal: Portal, event: StateEvent, content: MemberStateEventContent
    ) -> None:
        """Joins give the user a shadow in the Rocket.Chat room; leaves and kicks remove it."""
        user_id, membership = event.state_key, content.membership
        if self._ids.is_bridge_user(user_id):
            return
        if membership == Membership.JOIN and user_id == event.sender:
            if await self._silenced(uow, user_id):
                return  # an opted-out person's name and presence stay on Matrix
            # Keyed on the join event: someone who left and came back is invited again.
            await self._ensure_shadow(uow, portal, user_id, join_key=event.event_id)
        elif (
            membership in (Membership.LEAVE, Membership.BAN)
            and await uow.bridging.shadow(user_id) is not None
        ):
            await uow.enqueue(
                new_action(
                    ShadowKick(user_id, portal.rc_room_id, portal.rc_room_type),
                    key=keys.rc_kick_key(event.event_id),
                    queue=keys.rc_queue(portal.rc_room_id),
                )
            )

    async def _message(self, uow: UnitOfWork, portal: Portal, event: MessageEvent) -> None:
        content = event.content
        # Any other msgtype (m.location, or one of no spec) mautrix reads untyped: not relayed.
        if not isinstance(content, TextMessageEventContent):
            return
        relates = content.relates_to
        if relates.rel_type == RelationType.REPLACE:
            # mautrix reads an edit as its new content (``m.new_content``), validated.
            await self._edit(uow, portal, event, content, relates)
            return
        msgtype = content.msgtype
        if msgtype not in _TEXT_TYPES | _MEDIA_TYPES:
            return
        if msgtype != MessageType.NOTICE and self._is_command(content.body):
            return
        if len(content.body) > self._max_body:
            await self._refuse_long(uow, event, len(content.body))
            return
        if not await self._may_cross(uow, portal, event):
            return
        await self._ensure_shadow(uow, portal, event.sender)
        thread_id = await self._thread_of(uow, relates)
        post = (
            portal.id,
            portal.rc_room_id,
            self._ids.rc_message_id(event.event_id),
            event.sender,
            thread_id,
            PostRecord(event.event_id, event.timestamp, thread_id),
        )
        value: RCSend | RCUpload
        if isinstance(content, MediaMessageEventContent) and msgtype in _MEDIA_TYPES:
            # Validated (bridge.matrix.event_validation): strings, and an int size.
            info = content.info
            filename = content.filename or content.body
            value = RCUpload(
                *post,
                filename,
                content.url,
                None if info is None else info.mimetype,
                None if info is None else info.size,
                disclosure=_disclosure(
                    event.sender, Category.MEDIA | Category.FILE_NAME, filename, []
                ),
            )
        elif msgtype in _TEXT_TYPES:
            text, mentions = await self._text(uow, content)
            value = RCSend(
                *post,
                text,
                disclosure=_disclosure(event.sender, Category.MESSAGE_TEXT, content.body, mentions),
            )
        else:
            return
        await uow.enqueue(
            new_action(
                value,
                key=keys.mx_message_key(event.event_id),
                queue=keys.rc_queue(portal.rc_room_id),
            )
        )

    async def _may_cross(self, uow: UnitOfWork, portal: Portal, event: MessageEvent) -> bool:
        if self._gate is None:
            return True
        return await self._gate.matrix_message(uow, portal, event.sender, event.event_id)

    async def _silenced(self, uow: UnitOfWork, user_id: str) -> bool:
        return self._gate is not None and await self._gate.opted_out(uow, "matrix", user_id)

    async def _text(
        self, uow: UnitOfWork, content: TextMessageEventContent
    ) -> tuple[str, list[Subject]]:
        """Rocket.Chat markdown for ``content``, and the people it mentions."""
        formatted: str | None = content.formatted_body
        if content.format != Format.HTML:
            formatted = None
        usernames: dict[str, str] = {}
        mentions: list[Subject] = []
        unnamed: set[str] = set()
        for quoted in sorted(set(_PILL.findall(formatted or ""))):
            user_id = unquote(quoted)
            if await self._silenced(uow, user_id):
                unnamed.add(user_id)  # their name does not cross, nor is it disclosed
                continue
            username = await self._rc_username_of(uow, user_id)
            if username:
                usernames[user_id] = username
            ghost = await uow.bridging.ghost_by_matrix(user_id)
            mentions.append(
                Subject(rc_user_id=ghost.rc_user_id, rc_username=ghost.rc_username)
                if ghost
                else Subject(matrix_user_id=user_id)
            )
        body = content.body
        if content.relates_to.in_reply_to is not None:
            # The HTML fallback (<mx-reply>) is dropped by the converter; the plain one here.
            body = strip_reply_fallback(body)
        text = matrix_to_rc(body, formatted, usernames.get, frozenset(unnamed))
        if content.msgtype == MessageType.EMOTE:
            text = f"_{text}_"
        return text, mentions

    async def _rc_username_of(self, uow: UnitOfWork, user_id: str) -> str | None:
        ghost = await uow.bridging.ghost_by_matrix(user_id)
        if ghost is not None:
            return ghost.rc_username
        shadow = await uow.bridging.shadow(user_id)
        return None if shadow is None else shadow.rc_username

    async def _thread_of(self, uow: UnitOfWork, relates: RelatesTo) -> str | None:
        """Rocket.Chat threads (``tmid``) from ``m.thread``, or from a plain reply."""
        root: str | None = None
        if relates.rel_type == RelationType.THREAD:
            root = relates.event_id
        if root is None and relates.in_reply_to is not None:
            root = relates.in_reply_to.event_id
        if root is None:
            return None
        target = await uow.bridging.message_by_event(root)
        if target is None:
            return None
        # Replies to a thread message belong to that message's thread.
        return target.rc_thread_id or target.rc_message_id

    async def _edit(
        self,
        uow: UnitOfWork,
        portal: Portal,
        event: MessageEvent,
        new_content: TextMessageEventContent,
        relates: RelatesTo,
    ) -> None:
        original = await uow.bridging.message_by_event(str(relates.event_id))
        if original is None:
            return
        if not await self._may_cross(uow, portal, event):
            return
        if original.sender != event.sender:
            return  # only the author's edits count (spec: "Event replacements", validity)
        text, mentions = await self._text(uow, new_content)
        edit = RCUpdate(
            portal.id,
            portal.rc_room_id,
            original.rc_message_id,
            event.sender,
            text,
            EventRef(event.event_id),
            _disclosure(
                event.sender, Category.MESSAGE_TEXT | Category.EDIT, new_content.body, mentions
            ),
        )
        await uow.enqueue(
            new_action(
                edit,
                key=keys.mx_edit_key(event.event_id),
                queue=keys.rc_queue(portal.rc_room_id),
            )
        )

    async def _redaction(
        self, uow: UnitOfWork, portal: Portal, event: RedactionEvent, redacts: str
    ) -> None:
        reaction = await uow.bridging.reaction(redacts)
        if reaction is not None:
            rc_message_id, shortcode, reacter = reaction
            if reacter != event.sender:
                # Rocket.Chat removes only the caller's own reaction (redactions.py).
                await redactions.refuse_reaction(
                    uow, portal.matrix_room_id or "", event.sender, redacts
                )
                return
            await self._react_action(
                uow, portal, event, rc_message_id, shortcode, should_react=False, redacts=redacts
            )
            return
        target = await uow.bridging.message_by_event(redacts)
        if target is None or target.deleted or portal.matrix_room_id is None:
            return
        own = _own(target, event.sender)
        # The author deletes their own; a moderator's redaction uses the bot.
        delete = RCDelete(portal.rc_room_id, target.rc_message_id, own, event.sender)
        queue = keys.rc_queue(portal.rc_room_id)
        if own:
            await uow.enqueue(new_action(delete, key=keys.mx_redact_key(redacts), queue=queue))
            return
        # Anyone else's redaction deletes only with the power to redact in the room,
        # asked of the homeserver first (bridge/bridging/redactions.py).
        await uow.enqueue(
            redactions.check_action(portal.matrix_room_id, queue, redacts, event.sender, delete)
        )

    async def _reaction(self, uow: UnitOfWork, portal: Portal, event: ReactionEvent) -> None:
        relates = event.content.relates_to
        if relates.rel_type != RelationType.ANNOTATION:
            return
        key, target_id = relates.key, relates.event_id
        if key is None or target_id is None:
            return
        target = await uow.bridging.message_by_event(target_id)
        shortcode = emoji.demojize(key, language="alias")
        if target is None or not re.fullmatch(r":[\w+-]+:", shortcode):
            return  # Rocket.Chat reacts with named emoji only
        if await self._silenced(uow, event.sender):
            return
        await self._ensure_shadow(uow, portal, event.sender)
        await self._react_action(uow, portal, event, target.rc_message_id, shortcode, True, None)

    async def _react_action(
        self,
        uow: UnitOfWork,
        portal: Portal,
        event: RedactionEvent | ReactionEvent,
        rc_message_id: str,
        shortcode: str,
        should_react: bool,
        redacts: str | None,
    ) -> None:
        react = RCReact(
            portal.id,
            rc_message_id,
            shortcode,
            event.sender,
            should_react,
            redacts or event.event_id,
            EventRef(event.event_id),
            _disclosure(event.sender, Category.REACTION, shortcode, []) if should_react else None,
        )
        await uow.enqueue(
            new_action(
                react,
                key=keys.mx_react_key(event.event_id),
                queue=keys.rc_queue(portal.rc_room_id),
            )
        )

    async def _ensure_shadow(
        self, uow: UnitOfWork, portal: Portal, user_id: str, join_key: str = ""
    ) -> None:
        """Queue the shadow account and its room membership ahead of what it will post."""
        if self._alias_mode:
            return
        queue = keys.rc_queue(portal.rc_room_id)
        if await uow.bridging.shadow(user_id) is None:
            await uow.enqueue(
                new_action(
                    EnsureShadow(user_id, portal.id), key=keys.shadow_key(user_id), queue=queue
                )
            )
        await uow.enqueue(
            new_action(
                ShadowJoin(user_id, portal.rc_room_id, portal.rc_room_type),
                key=keys.rc_join_key(user_id, portal.rc_room_id, join_key),
                queue=queue,
            )
        )


def _disclosure(
    sender: str, categories: Category, content: str, mentions: list[Subject]
) -> Disclosure:
    """What the ledger records once the send is done (see records.Records)."""
    subject = Subject(matrix_user_id=sender)
    return Disclosure(subject, "MATRIX", int(categories), content, mentions=tuple(mentions))


def _own(target: BridgedMessage, redacter: str) -> bool:
    return target.origin == "matrix" and target.sender == redacter
