"""Outbox executors for Rocket.Chat actions: the only place the bridge writes to Rocket.Chat.

Repeats are harmless: messages carry a ``_id`` derived from the Matrix event id, a shadow
account created before a crash is reclaimed with its derived password, and invites of
members succeed again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol, TypeVar

import attrs

from bridge.bridging.action_values import (
    EnsureShadow,
    RCDelete,
    RCReact,
    RCSend,
    RCSent,
    RCUpdate,
    RCUpload,
    ResolvedUser,
    ResolveUser,
    ShadowJoin,
    ShadowKick,
    ShadowReady,
)
from bridge.bridging.identities import Identities
from bridge.ids import RCMessageID, RCRoomID, RCUserID
from bridge.media import FetchedFile, FileRefused, FileTooLarge, file_mimetype, may_retry
from bridge.pipeline import keys, kinds
from bridge.pipeline.actions import Executes, Executors, Run, executor
from bridge.pipeline.contracts import (
    AWAY_STATUSES,
    PermanentFailure,
    RetryLater,
    Unavailable,
    Waiting,
)
from bridge.pipeline.progress import Progress
from bridge.rctypes.models import RCLogin
from bridge.rocketchat.echoes import OwnEchoes
from bridge.rocketchat.errors import (
    RCAPIError,
    RCAuthError,
    RCConnectionError,
    RCRateLimitError,
    RCServerError,
    message_already_gone,
)
from bridge.rocketchat.rest import RCRestClient
from bridge.rocketchat.transport import RetryPolicy
from bridge.rocketchat.uploads import UploadNoted, post_file_once
from bridge.storage.bridging import Shadow
from bridge.storage.database import Database
from bridge.storage.outbox import DEAD, DROPPED

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

# The outbox schedules retries durably, so the client should fail fast instead of sleeping
# through long rate-limit windows inside one attempt.
OUTBOX_RETRY = RetryPolicy(attempts=2, base_delay=0.2, max_delay=1.0, wait_on_rate_limit=False)
# Candidate shadow usernames tried before giving up. The names are keyed hashes nobody
# outside the bridge can compute, so a second candidate is already a rare event.
SHADOW_NAME_ATTEMPTS = 5


class MediaFetcher(Protocol):
    """Matrix media, whole: FileRefused when too large, cut short or not a valid mxc://."""

    async def __call__(self, mxc: str) -> FetchedFile: ...


