"""What the real server does when a person is deleted, renamed or changes their avatar.

* Deleting (apps/meteor/app/lib/server/functions/deleteUser.ts): by ``Message_ErasureType``,
  ``Delete`` removes the person's messages and files, ``Unlink`` hands them to ``rocket.cat``
  with the alias "Removed User" (Messages.unlinkUserId), ``Keep`` leaves them. In every case
  their reactions, DMs, subscriptions and avatar go, and rooms they were the last owner of
  need ``confirmRelinquish``. Only ``Delete`` and ``Unlink`` are announced
  (``Users:Deleted``), so that messages do not vanish from open sessions under ``Keep``.
  The bulk updates send no per-message stream events.
* Renaming (saveUserIdentity.ts, setUsername.ts, setRealName.ts): a new username is
  written into the person's messages and always announced (``Users:NameChanged``); a new
  real name is announced only when ``UI_Use_Real_Name`` is on.
* Avatars (setUserAvatar.ts, resetAvatar): ``updateAvatar`` with the username and the new
  ETag (none after a reset).
"""

from __future__ import annotations

from typing import Any

from bridge.sandbox.rocketchat.responses import failure, meteor_error
from bridge.sandbox.rocketchat.state import Doc, SimRoom, SimState, SimUser, random_id

ROCKET_CAT = "rocket.cat"
REMOVED_USER_ALIAS = "Removed User"  # the English text of the i18n key Removed_User


def last_owned_rooms(state: SimState, user: SimUser) -> list[SimRoom]:
    """Rooms with other members where this person is the only owner
    (getRoomsWithSingleOwner.ts ``shouldRemoveOrChangeOwner``)."""
    return [
        r
        for r in state.rooms.values()
        if r.t != "d"
        and r.owners == [user.id]
        and user.id in r.members
        and any(m != user.id for m in r.members)
    ]


def delete_user(state: SimState, user: SimUser, *, confirm_relinquish: bool) -> list[Doc]:
    """deleteUser.ts; returns the rooms deleted with the person (as the OpenAPI file's
    ``deletedRooms`` objects)."""
    if user.id == ROCKET_CAT:
        raise meteor_error(
            "error-action-not-allowed", "Deleting the rocket.cat user is not allowed"
        )
    single = last_owned_rooms(state, user)
    if single and not confirm_relinquish:
        details: Any = [{"rid": r.id, "name": r.name} for r in single]
        raise failure("[user-last-owner]", "user-last-owner", details)
    deleted_rooms = _relinquish(state, user)
    erasure = str(state.settings["Message_ErasureType"])
    replacement = state.users.get(ROCKET_CAT)
    if erasure == "Delete":
        _remove_messages_of(state, user)
    elif erasure == "Unlink" and replacement is not None:
        _unlink_messages_of(state, user, replacement)
    touched = [r for r in state.rooms.values() if user.id in r.members]
    for room in [r for r in state.rooms.values() if r.t == "d" and user.id in r.members]:
        deleted_rooms.append(room.document(state))
        del state.rooms[room.id]
    _remove_reactions_of(state, user)
    for room in touched:
        if room.id in state.rooms:
            room.members.remove(user.id)
            room.updated_at = state.now_ms()
    del state.users[user.id]
    for room in touched:
        if room.id in state.rooms:
            state.emit("room", {"rid": room.id})
    if erasure == "Delete":
        state.emit("user.deleted", {"userId": user.id, "messageErasureType": "Delete"})
    elif erasure == "Unlink" and replacement is not None:
        state.emit(
            "user.deleted",
            {
                "userId": user.id,
                "messageErasureType": "Unlink",
                "replaceByUser": {
                    "_id": replacement.id,
                    "username": replacement.username,
                    "alias": REMOVED_USER_ALIAS,
                },
            },
        )
    return deleted_rooms


