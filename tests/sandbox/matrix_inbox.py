"""A Matrix account's inbox as its owner's client sees it, for the demo tests: sync,
accept the invitations a given sender makes, and read the rooms' messages.

Why an incremental sync and not a repeated ``/sync?timeout=0``: Synapse caches a /sync
answer for ``caches.sync_response_cache_duration`` (2 minutes by default) after it is
computed, keyed on the user, device, ``since``, ``timeout``, filter and full_state
(synapse/handlers/sync.py, ``SyncHandler.wait_for_sync_for_user``; config/cache.py). The
same initial sync asked again within 2 minutes returns the first answer, so an invitation
that arrived meanwhile stays invisible. A client that follows ``next_batch`` asks a new
question each time; an empty long-poll that timed out is not cached (same function).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

SYNC_WAIT_MS = 1000


def matrix_call(base: str, token: str, path: str, body: Any = None, method: str = "GET") -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)  # noqa: S310
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
        return json.loads(response.read() or b"{}")


class MatrixInbox:
    """One account on its own homeserver; ``inviter``'s invitations are accepted."""

    def __init__(self, client_url: str, token: str, inviter: str) -> None:
        self._base = client_url.rstrip("/") + "/_matrix/client/v3"
        self._token = token
        self._inviter = inviter
        self._since: str | None = None
        self.rooms: set[str] = set()  # rooms joined
        self._invited: set[str] = set()  # invitations not accepted yet

    def _call(self, path: str, body: Any = None, method: str = "GET") -> Any:
        return matrix_call(self._base, self._token, path, body, method)

    def sync(self) -> None:
        """One sync round: accept the inviter's invitations, note the rooms joined."""
        query = {"timeout": str(SYNC_WAIT_MS if self._since else 0)}
        if self._since:
            query["since"] = self._since
        answer = self._call("/sync?" + urllib.parse.urlencode(query))
        self._since = str(answer["next_batch"])
        rooms = answer.get("rooms", {})
        for room_id, room in rooms.get("invite", {}).items():
            events = room.get("invite_state", {}).get("events", [])
            if any(e.get("sender") == self._inviter for e in events):
                self._invited.add(room_id)
        for room_id in sorted(self._invited):
            self._join(room_id)
        # A room joined before (the DM is reused, or the account's own tooling joined it).
        self.rooms.update(rooms.get("join", {}))

    def _join(self, room_id: str) -> None:
        try:
            self._call(f"/rooms/{urllib.parse.quote(room_id)}/join", {}, "POST")
        except urllib.error.HTTPError as e:
            # Our server can show the invitation before the inviter's server stored it:
            # the inviting server asks ours to sign the invite and persists it after
            # (Server-Server API, "Inviting to a room"), so a join that fast is refused
            # as "not invited" by the inviter's server. The next round tries again (an
            # incremental sync shows an invitation once).
            if e.code != 403:  # noqa: PLR2004 - HTTP Forbidden
                raise
            return
        self._invited.discard(room_id)
        self.rooms.add(room_id)

    def notices(self, room_id: str) -> list[str]:
        """The inviter's ``m.notice`` bodies in a room, newest first (``/messages``
        fetches from the inviter's server what ours has not got yet)."""
        query = urllib.parse.urlencode({"dir": "b", "limit": "100"})
        answer = self._call(f"/rooms/{urllib.parse.quote(room_id)}/messages?{query}")
        return [
            str(e["content"].get("body"))
            for e in answer.get("chunk", [])
            if e.get("sender") == self._inviter
            and e.get("type") == "m.room.message"
            and e.get("content", {}).get("msgtype") == "m.notice"
        ]

    def notice_starting(self, prefix: str) -> tuple[str, str] | None:
        """After one sync round: (room, body) of the inviter's notice that starts so."""
        self.sync()
        for room_id in sorted(self.rooms):
            for body in self.notices(room_id):
                if body.startswith(prefix):
                    return room_id, body
        return None
