"""In-memory state of the simulated Rocket.Chat server, with an optional JSON snapshot.

Messages are stored as dicts in Rocket.Chat's document shape, dates as epoch ms ints;
:func:`render_rest` / :func:`render_ddp` turn them into ISO strings or EJSON ``$date``
(docs/rocketchat-notes.md).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import logging
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bridge.sandbox.rocketchat.permissions import DEFAULT_PERMISSIONS, DEFAULT_SETTINGS

log = logging.getLogger(__name__)

DATE_FIELDS = ("ts", "_updatedAt", "editedAt", "_deletedAt", "createdAt", "uploadedAt")
_ID_CHARS = string.ascii_letters + string.digits

Doc = dict[str, Any]
Listener = Callable[[str, Doc], None]


def random_id(length: int = 17) -> str:
    """Meteor ``Random.id()`` shape: 17 characters."""
    return "".join(secrets.choice(_ID_CHARS) for _ in range(length))


def stable_id(*parts: str) -> str:
    """A ``Random.id()``-shaped id that is the same every time for the same parts."""
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    return "".join(_ID_CHARS[b % len(_ID_CHARS)] for b in digest[:17])


def iso(ms: int) -> str:
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_iso_ms(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def _render(value: Any, date: Callable[[int], Any], key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _render(v, date, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, date) for v in value]
    if key in DATE_FIELDS and isinstance(value, int):
        return date(value)
    return value


def render_rest(doc: Doc) -> Doc:
    result: Doc = _render(doc, iso)
    return result


def render_ddp(doc: Doc) -> Doc:
    result: Doc = _render(doc, lambda ms: {"$date": ms})
    return result


def ddp_dates(doc: Doc) -> Doc:
    """Room and subscription documents are built with ISO dates (for REST); DDP sends
    the same dates as EJSON ``{"$date": ms}``."""
    out = dict(doc)
    for key in ("ts", "ls", "_updatedAt", "createdAt"):
        if isinstance(out.get(key), str):
            out[key] = {"$date": parse_iso_ms(out[key])}
    return out


@dataclass
class SimUser:
    id: str
    username: str
    name: str
    email: str
    password: str
    roles: list[str]
    tokens: list[str] = field(default_factory=list)
    active: bool = True
    created_at: int = 0
    updated_at: int = 0
    avatar_url: str | None = None
    user_type: str = "user"
    avatar_etag: str | None = None

    def public(self) -> Doc:
        return {"_id": self.id, "username": self.username, "name": self.name}

    def document(self) -> Doc:
        return {
            "_id": self.id,
            "createdAt": iso(self.created_at),
            "username": self.username,
            "emails": [{"address": self.email, "verified": False}],
            "type": self.user_type,
            "status": "offline",
            "active": self.active,
            "roles": list(self.roles),
            "_updatedAt": iso(self.updated_at),
            "name": self.name,
            "settings": {},
            **({"avatarETag": self.avatar_etag} if self.avatar_etag else {}),
        }


@dataclass
class SimRoom:
    id: str
    t: str
    name: str | None
    creator_id: str
    members: list[str]
    ts: int
    updated_at: int
    owners: list[str] = field(default_factory=list)
    moderators: list[str] = field(default_factory=list)
    ro: bool = False
    msgs: int = 0
    topic: str | None = None
    # Per-room retention override as rooms.saveRoomSettings stores it (``retention.*``).
    retention: dict[str, Any] | None = None

    def document(self, state: SimState) -> Doc:
        creator = state.users.get(self.creator_id)
        doc: Doc = {
            "_id": self.id,
            "t": self.t,
            "msgs": self.msgs,
            "usersCount": len(self.members),
            "ts": iso(self.ts),
            "ro": self.ro,
            "_updatedAt": iso(self.updated_at),
        }
        if self.t == "d":
            doc["usernames"] = sorted(
                state.users[m].username for m in self.members if m in state.users
            )
            doc["uids"] = list(self.members)
            return doc
        doc.update(
            name=self.name,
            fname=self.name,
            u={"_id": self.creator_id, "username": creator.username if creator else ""},
            sysMes=True,
            default=False,
        )
        if self.topic is not None:
            doc["topic"] = self.topic
        if self.retention:
            doc["retention"] = dict(self.retention)
        return doc

    def subscription(self, state: SimState, user: SimUser) -> Doc:
        """The member's ``rocketchat_subscription`` document (subscriptions.get, rooms-changed).

        Rocket.Chat keeps one per member and room (apps/meteor/app/lib/server/functions/
        createRoom.ts); the simulator derives it from the membership list.
        """
        name = self.name or ""
        if self.t == "d":
            other = next((state.users[m] for m in self.members if m != user.id), user)
            name = other.username
        roles = ["owner"] if user.id in self.owners else []
        roles += ["moderator"] if user.id in self.moderators else []
        doc: Doc = {
            "_id": stable_id(self.id, user.id),
            "rid": self.id,
            "u": {"_id": user.id, "username": user.username, "name": user.name},
            "name": name,
            "fname": name,
            "t": self.t,
            "ts": iso(self.ts),
            "ls": iso(self.updated_at),
            "_updatedAt": iso(self.updated_at),
            "open": True,
            "alert": False,
            "unread": 0,
            "userMentions": 0,
            "groupMentions": 0,
        }
        if roles:
            doc["roles"] = roles
        return doc


@dataclass
class SimState:
    """Everything the simulator knows. ``listeners`` receive change events (not saved)."""

    users: dict[str, SimUser] = field(default_factory=dict)
    rooms: dict[str, SimRoom] = field(default_factory=dict)
    messages: dict[str, Doc] = field(default_factory=dict)
    trash: dict[str, Doc] = field(default_factory=dict)
    uploads: dict[str, Doc] = field(default_factory=dict)
    # Test knob, not Rocket.Chat: how files of a name are served once uploaded (the
    # ``serve`` modes of routes_files.download).
    file_serving: dict[str, dict[str, str]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_SETTINGS))
    permissions: dict[str, list[str]] = field(
        default_factory=lambda: copy.deepcopy(DEFAULT_PERMISSIONS)
    )
    # Outgoing webhooks (routes_integrations.py).
    integrations: dict[str, Doc] = field(default_factory=dict)
    listeners: list[Listener] = field(default_factory=list, repr=False)
    _last_ms: int = 0

    def now_ms(self) -> int:
        """Strictly increasing server clock, so ``_updatedAt`` orders every change."""
        self._last_ms = max(int(time.time() * 1000), self._last_ms + 1)
        return self._last_ms

    def emit(self, kind: str, payload: Doc) -> None:
        for listener in list(self.listeners):
            listener(kind, payload)

    def user_by_name(self, username: str) -> SimUser | None:
        return next((u for u in self.users.values() if u.username == username), None)

    def user_by_token(self, user_id: str, token: str) -> SimUser | None:
        user = self.users.get(user_id)
        if user is None:
            return None
        return user if any(secrets.compare_digest(t, token) for t in user.tokens) else None

    def room_by_name(self, name: str) -> SimRoom | None:
        return next((r for r in self.rooms.values() if r.name == name), None)

    def add_user(
        self,
        username: str,
        password: str,
        roles: list[str],
        *,
        name: str | None = None,
        email: str | None = None,
        token: str | None = None,
        user_type: str = "user",
    ) -> SimUser:
        now = self.now_ms()
        user = SimUser(
            id=random_id(),
            username=username,
            name=name or username,
            email=email or f"{username}@example.invalid",
            password=password,
            roles=roles,
            tokens=[token] if token else [],
            created_at=now,
            updated_at=now,
            user_type=user_type,
        )
        self.users[user.id] = user
        return user

    def add_room(self, t: str, name: str | None, creator: SimUser, members: list[str]) -> SimRoom:
        now = self.now_ms()
        unique = list(dict.fromkeys([creator.id, *members]))
        # A direct room between two users is named by their ids, sorted and put together
        # (Rocket.Chat apps/meteor/app/lib/server/functions/createDirectRoom.ts).
        rid = "".join(sorted(unique)) if t == "d" and len(unique) == 2 else random_id()
        room = SimRoom(rid, t, name, creator.id, unique, now, now, owners=[creator.id])
        self.rooms[room.id] = room
        return room

    def reset(self) -> None:
        listeners = self.listeners
        fresh = SimState()
        self.__dict__.update(fresh.__dict__)
        self.listeners = listeners

    # -- snapshot --------------------------------------------------------------------

    def to_json(self) -> Doc:
        uploads = {
            k: {**v, "data": base64.b64encode(v["data"]).decode()} for k, v in self.uploads.items()
        }
        return {
            "users": {k: asdict(v) for k, v in self.users.items()},
            "rooms": {k: asdict(v) for k, v in self.rooms.items()},
            "messages": self.messages,
            "trash": self.trash,
            "uploads": uploads,
            "settings": self.settings,
            "permissions": self.permissions,
            "integrations": self.integrations,
            "last_ms": self._last_ms,
        }

    @classmethod
    def from_json(cls, data: Doc) -> SimState:
        state = cls()
        state.users = {k: SimUser(**v) for k, v in data["users"].items()}
        state.rooms = {k: SimRoom(**v) for k, v in data["rooms"].items()}
        state.messages = data["messages"]
        state.trash = data["trash"]
        state.uploads = {
            k: {**v, "data": base64.b64decode(v["data"])} for k, v in data["uploads"].items()
        }
        state.settings.update(data["settings"])
        state.permissions.update(data["permissions"])
        state.integrations = dict(data.get("integrations", {}))
        state._last_ms = int(data.get("last_ms", 0))
        return state

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.to_json()))
        tmp.replace(path)
        log.info("Saved simulator snapshot to %s", path)

    @classmethod
    def load(cls, path: Path) -> SimState:
        return cls.from_json(json.loads(path.read_text()))
