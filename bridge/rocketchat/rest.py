"""Typed Rocket.Chat REST client (endpoints in docs/rocketchat-notes.md)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import aiohttp
import attrs

from bridge.ids import RCMessageID, RCRoomID, RCUserID, RCUsername
from bridge.rctypes.models import (
    RCLogin,
    RCMessage,
    RCPruneResult,
    RCRoom,
    RCSyncResult,
    RCUpload,
    RCUser,
    parse_date,
    to_iso,
)
from bridge.rctypes.retention import RCRoomRetention
from bridge.rocketchat.errors import RCAPIError, RCBadRequestError, RCProtocolError
from bridge.rocketchat.transport import JSONDict, RCTransport, RetryPolicy

log = logging.getLogger(__name__)

RoomKind = Literal["channels", "groups", "im"]


@attrs.frozen
class SendResult:
    """``existing`` is true when the client-chosen ``_id`` was already stored (a retry)."""

    message: RCMessage
    existing: bool = False


def _is_duplicate_id(exc: RCAPIError) -> bool:
    # The server inserts with the client's _id (no upsert): a second insert fails in MongoDB
    # with E11000, which the REST layer returns as a plain 400 failure (chat.sendMessage;
    # inferred from executeSendMessage → sendMessage without upsert, not seen in a test).
    return isinstance(exc, RCBadRequestError) and (
        "E11000" in exc.error or "duplicate key" in exc.error
    )


def _message(body: Mapping[str, Any], key: str = "message") -> RCMessage:
    data = body.get(key)
    if not isinstance(data, Mapping):
        raise RCProtocolError(f"answer has no {key!r} object")
    return RCMessage.parse(data)


class RCRestClient:
    """Rocket.Chat REST client; use as ``async with`` or call :meth:`close`."""

    def __init__(
        self,
        base_url: str,
        *,
        login: RCLogin | None = None,
        retry: RetryPolicy | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.transport = RCTransport(base_url, login=login, retry=retry, session=session)

    @classmethod
    def with_token(
        cls, base_url: str, user_id: str, token: str, *, retry: RetryPolicy | None = None
    ) -> RCRestClient:
        """Authenticate with a personal access token (or any login token)."""
        return cls(base_url, login=RCLogin(RCUserID(user_id), token), retry=retry)

    @property
    def login_info(self) -> RCLogin | None:
        return self.transport.login

    async def __aenter__(self) -> RCRestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.transport.close()

    async def _get(self, endpoint: str, **params: str | int | bool | None) -> JSONDict:
        query = {
            k: (str(v).lower() if isinstance(v, bool) else str(v))
            for k, v in params.items()
            if v is not None
        }
        return await self.transport.call("GET", endpoint, params=query)

    async def _post(self, endpoint: str, body: Mapping[str, Any]) -> JSONDict:
        return await self.transport.call("POST", endpoint, json_body=body)

    # -- auth -------------------------------------------------------------------

    async def login(self, username: str, password: str) -> RCLogin:
        body = await self.transport.call(
            "POST", "login", json_body={"user": username, "password": password}, auth=False
        )
        data = body.get("data") or {}
        self.transport.login = RCLogin(RCUserID(str(data["userId"])), str(data["authToken"]))
        return self.transport.login

    async def logout(self) -> None:
        await self.transport.call("POST", "logout")
        self.transport.login = None

    async def me(self) -> RCUser:
        return RCUser.parse(await self._get("me"))

    # -- users ------------------------------------------------------------------

    async def users_create(
        self, username: str, name: str, email: str, password: str, **extra: Any
    ) -> RCUser:
        body = {"username": username, "name": name, "email": email, "password": password, **extra}
        return RCUser.parse((await self._post("users.create", body))["user"])

    async def users_info(
        self, *, user_id: str | None = None, username: str | None = None
    ) -> RCUser:
        body = await self._get("users.info", userId=user_id, username=username)
        return RCUser.parse(body["user"])

    async def setting(self, setting_id: str) -> Any:
        """A setting's value (``GET settings/:_id``, needs ``view-privileged-setting``)."""
        return (await self._get(f"settings/{setting_id}")).get("value")

    async def set_setting(self, setting_id: str, value: Any) -> None:
        """``POST settings/:_id {"value": …}`` (needs ``edit-privileged-setting``)."""
        await self._post(f"settings/{setting_id}", {"value": value})

    async def users_list(self, *, count: int = 50, offset: int = 0) -> list[RCUser]:
        body = await self._get("users.list", count=count, offset=offset)
        return [RCUser.parse(u) for u in body.get("users", ())]

    async def users_set_avatar(
        self, avatar_url: str, *, user_id: str | None = None, username: str | None = None
    ) -> None:
        body: dict[str, Any] = {"avatarUrl": avatar_url}
        if user_id:
            body["userId"] = user_id
        if username:
            body["username"] = username
        await self._post("users.setAvatar", body)

    async def users_update(self, user_id: RCUserID, **data: Any) -> RCUser:
        """``users.update`` (admin: ``edit-other-user-info``); ``data`` as in the spec."""
        body = await self._post("users.update", {"userId": user_id, "data": data})
        return RCUser.parse(body["user"])

    async def users_reset_avatar(self, user_id: RCUserID) -> None:
        await self._post("users.resetAvatar", {"userId": user_id})

    async def users_delete(self, user_id: RCUserID, *, confirm_relinquish: bool = False) -> None:
        await self._post(
            "users.delete", {"userId": user_id, "confirmRelinquish": confirm_relinquish}
        )

    # -- rooms ------------------------------------------------------------------

    async def rooms_info(self, room_id: RCRoomID) -> RCRoom:
        return RCRoom.parse((await self._get("rooms.info", roomId=room_id))["room"])

    async def room_retention(self, room_id: RCRoomID) -> RCRoomRetention:
        """A room's type and its own ``retention`` settings (``rooms.info``; the fields
        rooms.saveRoomSettings stores, none when the room has none)."""
        room = (await self._get("rooms.info", roomId=room_id))["room"]
        return RCRoomRetention.parse(room if isinstance(room, dict) else {})

    async def save_room_settings(self, room_id: RCRoomID, **settings: Any) -> None:
        """``rooms.saveRoomSettings``: e.g. a room's own retention policy
        (``retentionEnabled``, ``retentionOverrideGlobal``, ``retentionMaxAge`` in days);
        a retention change needs ``edit-room-retention-policy``."""
        await self._post("rooms.saveRoomSettings", {"rid": room_id, **settings})

    async def rooms_info_by_name(self, name: str) -> RCRoom:
        return RCRoom.parse((await self._get("rooms.info", roomName=name))["room"])

    async def room_create(
        self, kind: Literal["channels", "groups"], name: str, members: Sequence[str] = ()
    ) -> RCRoom:
        body = await self._post(f"{kind}.create", {"name": name, "members": list(members)})
        return RCRoom.parse(body["channel" if kind == "channels" else "group"])

    async def room_info(self, kind: Literal["channels", "groups"], room_id: RCRoomID) -> RCRoom:
        body = await self._get(f"{kind}.info", roomId=room_id)
        return RCRoom.parse(body["channel" if kind == "channels" else "group"])

    async def room_members(self, kind: RoomKind, room_id: RCRoomID) -> list[RCUsername]:
        body = await self._get(f"{kind}.members", roomId=room_id, count=0)
        return [RCUsername(str(m["username"])) for m in body.get("members", ())]

    async def room_roles(
        self, kind: Literal["channels", "groups"], room_id: RCRoomID
    ) -> list[tuple[RCUserID, RCUsername, tuple[str, ...]]]:
        """Room-scoped roles (``owner``, ``moderator``, ``leader``) per user: who runs a room."""
        body = await self._get(f"{kind}.roles", roomId=room_id)
        return [
            (
                RCUserID(str(r["u"]["_id"])),
                RCUsername(str(r["u"].get("username", ""))),
                tuple(str(x) for x in r.get("roles") or ()),
            )
            for r in body.get("roles", ())
            if isinstance(r, dict) and isinstance(r.get("u"), dict)
        ]

    async def room_invite(
        self, kind: Literal["channels", "groups"], room_id: RCRoomID, user_id: RCUserID
    ) -> None:
        await self._post(f"{kind}.invite", {"roomId": room_id, "userId": user_id})

    async def room_kick(
        self, kind: Literal["channels", "groups"], room_id: RCRoomID, user_id: RCUserID
    ) -> None:
        await self._post(f"{kind}.kick", {"roomId": room_id, "userId": user_id})

    async def room_history(
        self,
        kind: RoomKind,
        room_id: RCRoomID,
        *,
        oldest: datetime | None = None,
        latest: datetime | None = None,
        count: int = 100,
    ) -> list[RCMessage]:
        body = await self._get(
            f"{kind}.history",
            roomId=room_id,
            oldest=to_iso(oldest) if oldest else None,
            latest=to_iso(latest) if latest else None,
            count=count,
        )
        return [RCMessage.parse(m) for m in body.get("messages", ())]

    async def im_create(self, username: str) -> RCRoom:
        return RCRoom.parse((await self._post("im.create", {"username": username}))["room"])

    # -- messages ---------------------------------------------------------------

    async def post_message(self, room_id: RCRoomID, text: str, **extra: Any) -> RCMessage:
        body = await self._post("chat.postMessage", {"roomId": room_id, "text": text, **extra})
        return _message(body)

    async def send_message(
        self,
        room_id: RCRoomID,
        text: str,
        *,
        message_id: RCMessageID | None = None,
        thread_id: RCMessageID | None = None,
        **extra: Any,
    ) -> SendResult:
        """``chat.sendMessage``; with ``message_id`` the send is idempotent (outbox retries)."""
        message: dict[str, Any] = {"rid": room_id, "msg": text, **extra}
        if message_id is not None:
            message["_id"] = message_id
        if thread_id is not None:
            message["tmid"] = thread_id
        try:
            body = await self._post("chat.sendMessage", {"message": message})
        except RCAPIError as exc:
            if message_id is None or not _is_duplicate_id(exc):
                raise
            existing = await self.get_message(message_id)
            me = self.login_info
            if existing.room_id != room_id or (me is not None and existing.user.id != me.user_id):
                raise
            log.info("Message %s already stored; treating the send as done", message_id)
            return SendResult(existing, existing=True)
        return SendResult(_message(body))

    async def update_message(
        self, room_id: RCRoomID, message_id: RCMessageID, text: str
    ) -> RCMessage:
        body = await self._post(
            "chat.update", {"roomId": room_id, "msgId": message_id, "text": text}
        )
        return _message(body)

    async def delete_message(
        self, room_id: RCRoomID, message_id: RCMessageID, *, as_user: bool = False
    ) -> None:
        await self._post("chat.delete", {"roomId": room_id, "msgId": message_id, "asUser": as_user})

    async def get_setting(self, setting_id: str) -> Any:
        """``GET settings/:_id`` (needs ``view-privileged-setting``): the value."""
        return (await self._get(f"settings/{setting_id}")).get("value")

    async def get_message(self, message_id: RCMessageID) -> RCMessage:
        return _message(await self._get("chat.getMessage", msgId=message_id))

    async def react(
        self, message_id: RCMessageID, emoji: str, *, should_react: bool = True
    ) -> None:
        await self._post(
            "chat.react", {"messageId": message_id, "emoji": emoji, "shouldReact": should_react}
        )

    async def sync_messages(self, room_id: RCRoomID, last_update: datetime) -> RCSyncResult:
        """Everything updated or deleted in a room after ``last_update`` (catch-up)."""
        body = await self._get("chat.syncMessages", roomId=room_id, lastUpdate=to_iso(last_update))
        result = body.get("result") or {}
        updated = []
        for doc in result.get("updated", ()):
            try:
                updated.append(RCMessage.parse(doc))
            except (KeyError, ValueError, TypeError):
                # One unreadable document must not block catch-up of everything after it.
                log.warning("Skipped an unreadable message in chat.syncMessages of %s", room_id)
        deleted = [
            (RCMessageID(str(d["_id"])), parse_date(d.get("_deletedAt")))
            for d in result.get("deleted", ())
            if isinstance(d, Mapping) and d.get("_id")
        ]
        return RCSyncResult(updated=tuple(updated), deleted=tuple(deleted))

    async def clean_history(
        self,
        room_id: RCRoomID,
        *,
        oldest: datetime,
        latest: datetime,
        users: Sequence[RCUsername] = (),
        inclusive: bool = True,
        ignore_threads: bool = False,
        exclude_pinned: bool = False,
        limit: int = 0,
    ) -> RCPruneResult:
        """Bulk prune; ``users`` are usernames. Thread messages are included by default
        here because a privacy erasure must not skip them (the server's default skips)."""
        body: dict[str, Any] = {
            "roomId": room_id,
            "oldest": to_iso(oldest),
            "latest": to_iso(latest),
            "inclusive": inclusive,
            "excludePinned": exclude_pinned,
            "users": list(users),
            "ignoreThreads": ignore_threads,
        }
        if limit:
            body["limit"] = limit
        answer = await self._post("rooms.cleanHistory", body)
        return RCPruneResult(RCRoomID(str(answer.get("_id", room_id))), int(answer.get("count", 0)))

    async def upload(
        self,
        room_id: RCRoomID,
        data: bytes,
        filename: str,
        content_type: str,
        *,
        text: str = "",
        thread_id: RCMessageID | None = None,
    ) -> RCMessage:
        """Upload with ``rooms.media`` and post it with ``rooms.mediaConfirm`` (spec flow).

        Not idempotent: a repeat posts the file again. The outbox uses the two steps
        apart (see :meth:`media_upload`, :meth:`media_confirm`).
        """
        upload = await self.media_upload(room_id, data, filename, content_type)
        return await self.media_confirm(room_id, upload.file_id, text=text, thread_id=thread_id)

    async def media_upload(
        self, room_id: RCRoomID, data: bytes, filename: str, content_type: str
    ) -> RCUpload:
        """``rooms.media``: store a file that nobody sees until it is confirmed.

        Rocket.Chat keeps an unconfirmed upload for 24 hours, then discards it
        (apps/meteor/app/api/server/v1/rooms.ts, ``expiresAt``), so a repeat after a lost
        answer leaves an invisible orphan, never a second message. Sent once: a retry is
        the caller's decision.
        """
        form = aiohttp.FormData()
        form.add_field("file", data, filename=filename, content_type=content_type)
        body = await self.transport.call("POST", f"rooms.media/{room_id}", form=form, once=True)
        file_info = body.get("file")
        if not isinstance(file_info, Mapping) or not file_info.get("_id"):
            raise RCProtocolError("rooms.media answer has no file id")
        return RCUpload(str(file_info["_id"]), file_info.get("url"))

    async def media_confirm(
        self,
        room_id: RCRoomID,
        file_id: str,
        *,
        text: str = "",
        thread_id: RCMessageID | None = None,
    ) -> RCMessage:
        """``rooms.mediaConfirm``: post an uploaded file as a message, sent exactly once.

        Rocket.Chat posts a new message on every call for the same file and accepts no
        client-chosen ``_id`` here (sendFileMessage checks ``msgData`` against a fixed
        set of keys, apps/meteor/app/file-upload/server/methods/sendFileMessage.ts), so a
        lost answer is never retried blindly: see :meth:`find_file_message`.
        """
        confirm: dict[str, Any] = {"msg": text}
        if thread_id:
            confirm["tmid"] = thread_id
        answer = await self.transport.call(
            "POST", f"rooms.mediaConfirm/{room_id}/{file_id}", json_body=confirm, once=True
        )
        return _message(answer)

    async def find_file_message(
        self, room_id: RCRoomID, file_id: str, *, since: datetime
    ) -> RCMessage | None:
        """The message of this caller in ``room_id`` that carries ``file_id``, if posted."""
        me = self.login_info
        for message in (await self.sync_messages(room_id, since)).updated:
            if any(f.id == file_id for f in message.files) and (
                me is None or message.user.id == me.user_id
            ):
                return message
        return None