class RocketChatExecutors:
    def __init__(
        self,
        admin: RCRestClient,
        db: Database,
        ids: Identities,
        fetch_media: MediaFetcher,
        display_name: Callable[[str], Awaitable[str | None]],
        max_upload_bytes: int,
        *,
        alias_mode: bool = False,
        echoes: OwnEchoes | None = None,
    ) -> None:
        # matrix_users_on_rocketchat: alias — post as the bridge's account with the
        # Matrix user's name (``alias``) instead of as a shadow account.
        self._alias_mode = alias_mode
        self._admin = admin
        self._db = db
        self._ids = ids
        self._fetch_media = fetch_media
        self._display_name = display_name
        self._max_upload = max_upload_bytes
        self._clients: dict[str, RCRestClient] = {}
        self._echoes = echoes or OwnEchoes()

    def table(self) -> Executors:
        return {
            kinds.RC_SHADOW: self._guard(executor(EnsureShadow, self.ensure_shadow)),
            kinds.RC_JOIN: self._guard(executor(ShadowJoin, self.join_room)),
            kinds.RC_KICK: self._guard(executor(ShadowKick, self.kick)),
            kinds.RC_RESOLVE_USER: self._guard(executor(ResolveUser, self.resolve_user)),
            kinds.RC_NOTICE: self._guard(executor(kinds.RCNotice, self.notice)),
            kinds.RC_SEND: self._guard(executor(RCSend, self.send)),
            kinds.RC_UPDATE: self._guard(executor(RCUpdate, self.update)),
            kinds.RC_DELETE: self._guard(executor(RCDelete, self.delete)),
            kinds.RC_REACT: self._guard(executor(RCReact, self.react)),
            kinds.RC_UPLOAD: self._guard(executor(RCUpload, self.upload)),
        }

    @staticmethod
    def _guard(registered: Executes[T, R]) -> Executes[T, R]:
        run = registered.run

        async def execute(action: Run[T]) -> R:
            try:
                return await run(action)
            except RCRateLimitError as e:
                raise Unavailable("Rocket.Chat rate limit", retry_after=e.retry_after) from e
            except RCConnectionError as e:
                raise Unavailable(f"Rocket.Chat unavailable: {e}") from e
            except RCServerError as e:
                away = e.status in AWAY_STATUSES
                raise (Unavailable if away else RetryLater)(f"Rocket.Chat unavailable: {e}") from e
            except RCAuthError as e:
                # 401: the bridge's login is not (yet) accepted, e.g. an action run right
                # after a restart, before the login finished; nothing wrong with the
                # action. A login that stays refused is logged at start and bounded by
                # the age budget.
                raise Unavailable(
                    f"Rocket.Chat did not accept the bridge's login: {e.error}"
                ) from e
            except RCAPIError as e:
                # 400/403/404 mean this request cannot succeed as it is, e.g. a missing
                # permission; record it with the server's words for the operator.
                raise PermanentFailure(f"Rocket.Chat refused: {e.error}") from e

        return registered.wrapped(execute)

    async def close(self) -> None:
        # An action still running may log a shadow in while earlier clients close: take
        # the clients out before each await (iterating the live dict raised "dictionary
        # changed size during iteration" and left the bridge half stopped).
        while self._clients:
            clients = list(self._clients.values())
            self._clients.clear()
            for client in clients:
                await client.close()

    # -- shadow users ---------------------------------------------------------------------

    async def ensure_shadow(self, run: Run[EnsureShadow]) -> ShadowReady:
        """Create the Matrix user's Rocket.Chat account under the first free derived name.

        A name already in use is ours only if the derived password logs into it (we
        created it before a crash); anyone else's account is left alone and the next
        candidate is tried, so a squatted name cannot block the room.
        """
        user_id = run.payload.user_id
        password = self._ids.shadow_password(user_id)
        name = await self._display_name(user_id) or user_id
        for attempt in range(SHADOW_NAME_ATTEMPTS):
            username = self._ids.shadow_username(user_id, attempt)
            login = await self._create_or_reclaim(username, name, password)
            if login is not None:
                return ShadowReady(user_id, login.user_id, username, name, login.auth_token)
            log.warning("A shadow username candidate (#%d) is taken by another account", attempt)
        raise PermanentFailure(
            f"every one of {SHADOW_NAME_ATTEMPTS} shadow usernames is taken on Rocket.Chat"
        )

    async def _create_or_reclaim(self, username: str, name: str, password: str) -> RCLogin | None:
        """Log in as a new account ``username``; None when someone else holds the name."""
        try:
            await self._admin.users_create(
                username,
                name,
                f"{username}@matrix.invalid",  # RFC 2606: a domain that can never receive mail
                password,
                verified=True,
                requirePasswordChange=False,
                joinDefaultChannels=False,
                sendWelcomeEmail=False,
            )
        except RCAPIError as e:
            # Rocket.Chat apps/meteor/app/lib/server/functions/saveUser/validateUserData.ts:
            # a username or e-mail in use is Meteor error "error-field-unavailable".
            if e.error_type != "error-field-unavailable":
                raise
        else:
            return await self._login(username, password)
        try:
            # Ours if it was created before a crash: only the bridge knows the password.
            # A wrong password and an unknown user both answer 401 (Rocket.Chat login,
            # "Unauthorized"), and either way the name is not an account of ours.
            return await self._login(username, password)
        except RCAuthError:
            return None

    async def _login(self, username: str, password: str) -> RCLogin:
        client = RCRestClient(self._admin.transport.base_url, retry=OUTBOX_RETRY)
        try:
            return await client.login(username, password)
        finally:
            await client.close()

    async def _shadow(self, user_id: str) -> Shadow:
        async with self._db.unit_of_work() as uow:
            shadow = await uow.bridging.shadow(user_id)
        if shadow is None or shadow.rc_user_id is None or shadow.auth_token is None:
            # The account is made by another action, maybe in another room's queue: wait
            # for it (an outage there is no fault of this action), unless it was given up.
            if await self._db.outbox.status(keys.shadow_key(user_id)) in (DEAD, DROPPED):
                raise PermanentFailure("the sender's Rocket.Chat account could not be created")
            raise Waiting("the sender's Rocket.Chat account is not ready yet")
        return shadow

    def _logged_in(self, user_id: str) -> RCRestClient | None:
        client = self._clients.get(user_id)
        return client if client is not None and client.login_info is not None else None

    async def _as_shadow(self, user_id: str) -> RCRestClient:
        # Shadow rows are never deleted and their token only changes through
        # `_shadow_call`'s own re-login, so a logged-in client needs no database read (a
        # transaction per relayed message otherwise). Checked again after the read:
        # another action may have made the client meanwhile.
        if (client := self._logged_in(user_id)) is not None:
            return client
        shadow = await self._shadow(user_id)
        if (client := self._logged_in(user_id)) is not None:
            return client
        client = RCRestClient(
            self._admin.transport.base_url,
            login=RCLogin(RCUserID(str(shadow.rc_user_id)), str(shadow.auth_token)),
            retry=OUTBOX_RETRY,
        )
        self._clients[user_id] = client
        return client

    async def _shadow_call(
        self, user_id: str, call: Callable[[RCRestClient], Awaitable[Any]]
    ) -> Any:
        """Run ``call`` as the shadow; log in again once if its session token expired."""
        if self._alias_mode:
            return await call(self._admin)
        client = await self._as_shadow(user_id)
        try:
            return await call(client)
        except RCAuthError:
            shadow = await self._shadow(user_id)
            login = await self._login(shadow.rc_username, self._ids.shadow_password(user_id))
            client.transport.login = login
            async with self._db.unit_of_work() as uow:
                await uow.bridging.save_shadow(
                    Shadow(
                        shadow.matrix_user_id,
                        shadow.rc_user_id,
                        shadow.rc_username,
                        shadow.display_name,
                        login.auth_token,
                    )
                )
            return await call(client)

    async def join_room(self, run: Run[ShadowJoin]) -> None:
        shadow = await self._shadow(run.payload.user_id)
        kind: Literal["channels", "groups"] = (
            "groups" if run.payload.rc_room_type == "p" else "channels"
        )
        await self._admin.room_invite(
            kind, RCRoomID(run.payload.rc_room_id), RCUserID(str(shadow.rc_user_id))
        )

    async def kick(self, run: Run[ShadowKick]) -> None:
        """A Matrix user left or was kicked: their shadow leaves the Rocket.Chat room."""
        shadow = await self._shadow(run.payload.user_id)
        kind: Literal["channels", "groups"] = (
            "groups" if run.payload.rc_room_type == "p" else "channels"
        )
        await self._admin.room_kick(
            kind, RCRoomID(run.payload.rc_room_id), RCUserID(str(shadow.rc_user_id))
        )

    async def notice(self, run: Run[kinds.RCNotice]) -> kinds.RCNoticeSent:
        """The bridge's account answers in a Rocket.Chat room (command replies, reports)."""
        result = await self._admin.send_message(
            RCRoomID(run.payload.room_id),
            run.payload.text,
            message_id=RCMessageID(self._ids.rc_message_id(run.key)),
        )
        return kinds.RCNoticeSent(result.message.id)

    async def resolve_user(self, run: Run[ResolveUser]) -> ResolvedUser:
        user = await self._admin.users_info(username=run.payload.username)
        return ResolvedUser(user.id, user.username, user.name)

    # -- messages -------------------------------------------------------------------------

    async def send(self, run: Run[RCSend]) -> RCSent:
        p = run.payload
        extra: dict[str, str] = {}
        if self._alias_mode:
            extra["alias"] = await self._display_name(p.sender) or p.sender
        # Named before it is posted: its echo may arrive before the answer does.
        self._echoes.expect(p.rc_message_id)
        try:
            result = await self._shadow_call(
                p.sender,
                lambda c: c.send_message(
                    RCRoomID(p.rc_room_id),
                    p.text,
                    message_id=RCMessageID(p.rc_message_id),
                    thread_id=RCMessageID(p.thread_id) if p.thread_id else None,
                    **extra,
                ),
            )
        except RCAPIError as e:
            if self._alias_mode and e.status in (400, 403) and "permission" in e.error.lower():
                log.error(
                    "Rocket.Chat refused a message with an alias: the bridge's account needs "
                    "the message-impersonate permission for matrix_users_on_rocketchat: alias"
                )
                raise PermanentFailure(
                    "the bridge's Rocket.Chat account lacks the message-impersonate permission"
                ) from e
            raise
        return RCSent(result.message.id, result.existing)

    async def update(self, run: Run[RCUpdate]) -> None:
        p = run.payload
        await self._shadow_call(
            p.sender,
            lambda c: c.update_message(
                RCRoomID(p.rc_room_id), RCMessageID(p.rc_message_id), p.text
            ),
        )

    async def delete(self, run: Run[RCDelete]) -> None:
        p = run.payload
        room, message = RCRoomID(p.rc_room_id), RCMessageID(p.rc_message_id)
        try:
            if p.as_shadow:
                await self._shadow_call(p.sender, lambda c: c.delete_message(room, message))
            else:
                await self._admin.delete_message(room, message)
        except RCAPIError as e:
            if not _already_gone(e):
                raise

    async def react(self, run: Run[RCReact]) -> None:
        p = run.payload
        await self._shadow_call(
            p.sender,
            lambda c: c.react(RCMessageID(p.rc_message_id), p.emoji, should_react=p.should_react),
        )

    async def upload(self, run: Run[RCUpload]) -> RCSent:
        """Post a Matrix file exactly once (the two steps and their notes: uploads.py)."""
        p = run.payload

        async def source() -> tuple[bytes, str, str]:
            # Only reached when no earlier run uploaded the file already.
            if p.size is not None and p.size > self._max_upload:
                raise FileTooLarge(self._max_upload)  # declared: no need to download it
            fetched = await self._fetch_media(p.mxc or "")
            if fetched.size > self._max_upload:
                raise FileTooLarge(self._max_upload)
            filename = p.filename or "file"
            # The type the homeserver serves, else the bytes', else the name's; the event's
            # own info.mimetype is only the sender's claim.
            return fetched.data, filename, file_mimetype(fetched.mimetype, fetched.data, filename)

        try:
            message, existing = await self._shadow_call(
                p.sender,
                lambda c: post_file_once(
                    c,
                    Progress(self._db.outbox, UploadNoted),
                    run.id,
                    RCRoomID(p.rc_room_id),
                    source,
                    thread_id=RCMessageID(p.thread_id) if p.thread_id else None,
                ),
            )
        except FileRefused as refusal:
            if may_retry(refusal, run.attempts):
                raise RetryLater(refusal.reason) from refusal
            return await self._refuse(run, refusal)
        return RCSent(message.id, existing)

    async def _refuse(self, run: Run[RCUpload], refusal: FileRefused) -> RCSent:
        """In the file's place, its sender says it could not be bridged and why: posted
        with the message id the file would have had, so it is recorded and deleted like it."""
        log.info("A Matrix file (outbox action %d) was not bridged: %s", run.id, refusal)
        p = run.payload
        text = f"A file could not be bridged from Matrix: {refusal.reason}."
        notice = RCSend(
            p.portal_id,
            p.rc_room_id,
            p.rc_message_id,
            p.sender,
            p.thread_id,
            p.record,
            text,
            disclosure=p.disclosure,
        )
        result = await self.send(
            Run(run.id, run.key, run.kind, run.queue, run.attempts, notice, run.created_ms)
        )
        return attrs.evolve(result, refused=refusal.reason)


def _already_gone(e: RCAPIError) -> bool:
    # A retried delete after a crash, or a message deleted on Rocket.Chat meanwhile.
    return message_already_gone(e) or (e.status in (400, 404) and "invalid" in e.error.lower())
