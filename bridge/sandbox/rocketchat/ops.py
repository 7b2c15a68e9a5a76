"""Message operations shared by the REST routes, the admin API and tests.

Behaviour follows the server code summarised in docs/rocketchat-notes.md; each change is
announced to ``state.listeners`` (the realtime hub) as ``message``, ``deleteMessage`` or
``deleteMessageBulk``.
"""

from __future__ import annotations

import copy
from typing import Any

import attrs

from bridge.sandbox.rocketchat.access import has_permission
from bridge.sandbox.rocketchat.responses import failure, meteor_error, not_allowed
from bridge.sandbox.rocketchat.state import (
    Doc,
    SimRoom,
    SimState,
    SimUser,
    ddp_dates,
    random_id,
)


def _bump_room(state: SimState, room: SimRoom, delta: int) -> None:
    room.msgs = max(0, room.msgs + delta)
    room.updated_at = state.now_ms()


def create_message(
    state: SimState, user: SimUser, room: SimRoom, fields: dict[str, Any], msg_id: str | None = None
) -> Doc:
    """Insert a message; ``msg_id`` is the client-chosen ``_id`` of chat.sendMessage."""
    if msg_id is not None and msg_id in state.messages:
        # No upsert on this path: MongoDB refuses the second insert (inferred).
        raise failure(
            "E11000 duplicate key error collection: rocketchat.rocketchat_message "
            f'index: _id_ dup key: {{ _id: "{msg_id}" }}'
        )
    text = str(fields.get("msg") or "")
    if len(text) > int(state.settings["Message_MaxAllowedSize"]):
        raise meteor_error(
            "error-message-size-exceeded", "Message size exceeds Message_MaxAllowedSize"
        )
    tmid = fields.get("tmid")
    if tmid:
        if not state.settings["Threads_enabled"]:
            raise meteor_error("error-not-allowed", "not-allowed")
        parent = state.messages.get(tmid)
        # "do not allow nested threads": a reply to a reply joins the parent's thread.
        if parent is not None and parent.get("tmid"):
            tmid = parent["tmid"]
    now = state.now_ms()
    doc: Doc = {
        "_id": msg_id or random_id(),
        "rid": room.id,
        "msg": text,
        "ts": now,
        "u": user.public(),
        "_updatedAt": now,
        "urls": [],
        "mentions": [],
        "channels": [],
    }
    for key in ("alias", "avatar", "emoji", "attachments", "file", "files", "groupable", "t"):
        if key in fields:
            doc[key] = fields[key]
    if tmid:
        doc["tmid"] = tmid
        _touch_thread_parent(state, tmid, now, user.id, +1)
    state.messages[doc["_id"]] = doc
    _bump_room(state, room, +1)
    state.emit("message", doc)
    state.emit("messageInserted", doc)
    return doc


def subscription_changed(state: SimState, room: SimRoom, user: SimUser, action: str) -> None:
    """``watch.subscriptions``: the member learns on ``<uid>/subscriptions-changed`` and
    ``<uid>/rooms-changed`` that a subscription was ``inserted`` or ``removed``."""
    state.emit(
        "subscription",
        {
            "uid": user.id,
            "action": action,
            "subscription": ddp_dates(room.subscription(state, user)),
            "room": ddp_dates(room.document(state)),
        },
    )


def _touch_thread_parent(state: SimState, tmid: str, now: int, user_id: str, delta: int) -> None:
    parent = state.messages.get(tmid)
    if parent is None:
        return
    parent["tcount"] = max(0, int(parent.get("tcount", 0)) + delta)
    parent["tlm"] = now
    replies = parent.setdefault("replies", [])
    if delta > 0 and user_id not in replies:
        replies.append(user_id)
    parent["_updatedAt"] = state.now_ms()
    state.emit("message", parent)


def update_message(state: SimState, user: SimUser, room: SimRoom, doc: Doc, text: str) -> Doc:
    """chat.update after the lookups: the ``updateMessage`` method's rules."""
    own = doc["u"]["_id"] == user.id
    if not has_permission(state, user, "edit-message", room) and not (
        own and state.settings["Message_AllowEditing"]
    ):
        raise meteor_error("error-action-not-allowed", "Message editing not allowed")
    if doc.get("msg") == text:
        return doc  # identical text is a no-op, still 200
    now = state.now_ms()
    doc.update(msg=text, editedAt=now, editedBy={"_id": user.id, "username": user.username})
    doc["_updatedAt"] = now
    state.emit("message", doc)
    return doc


def can_delete(state: SimState, user: SimUser, room: SimRoom, doc: Doc) -> bool:
    """canDeleteMessage.ts."""
    if has_permission(state, user, "force-delete-message", room):
        return True
    if not state.settings["Message_AllowDeleting"]:
        return False
    own = doc["u"]["_id"] == user.id
    return has_permission(state, user, "delete-message", room) or (
        own and has_permission(state, user, "delete-own-message", room)
    )


