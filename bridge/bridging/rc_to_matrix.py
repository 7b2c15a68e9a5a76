"""Rocket.Chat → Matrix: turns stored Rocket.Chat events into Matrix outbox actions."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Literal, Protocol

import attrs
import emoji

from bridge.bridging.action_values import (
    Disclosure,
    GhostMembership,
    GhostProfile,
    MatrixRedact,
    MatrixSend,
    MatrixUpload,
    MessageRecord,
    ReactionRecord,
    Render,
    ResolvedUser,
    ResolveUser,
    Subject,
)
from bridge.bridging.attachments import attachment_parts, with_links
from bridge.bridging.formatting import MentionTarget
from bridge.bridging.identities import Identities
from bridge.bridging.matrix_content import Content, InReplyTo, Relation
from bridge.bridging.minimise import message_content, render_source
from bridge.ids import RCUserID, RCUsername
from bridge.pipeline import keys, kinds
from bridge.pipeline.actions import Run, new_action
from bridge.pipeline.contracts import Inbound
from bridge.pipeline.stages import RELAY, rc_message
from bridge.privacy.categories import Category
from bridge.rctypes import models as rc
from bridge.rctypes.events import (
    AvatarChanged,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    MessagesPruned,
    RCEvent,
    UserDeleted,
    UserRenamed,
)
from bridge.rctypes.links import FileLinks
from bridge.rctypes.models import RCMessage, RCUserRef, to_ms
from bridge.storage.bridging import BridgedMessage, Ghost, Portal
from bridge.storage.common import now_ms
from bridge.storage.database import UnitOfWork

log = logging.getLogger(__name__)

# Renames and new avatars are announced (Users:NameChanged, updateAvatar: bridge.bridging.
# rc_people), but not a real-name change while UI_Use_Real_Name is off, nor anything that
# happened while the bridge was away: a speaking ghost's profile is compared again at most
# this often.
PROFILE_REFRESH_MS = 60 * 60 * 1000
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_.\-]+)")
_JOINS = {rc.USER_JOINED, rc.USER_ADDED}
_LEAVES = {rc.USER_LEFT, rc.USER_REMOVED}


class CrossingGate(Protocol):
    """Privacy checks before a message crosses (bridge.commands.optout.RelayGate)."""

    async def rocketchat_message(
        self, uow: UnitOfWork, portal: Portal, user_id: str, username: str, message_id: str
    ) -> bool: ...

    async def opted_out(
        self, uow: UnitOfWork, side: Literal["matrix", "rocketchat"], user_id: str
    ) -> bool: ...


class RocketChatToMatrix:
    def __init__(
        self,
        ids: Identities,
        rc_bot_user_ids: set[str],
        max_body_chars: int,
        *,
        is_command: Callable[[str], bool] = lambda _: False,
        gate: CrossingGate | None = None,
        file_links: FileLinks | None = None,
    ) -> None:
        self._ids = ids
        # Which attachment links are files on our Rocket.Chat server; without it, none is.
        self._file_links = file_links
        self._max_body = max_body_chars
        # Commands to the bridge are answered by it (bridge.commands.rc_entry), never relayed.
        self._is_command = is_command
        # Opted-out senders stay on Rocket.Chat; everyone else gets the privacy notice once.
        self._gate = gate
        # The bridge's own Rocket.Chat account(s); filled in once logged in.
        self._bot_ids = rc_bot_user_ids

    async def __call__(self, uow: UnitOfWork, inbound: Inbound[RCEvent]) -> None:
        event = inbound.event
        if isinstance(event, UserDeleted | UserRenamed | AvatarChanged):
            return  # about a person, not a room: bridge.bridging.rc_people
        portal = await uow.bridging.portal_by_rc(event.room_id)
        if portal is None or not portal.active:
            return
        if isinstance(event, MessageDeleted):
            await self._deleted(uow, portal, event)
        elif isinstance(event, MessagesPruned):
            await self._pruned(uow, portal, event)
        elif isinstance(event, MessageEdited):
            await self._edited(uow, portal, event.message)
        elif isinstance(event, MessagePosted):
            await self._posted(uow, portal, event.message)

    async def _is_echo(self, uow: UnitOfWork, user: RCUserRef | None) -> bool:
        """A message by the bridge's account or a shadow user came from Matrix."""
        if user is None:
            return False
        if user.id in self._bot_ids:
            return True
        return await uow.bridging.shadow_by_rc(user.id) is not None

    async def _posted(self, uow: UnitOfWork, portal: Portal, message: RCMessage) -> None:
        existing = await uow.bridging.messages_by_rc(message.id)
        if existing:
            # The stream is an upsert stream: a known id means reactions or previews changed,
            # or a prune took its files away.
            await self._sync_reactions(uow, portal, message, existing[0])
            await self._drop_removed_files(uow, portal, message, existing)
            return
        if message.is_system:
            await self._system(uow, portal, message)  # judged by whom it is about
            return
        if await self._is_echo(uow, message.user):
            return
        if self._is_command(message.text):
            return
        if len(message.text) > self._max_body:
            await self._refuse_long(uow, portal, message)
            return
        if self._gate is not None and not await self._gate.rocketchat_message(
            uow, portal, message.user.id, message.user.username, message.id
        ):
            return
        sender = await self._ensure_ghost(uow, portal, message.user)
        files, links = attachment_parts(message, self._file_links)
        text = with_links(message.text, links, self._max_body)
        content, mentions, render = await self._content(uow, text)
        if message.thread_id:
            root = await uow.bridging.messages_by_rc(message.thread_id)
            if root:
                content = attrs.evolve(
                    content, relates_to=_thread_relation(root[0].matrix_event_id)
                )
        if text or not files:
            disclosure = _disclosure(message, Category.MESSAGE_TEXT, text, mentions)
            await self._send(uow, portal, message, sender, content, 0, disclosure, render)
        for part, attachment in enumerate(files, start=1):
            disclosure = _disclosure(
                message, Category.MEDIA | Category.FILE_NAME, attachment.body or "", []
            )
            await self._send(
                uow, portal, message, sender, attachment, part, disclosure, upload=True
            )

    async def _refuse_long(self, uow: UnitOfWork, portal: Portal, message: RCMessage) -> None:
        """Too long to relay: the bridge's account says so in the Rocket.Chat room."""
        await uow.enqueue(
            kinds.notice(
                "rocketchat",
                keys.too_long_notice_key(message.id),
                portal.rc_room_id,
                f"A message from @{message.user.username} was not bridged to Matrix: it has "
                f"{len(message.text)} characters, more than the limit of {self._max_body}.",
            )
        )

    async def _send(
        self,
        uow: UnitOfWork,
        portal: Portal,
        message: RCMessage,
        sender: str,
        content: Content,
        part: int,
        disclosure: Disclosure,
        render: Render | None = None,
        *,
        upload: bool = False,
    ) -> None:
        trace = rc_message(message.id)
        uow.after_commit(lambda: RELAY.mark(trace, "handled"))
        record = MessageRecord(
            message.id, part, "rc", message.user.id, to_ms(message.ts), message.thread_id
        )
        # A room under policy minimise renders mentions again, with personas.
        send = (MatrixUpload if upload else MatrixSend)(
            portal.id, sender, "m.room.message", content, record, disclosure, render=render
        )
        await uow.enqueue(
            new_action(
                send, key=keys.rc_message_key(message.id, part), queue=keys.matrix_queue(portal.id)
            )
        )

    async def _content(
        self, uow: UnitOfWork, text: str
    ) -> tuple[Content, list[Subject], Render | None]:
        """The Matrix content of ``text``, the people it mentions (ledger subjects), and
        what to render it from again in a room under policy minimise."""
        targets: dict[str, MentionTarget] = {}
        subjects: list[Subject] = []
        people: dict[str, str] = {}
        for username in sorted(set(_MENTION.findall(text))):
            found = await self._mention_target(uow, username)
            if found is not None:
                targets[username], subject = found
                subjects.append(subject)
                if subject.rc_user_id is not None:
                    people[username] = subject.rc_user_id
        content = message_content(text, targets.get)
        return content, subjects, render_source(text, targets, people)

    async def _mention_target(
        self, uow: UnitOfWork, username: str
    ) -> tuple[MentionTarget, Subject] | None:
        shadow = await uow.bridging.shadow_by_username(username)
        if shadow is not None:
            target = MentionTarget(shadow.matrix_user_id, shadow.display_name or username)
            return target, Subject(matrix_user_id=shadow.matrix_user_id)
        ghost = await uow.bridging.ghost_by_username(username)
        if ghost is not None:
            target = MentionTarget(ghost.matrix_user_id, ghost.display_name or username)
            return target, Subject(rc_user_id=ghost.rc_user_id, rc_username=ghost.rc_username)
        return None

    async def _silenced(self, uow: UnitOfWork, rc_user_id: str) -> bool:
        return self._gate is not None and await self._gate.opted_out(uow, "rocketchat", rc_user_id)

    async def _ensure_ghost(self, uow: UnitOfWork, portal: Portal, user: RCUserRef) -> str:
        ghost = await uow.bridging.ghost(user.id)
        if ghost is not None:
            user_id = ghost.matrix_user_id
        else:
            user_id = self._ids.ghost_user_id(user.username)
            if self._ids.is_persona(user_id) or await uow.bridging.ghost_by_matrix(user_id):
                user_id = self._ids.ghost_user_id(user.username, user.id)  # name taken
        if ghost is None or ghost.rc_username != user.username:
            await uow.bridging.upsert_ghost(user.id, user.username, user_id)
        name = user.name or user.username
        checked = None if ghost is None else ghost.profile_checked_ms
        stale = checked is None or now_ms() - checked > PROFILE_REFRESH_MS
        if ghost is None or ghost.display_name != name or stale:
            # In the room's queue, so the profile is set before the ghost's first message.
            # The key names the profile state it starts from: one check per state.
            profile = GhostProfile(
                user_id=user_id,
                rc_user_id=user.id,
                rc_username=user.username,
                display_name=name,
                portal_id=portal.id,
                avatar_url=None if ghost is None else ghost.avatar_url,
                avatar_hash=None if ghost is None else ghost.avatar_hash,
            )
            await uow.enqueue(
                new_action(
                    profile,
                    key=keys.ghost_profile_key(user.id, name, checked),
                    queue=keys.matrix_queue(portal.id),
                )
            )
        return user_id

    async def _system(self, uow: UnitOfWork, portal: Portal, message: RCMessage) -> None:
        if message.type not in _JOINS | _LEAVES:
            return
        # "au"/"ru" name the added or removed user in ``msg``; "uj"/"ul" are by the user.
        membership = "join" if message.type in _JOINS else "leave"
        subject = message.user
        if message.type in (rc.USER_ADDED, rc.USER_REMOVED):
            ghost = await uow.bridging.ghost_by_username(message.text)
            if ghost is None:
                # The event names the user only by username; learn who it is first.
                await uow.enqueue(
                    new_action(
                        ResolveUser(portal.id, message.text, membership, message.id),
                        key=keys.rc_member_key(message.id),
                        queue=keys.matrix_queue(portal.id),
                    )
                )
                return
            subject = RCUserRef(RCUserID(ghost.rc_user_id), RCUsername(ghost.rc_username))
        await self.membership(uow, portal, subject, membership, message.id)

    async def user_resolved(
        self, uow: UnitOfWork, run: Run[ResolveUser], result: ResolvedUser
    ) -> None:
        """Outbox hook of RC_RESOLVE_USER: now the added/removed user's ghost can move."""
        portal = await uow.bridging.portal_by_id(run.payload.portal_id)
        if portal is None:
            return
        subject = RCUserRef(RCUserID(result.rc_user_id), RCUsername(result.username), result.name)
        await self.membership(uow, portal, subject, run.payload.membership, run.payload.message_id)

    async def membership(
        self, uow: UnitOfWork, portal: Portal, subject: RCUserRef, membership: str, key: str
    ) -> None:
        """Move ``subject``'s ghost into or out of the portal room."""
        if await self._is_echo(uow, subject):
            return
        if await self._silenced(uow, subject.id):
            # Nothing of an opted-out person crosses: no join, no profile. A ghost that
            # is already in the room still leaves.
            ghost = await uow.bridging.ghost(subject.id)
            if membership == "join" or ghost is None:
                return
            sender = ghost.matrix_user_id
        else:
            sender = await self._ensure_ghost(uow, portal, subject)
        await uow.enqueue(
            new_action(
                GhostMembership(portal.id, sender, membership),
                key=keys.rc_member_ghost_key(key),
                queue=keys.matrix_queue(portal.id),
            )
        )

    async def _edited(self, uow: UnitOfWork, portal: Portal, message: RCMessage) -> None:
        parts = await uow.bridging.messages_by_rc(message.id)
        if not parts:
            await self._posted(uow, portal, message)  # an edit of a message we never saw
            return
        # Rocket.Chat keeps ``editedAt`` and streams the whole message again after a reaction
        # (apps/meteor/app/reactions/server/setReaction.ts): an edited message seen again may
        # carry only a reaction change, so reactions are compared on every delivery. Whether
        # the text changed is told by the edit time: the replacement's idempotency key holds
        # it, so the same edit seen again enqueues nothing.
        await self._sync_reactions(uow, portal, message, parts[0])
        await self._drop_removed_files(uow, portal, message, parts)
        if parts[0].origin != "rc" or await self._is_echo(uow, message.edited_by):
            return
        if self._gate is not None and not await self._gate.rocketchat_message(
            uow, portal, message.user.id, message.user.username, f"{message.id}:edit"
        ):
            return
        new, mentions, render = await self._content(uow, message.text)
        content = Content(
            msgtype="m.text",
            body=f"* {new.body}",
            new_content=new,
            relates_to=Relation("m.replace", parts[0].matrix_event_id),
        )
        edited_ms = to_ms(message.edited_at or message.updated_at)
        ghost = await uow.bridging.ghost(parts[0].sender)
        if ghost is None:
            return
        edit = MatrixSend(
            portal.id,
            # A replacement comes from the sender of what it replaces.
            parts[0].persona or ghost.matrix_user_id,
            "m.room.message",
            content,
            None,
            _disclosure(message, Category.MESSAGE_TEXT | Category.EDIT, message.text, mentions),
            render=render,
        )
        await uow.enqueue(
            new_action(
                edit,
                key=keys.rc_edit_key(message.id, edited_ms),
                queue=keys.matrix_queue(portal.id),
            )
        )

    async def _deleted(self, uow: UnitOfWork, portal: Portal, event: MessageDeleted) -> None:
        for part in await uow.bridging.messages_by_rc(event.message_id):
            await self._redact(uow, portal, part, "deleted on Rocket.Chat")

    async def _pruned(self, uow: UnitOfWork, portal: Portal, event: MessagesPruned) -> None:
        """A bulk deletion names a time range and filters, not its messages, and not all
        of its filters (``filesOnly``, ``ignoreThreads`` are missing; Rocket.Chat
        apps/meteor/app/lib/server/functions/cleanRoomHistory.ts): guessing from it would
        delete copies Rocket.Chat kept. Only the ids it names (a prune with a ``limit``)
        are acted on here. Otherwise the connector catches up on the room at once
        (bridge.rocketchat.realtime), and the server's trash names each removed message:
        exactly those copies are deleted, as single deletions."""
        if event.ids is None:
            return
        for message_id in event.ids:
            for part in await uow.bridging.messages_by_rc(message_id):
                await self._redact(uow, portal, part, "pruned on Rocket.Chat")

    async def _drop_removed_files(
        self, uow: UnitOfWork, portal: Portal, message: RCMessage, parts: list[BridgedMessage]
    ) -> None:
        """A prune with ``filesOnly`` keeps the message and removes its files: the message
        is saved again without ``file``/``files``, its attachments replaced by the text
        "File removed by prune" (Rocket.Chat apps/meteor/app/lib/server/functions/
        cleanRoomHistory.ts). The copies of files it no longer has are deleted on Matrix."""
        if parts[0].origin != "rc" or message.files:
            return
        for part in parts:
            if part.part >= 1:  # parts 1… are the message's files (_posted)
                await self._redact(uow, portal, part, "file removed on Rocket.Chat")

    async def _redact(
        self, uow: UnitOfWork, portal: Portal, part: BridgedMessage, reason: str
    ) -> None:
        if part.deleted:
            return  # already gone on Matrix (or this delete is the echo of a redaction)
        if part.origin == "rc":
            ghost = await uow.bridging.ghost(part.sender)
            sender = part.persona or (ghost.matrix_user_id if ghost else self._ids.bot)
        else:
            sender = self._ids.bot  # a Matrix user's own event: the bot has the power
        await uow.enqueue(
            new_action(
                MatrixRedact(portal.id, sender, part.matrix_event_id, reason, part.rc_message_id),
                key=keys.rc_delete_key(part.matrix_event_id),
                queue=keys.matrix_queue(portal.id),
            )
        )

    async def _sync_reactions(
        self, uow: UnitOfWork, portal: Portal, message: RCMessage, target: BridgedMessage
    ) -> None:
        bridged = await uow.bridging.reactions_for(message.id)
        known = {(e, s) for _, e, s, _ in bridged}
        present: set[tuple[str, str]] = set()
        for shortcode, usernames in message.reactions.items():
            for username in usernames:
                present.add((shortcode, username))
                if (shortcode, username) in known:
                    continue
                if await uow.bridging.shadow_by_username(username) is not None:
                    continue  # a Matrix user's reaction, bridged from there
                ghost = await uow.bridging.ghost_by_username(username)
                if ghost is None or await self._silenced(uow, ghost.rc_user_id):
                    continue
                await self._react(uow, portal, message, target, shortcode, ghost, username)
        for event_id, shortcode, who, origin in bridged:
            if origin == "rc" and (shortcode, who) not in present:
                await self._unreact(uow, portal, event_id, who)

    async def _react(
        self,
        uow: UnitOfWork,
        portal: Portal,
        message: RCMessage,
        target: BridgedMessage,
        shortcode: str,
        ghost: Ghost,
        username: str,
    ) -> None:
        key = emoji.emojize(shortcode, language="alias")
        sender, ghost_rc_id = ghost.matrix_user_id, ghost.rc_user_id
        relates = Relation("m.annotation", target.matrix_event_id, key)
        disclosure = Disclosure(
            Subject(rc_user_id=ghost_rc_id, rc_username=username),
            "ROCKETCHAT",
            int(Category.REACTION),
            shortcode,
            rc_message_id=message.id,
        )
        react = MatrixSend(
            portal.id,
            sender,
            "m.reaction",
            Content(relates_to=relates),
            None,
            disclosure,
            ReactionRecord(message.id, shortcode, username, "rc"),
        )
        await uow.enqueue(
            new_action(
                react,
                key=keys.rc_react_key(message.id, shortcode, username, to_ms(message.updated_at)),
                queue=keys.matrix_queue(portal.id),
            )
        )

    async def _unreact(self, uow: UnitOfWork, portal: Portal, event_id: str, username: str) -> None:
        ghost = await uow.bridging.ghost_by_username(username)
        persona = await uow.bridging.reaction_persona(event_id)
        sender = persona or (ghost.matrix_user_id if ghost else self._ids.bot)
        unreact = MatrixRedact(
            portal.id, sender, event_id, "reaction removed on Rocket.Chat", reaction=True
        )
        await uow.enqueue(
            new_action(
                unreact, key=keys.rc_unreact_key(event_id), queue=keys.matrix_queue(portal.id)
            )
        )


def _disclosure(
    message: RCMessage, categories: Category, content: str, mentions: list[Subject]
) -> Disclosure:
    """What the ledger records once the send is done (see records.Records)."""
    return Disclosure(
        Subject(rc_user_id=message.user.id, rc_username=message.user.username),
        "ROCKETCHAT",
        int(categories),
        content,
        rc_message_id=message.id,
        mentions=tuple(mentions),
    )


def _thread_relation(root_event_id: str) -> Relation:
    # Spec "Threading": clients without thread support see a reply to the root.
    return Relation(
        "m.thread", root_event_id, is_falling_back=True, in_reply_to=InReplyTo(root_event_id)
    )