def _relinquish(state: SimState, user: SimUser) -> list[Doc]:
    """relinquishRoomOwnerships.ts: the oldest other member takes over a room the person
    owned alone; a room nobody else is in is deleted."""
    deleted = []
    for room in list(state.rooms.values()):
        if room.t == "d" or user.id not in room.members:
            continue
        others = [m for m in room.members if m != user.id]
        if not others:
            deleted.append(room.document(state))
            del state.rooms[room.id]
        elif room.owners == [user.id]:
            room.owners = [others[0]]
    return deleted


def _remove_messages_of(state: SimState, user: SimUser) -> None:
    """Messages.removeByUserId (documents go to the trash) and the files they carried."""
    now = state.now_ms()
    for doc in [d for d in state.messages.values() if d["u"]["_id"] == user.id]:
        del state.messages[doc["_id"]]
        state.trash[doc["_id"]] = {"_id": doc["_id"], "rid": doc["rid"], "_deletedAt": now}
        for f in doc.get("files") or ([doc["file"]] if doc.get("file") else []):
            state.uploads.pop(f.get("_id"), None)
        room = state.rooms.get(doc["rid"])
        if room is not None:
            room.msgs = max(0, room.msgs - 1)


def _unlink_messages_of(state: SimState, user: SimUser, replacement: SimUser) -> None:
    for doc in state.messages.values():
        if doc["u"]["_id"] == user.id:
            doc["u"] = {"_id": replacement.id, "username": replacement.username}
            doc["alias"] = REMOVED_USER_ALIAS


def _remove_reactions_of(state: SimState, user: SimUser) -> None:
    """Messages.removeReactionsByUsername: every type of erasure takes the reactions."""
    for doc in state.messages.values():
        reactions: dict[str, Doc] = doc.get("reactions") or {}
        for emoji in list(reactions):
            names = reactions[emoji]["usernames"]
            if user.username in names:
                names.remove(user.username)
                if not names:
                    del reactions[emoji]


def rename(state: SimState, user: SimUser, username: str | None, name: str | None) -> None:
    """Apply a new username and/or real name and announce them as the server does."""
    username_changed = username is not None and username != user.username
    name_changed = name is not None and name != user.name
    if username_changed and username is not None:
        old = user.username
        user.username = username
        for doc in state.messages.values():
            if doc["u"]["_id"] == user.id:
                doc["u"]["username"] = username  # Messages.updateAllUsernamesByUserId
            edited = doc.get("editedBy")
            if isinstance(edited, dict) and edited.get("_id") == user.id:
                edited["username"] = username
            reactions: dict[str, Doc] = doc.get("reactions") or {}
            for entry in reactions.values():
                entry["usernames"] = [username if n == old else n for n in entry["usernames"]]
    if name_changed and name is not None:
        user.name = name
    user.updated_at = state.now_ms()
    if username_changed or (name_changed and state.settings["UI_Use_Real_Name"]):
        state.emit(
            "user.nameChanged", {"_id": user.id, "name": user.name, "username": user.username}
        )


def set_roles(state: SimState, user: SimUser, roles: list[str]) -> None:
    """A role added or removed is ``roles-change`` ``{type, _id: role, u}``."""
    added = [r for r in roles if r not in user.roles]
    removed = [r for r in user.roles if r not in roles]
    user.roles = list(roles)
    who = {"_id": user.id, "username": user.username, "name": user.name}
    for kind, changed in (("added", added), ("removed", removed)):
        for role in changed:
            state.emit("user.roleUpdate", {"type": kind, "_id": role, "u": dict(who)})


def avatar_changed(state: SimState, user: SimUser, url: str | None) -> None:
    user.avatar_url = url
    user.avatar_etag = random_id() if url is not None else None
    user.updated_at = state.now_ms()
    event: Doc = {"username": user.username}
    if user.avatar_etag is not None:
        event["etag"] = user.avatar_etag
    state.emit("user.avatarUpdate", event)
