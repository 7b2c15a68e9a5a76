"""The relays' privacy gate: opted-out people are not bridged, and everyone gets the
privacy notice once, before their data first crosses.

- **Opt-out** (``!privacy optout``): nothing of the person crosses: their messages and
  edits stay on their side (the other side's room sees "A message was not bridged: its
  author opted out …"), and their reactions, profile (display name, avatar) and joins
  are dropped without a note. The note does not
  name the person: naming them would carry to the other servers exactly the personal data
  (their identity, and the fact they wrote) that they asked not to be sent there (GDPR
  Art. 21, and data minimisation, Art. 5(1)(c)). Their own side's room already shows who
  wrote.
- **Notice**: GDPR Art. 13 asks for information *at the time* data is obtained. Before a
  person's first bridged message, the bridge DMs them the configured notice (Rocket.Chat:
  from the bridge's account; Matrix: from the bot). The notice action is queued in the
  same outbox queue as that message, ahead of it, so it is sent before the message
  crosses; a table makes it once per person. Every portal counts as crossing: with shared
  history, servers that join later read earlier messages.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from bridge.commands import texts
from bridge.commands.context import Side
from bridge.commands.sides import Sides
from bridge.pipeline import keys, kinds
from bridge.pipeline.actions import DoneHooks, Executors, Run, action, executor, new_action, on_done
from bridge.privacy.pseudonyms import person_name
from bridge.privacy.room_recipients import recipients_text, room_recipients
from bridge.storage.bridging import Portal
from bridge.storage.database import UnitOfWork

FIRST_NOTICE = "privacy.first_notice"
NOT_BRIDGED = (
    "A message was not bridged: its author opted out of having their messages copied to "
    "other servers."
)


@action(FIRST_NOTICE)
@attrs.frozen
class FirstNotice:
    """The privacy notice to a person, before their first message crosses."""

    side: str  # "matrix" or "rocketchat"
    user_id: str
    username: str | None = None  # a Rocket.Chat DM is opened by username
    recipients: str | None = None  # who receives the room, as the register names them


@attrs.frozen
class FirstNoticeSent:
    room_id: str


class RelayGate:
    def __init__(
        self,
        sides: Sides | None,
        notice_text: str | None,
        notice_url: str | None,
        on_new_dm: Callable[[str, str], None] | None = None,
        local_server: str | None = None,
    ) -> None:
        self._sides = sides
        self._text = texts.first_notice(notice_text, notice_url)
        self._on_new_dm = on_new_dm
        self._local = local_server

    async def rocketchat_message(
        self, uow: UnitOfWork, portal: Portal, user_id: str, username: str, message_id: str
    ) -> bool:
        """Whether a Rocket.Chat user's message may cross to Matrix (called by the relay)."""
        person = f"rocketchat:{user_id}"
        if await uow.commands.opted_out(await person_name(uow, person)):
            if portal.matrix_room_id is not None:
                await uow.enqueue(
                    kinds.notice(
                        "matrix", keys.optout_rc_key(message_id), portal.matrix_room_id, NOT_BRIDGED
                    )
                )
            return False
        await self._notice_once(
            uow, "rocketchat", user_id, username, keys.matrix_queue(portal.id), portal
        )
        return True

    async def matrix_message(
        self, uow: UnitOfWork, portal: Portal, sender: str, event_id: str
    ) -> bool:
        """Whether a Matrix user's message may cross to Rocket.Chat (called by the relay)."""
        person = f"matrix:{sender}"
        if await uow.commands.opted_out(await person_name(uow, person)):
            await uow.enqueue(
                kinds.notice(
                    "rocketchat", keys.optout_matrix_key(event_id), portal.rc_room_id, NOT_BRIDGED
                )
            )
            return False
        await self._notice_once(
            uow, "matrix", sender, None, keys.rc_queue(portal.rc_room_id), portal
        )
        return True

    async def opted_out(self, uow: UnitOfWork, side: Side, user_id: str) -> bool:
        """Whether nothing of this person may cross: reactions, profile and presence are
        dropped silently (a note for each would be noise; messages and edits get one)."""
        return await uow.commands.opted_out(await person_name(uow, f"{side}:{user_id}"))

    async def _notice_once(
        self,
        uow: UnitOfWork,
        side: Side,
        user_id: str,
        username: str | None,
        queue: str,
        portal: Portal | None = None,
    ) -> None:
        person = f"{side}:{user_id}"
        if not await uow.commands.mark_notice_shown(await person_name(uow, person)):
            return
        # Who receives the room now, as the register names them (docs/partners.md), and
        # the way out, offered at the moment it matters (GDPR Art. 13(1)(e), 21).
        recipients = texts.NO_RECIPIENTS_KNOWN
        if portal is not None and portal.matrix_room_id is not None:
            named = await room_recipients(uow, portal.matrix_room_id, self._local or "")
            recipients = recipients_text(named)
        await uow.enqueue(
            new_action(
                FirstNotice(side, user_id, username, recipients),
                key=keys.first_notice_key(person),
                queue=queue,  # the queue of the message about to cross: the notice goes first
            )
        )

    # -- the notice action -------------------------------------------------------------------

    def executors(self) -> Executors:
        return {FIRST_NOTICE: executor(FirstNotice, self._send_notice)}

    def on_done(self) -> DoneHooks:
        return {FIRST_NOTICE: on_done(FirstNotice, FirstNoticeSent, self._notice_sent)}

    async def _send_notice(self, run: Run[FirstNotice]) -> FirstNoticeSent:
        assert self._sides is not None
        p = run.payload
        side: Side = "matrix" if p.side == "matrix" else "rocketchat"
        room = await self._sides.dm_room(side, p.user_id, p.username)
        text = self._text
        if p.recipients:
            text += "\n" + p.recipients + "\n" + texts.OPT_OUT_OFFER
        await self._sides.say(side, room, text, run.key)
        return FirstNoticeSent(room)

    async def _notice_sent(
        self, uow: UnitOfWork, run: Run[FirstNotice], result: FirstNoticeSent
    ) -> None:
        side, user = run.payload.side, run.payload.user_id
        if await uow.commands.room(side, result.room_id) is None:
            await uow.commands.set_room(side, result.room_id, is_dm=True, user_id=user)
            if self._on_new_dm is not None:
                self._on_new_dm(side, result.room_id)