def delete_message(state: SimState, actor: SimUser, room: SimRoom, doc: Doc) -> None:
    """deleteMessage.ts: hard delete + ``deleteMessage`` event, or a ``t: 'rm'`` tombstone."""
    if not can_delete(state, actor, room, doc):
        raise not_allowed()
    # Both settings are forced on for thread parents.
    is_parent = int(doc.get("tcount", 0)) > 0
    keep_history = bool(state.settings["Message_KeepHistory"]) or is_parent
    show_deleted = bool(state.settings["Message_ShowDeletedStatus"]) or is_parent
    now = state.now_ms()
    if doc.get("tmid"):
        _touch_thread_parent(state, doc["tmid"], now, actor.id, -1)
    if show_deleted:
        if keep_history:
            # cloneAndSaveAsHistoryById: the content stays in the database, hidden.
            kept = {**copy.deepcopy(doc), "_id": random_id(), "_hidden": True, "parent": doc["_id"]}
            state.messages[kept["_id"]] = kept
        for key in ("md", "blocks", "tshow", "file", "files"):
            doc.pop(key, None)
        doc.update(msg="", t="rm", urls=[], mentions=[], attachments=[], reactions={})
        doc.update(editedAt=now, editedBy={"_id": actor.id, "username": actor.username})
        doc["_updatedAt"] = now
        state.emit("message", doc)
        return
    if keep_history:
        doc["_hidden"] = True
        doc["_updatedAt"] = now
    else:
        _trash(state, doc, now)
    _bump_room(state, room, -1)
    state.emit("deleteMessage", {"rid": room.id, "_id": doc["_id"]})


def _trash(state: SimState, doc: Doc, now: int) -> None:
    """Removed documents go to the trash collection that chat.syncMessages reads."""
    del state.messages[doc["_id"]]
    state.trash[doc["_id"]] = {"_id": doc["_id"], "rid": doc["rid"], "_deletedAt": now}
    for f in doc.get("files") or ([doc["file"]] if doc.get("file") else []):
        state.uploads.pop(f.get("_id"), None)


def react(state: SimState, user: SimUser, doc: Doc, emoji: str, should_react: bool | None) -> None:
    """setReaction.ts: the name is ``:<emoji without colons>:``; asking for the state the
    reaction is already in changes and streams nothing; otherwise the whole message is
    streamed again (``notifyOnMessageChange``), ``editedAt`` and all."""
    name = ":" + emoji.replace(":", "") + ":"
    present = user.username in ((doc.get("reactions") or {}).get(name) or {}).get("usernames", [])
    want = (not present) if should_react is None else should_react
    if want == present:
        return
    reactions: dict[str, Any] = doc.setdefault("reactions", {})
    users: list[str] = reactions.setdefault(name, {"usernames": []})["usernames"]
    if want and not present:
        users.append(user.username)
    elif not want and present:
        users.remove(user.username)
    if not users:
        del reactions[name]
    if not reactions:
        del doc["reactions"]  # Messages.unsetReactions: the field goes with the last one
    doc["_updatedAt"] = state.now_ms()
    state.emit("message", doc)


@attrs.frozen
class Prune:
    """The rooms.cleanHistory body after validation."""

    oldest: int
    latest: int
    inclusive: bool = False
    exclude_pinned: bool = False
    files_only: bool = False
    users: tuple[str, ...] = ()
    limit: int = 0
    ignore_discussion: bool = True
    ignore_threads: bool = True

    def matches(self, doc: Doc) -> bool:
        ts = int(doc["ts"])
        in_range = (
            self.oldest <= ts <= self.latest if self.inclusive else self.oldest < ts < self.latest
        )
        if not in_range or doc.get("_hidden") or doc.get("t") == "rm":
            return False
        if self.users and doc["u"]["username"] not in self.users:
            return False
        if self.exclude_pinned and doc.get("pinned"):
            return False
        if self.ignore_discussion and doc.get("drid"):
            return False
        # ignoreThreads (default true) skips replies and thread parents.
        return not (self.ignore_threads and (doc.get("tmid") or doc.get("tcount")))


def clean_history(state: SimState, room: SimRoom, prune: Prune) -> int:
    """Hard-remove matching messages; one ``deleteMessageBulk`` event per prune."""
    victims = sorted(
        (d for d in state.messages.values() if d["rid"] == room.id and prune.matches(d)),
        key=lambda d: int(d["ts"]),
    )
    if prune.limit:
        victims = victims[: prune.limit]
    if not victims:
        return 0
    now = state.now_ms()
    for doc in victims:
        if prune.files_only:
            for key in ("file", "files"):
                doc.pop(key, None)
            doc["attachments"] = [{"color": "#FD745E", "text": "File removed by prune"}]
            doc["_updatedAt"] = now
        else:
            _trash(state, doc, now)
    if not prune.files_only:
        _bump_room(state, room, -len(victims))
    low, high = ("$gte", "$lte") if prune.inclusive else ("$gt", "$lt")
    event: Doc = {
        "rid": room.id,
        "excludePinned": prune.exclude_pinned,
        "ignoreDiscussion": prune.ignore_discussion,
        "ts": {low: prune.oldest, high: prune.latest},
        "users": list(prune.users),
    }
    if prune.limit:
        event["ids"] = [d["_id"] for d in victims]
    if prune.files_only:
        event["filesOnly"] = True
    state.emit("deleteMessageBulk", event)
    return len(victims)


def visible(doc: Doc) -> bool:
    return not doc.get("_hidden")
