"""Outbox executors of the erasure engine on the Rocket.Chat side.

All run as the bridge's admin account: the organisation's own Rocket.Chat is a copy the
bridge deletes itself, and sees deleted (``chat.delete`` / ``rooms.cleanHistory``
succeeded), so its status is "deleted", not a request to someone else.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time

from bridge.ids import RCMessageID, RCRoomID, RCUserID, RCUsername
from bridge.pipeline.actions import Executors, Run, executor
from bridge.pipeline.contracts import PermanentFailure
from bridge.privacy import erasure_kinds as kinds
from bridge.privacy.erasure_kinds import (
    RCClean,
    RCCleaned,
    RCDelete,
    RCDeleted,
    ShadowScrub,
    ShadowScrubbed,
)
from bridge.rocketchat.errors import RCAPIError, message_already_gone
from bridge.rocketchat.executors import RocketChatExecutors
from bridge.rocketchat.rest import RCRestClient
from bridge.storage.database import Database

log = logging.getLogger(__name__)

NEUTRAL_NAME = "Deleted user"
# Rocket.Chat cannot store dates before this; cleanHistory needs an "oldest".
EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
SETTING_TTL_S = 60.0


class RocketChatErasureExecutors:
    def __init__(self, admin: RCRestClient, db: Database) -> None:
        self._admin = admin
        self._db = db
        # Message_KeepHistory and when it was read (an admin may change it any time).
        self._keep_history: tuple[bool, float] | None = None

    def table(self) -> Executors:
        guard = RocketChatExecutors._guard  # noqa: SLF001 - the one mapping of RC errors
        return {
            kinds.RC_DELETE: guard(executor(RCDelete, self.delete)),
            kinds.RC_CLEAN: guard(executor(RCClean, self.clean)),
            kinds.SHADOW_SCRUB: guard(executor(ShadowScrub, self.shadow_scrub)),
        }

    async def delete(self, run: Run[RCDelete]) -> RCDeleted:
        p = run.payload
        room, message = RCRoomID(p.rc_room_id), RCMessageID(p.rc_message_id)
        kept = await self._keeps_history(message)
        try:
            await self._admin.delete_message(room, message)
        except RCAPIError as e:
            # Gone already: deleted on Rocket.Chat meanwhile, or a repeat after a crash.
            if not message_already_gone(e):
                raise
        return RCDeleted("hidden" if kept else "deleted")

    async def _keeps_history(self, message: RCMessageID) -> bool:
        """Whether Rocket.Chat keeps the message in its database once "deleted": with
        ``Message_KeepHistory`` on it only hides it (or keeps a copy of it, with
        ``Message_ShowDeletedStatus``), and a thread's parent is always kept so
        (Rocket.Chat apps/meteor/app/lib/server/functions/deleteMessage.ts). A setting
        the bridge may not read counts as on: "deleted" is said only when known."""
        try:
            parent = (await self._admin.get_message(message)).thread_count > 0
        except RCAPIError as e:
            if not message_already_gone(e):
                raise
            parent = False  # a repeat after a crash: the setting still tells
        if parent:
            return True
        now = time.monotonic()
        if self._keep_history is None or now - self._keep_history[1] > SETTING_TTL_S:
            try:
                value = await self._admin.get_setting("Message_KeepHistory")
            except RCAPIError:
                log.warning("Cannot read Message_KeepHistory: Rocket.Chat copies count as hidden")
                value = True
            self._keep_history = (value is not False, now)
        return self._keep_history[0]

    async def clean(self, run: Run[RCClean]) -> RCCleaned:
        """One ``rooms.cleanHistory`` for all the subject's messages in a room, threads
        included (the server skips thread messages unless ``ignoreThreads`` is false)."""
        inputs = run.payload.inputs
        if inputs is None:  # completed by the privacy layer before it gets here
            raise PermanentFailure("cleanHistory without its inputs")
        if inputs.username is None:
            raise PermanentFailure("no Rocket.Chat username known for the subject")
        before = inputs.before_ms
        latest = (
            dt.datetime.fromtimestamp(before / 1000, tz=dt.UTC)
            if before is not None
            else dt.datetime.now(tz=dt.UTC)
        )
        result = await self._admin.clean_history(
            RCRoomID(run.payload.rc_room_id),
            oldest=EPOCH,
            latest=latest,
            users=[RCUsername(inputs.username)],
            inclusive=before is None,
            ignore_threads=False,
        )
        return RCCleaned(result.count)

    async def shadow_scrub(self, run: Run[ShadowScrub]) -> ShadowScrubbed:
        """The Matrix user's shadow account: neutral name and username, default avatar.
        The username goes too: it is derived from the Matrix id (Identities). Queued
        after the Rocket.Chat deletions (bridge.privacy.erasure_sequence)."""
        matrix_user_id = run.payload.matrix_user_id
        if matrix_user_id is None:  # completed by the privacy layer before it gets here
            raise PermanentFailure("shadow scrub without its Matrix user")
        async with self._db.unit_of_work() as uow:
            shadow = await uow.bridging.shadow(matrix_user_id)
        if shadow is None or shadow.rc_user_id is None:
            return ShadowScrubbed(detail="no shadow account")
        seed = f"{run.payload.request_id}:{shadow.matrix_user_id}".encode()
        username = "deleted-" + hashlib.sha256(seed).hexdigest()[:12]
        user_id = RCUserID(shadow.rc_user_id)
        await self._admin.users_update(user_id, name=NEUTRAL_NAME, username=username)
        await self._admin.users_reset_avatar(user_id)
        return ShadowScrubbed(shadow.matrix_user_id, username, "name, username and avatar replaced")
