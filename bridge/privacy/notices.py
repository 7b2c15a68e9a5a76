"""Notices to the admins of recipient servers (GDPR Art. 17(2) and 19, CCPA §1798.105(c)).

Contacts come from the server's ``/.well-known/matrix/support`` (MSC1929), or else from
``privacy.contacts`` in the config. The notice is a DM from the bridge bot in two parts:
a human-readable ``m.notice`` and a machine-readable event of type
:data:`REQUEST_EVENT` that another instance of this bridge (or a script) can act on and
answer with :data:`ACK_EVENT` (docs/erasure.md has both formats).
"""

from __future__ import annotations

import datetime as dt
import logging
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import aiohttp

from bridge.ids import UserID

log = logging.getLogger(__name__)

REQUEST_EVENT = "org.rcbridge.erasure_request"
ACK_EVENT = "org.rcbridge.erasure_ack"
NOTICE_VERSION = 1
# Roles defined by MSC1929; a security contact is also a right person for a data request.
ADMIN_ROLES = ("m.role.admin", "m.role.security")


@dataclass(frozen=True)
class Contacts:
    users: tuple[UserID, ...]
    source: str  # "well-known", "config" or "none"
    reason: str | None = None  # why none were found


def parse_support(body: object) -> tuple[UserID, ...]:
    """Matrix ids of admin/security contacts in an MSC1929 document."""
    if not isinstance(body, dict):
        return ()
    found: list[UserID] = []
    for contact in body.get("contacts") or []:
        if not isinstance(contact, dict):
            continue
        mxid, role = contact.get("matrix_id"), contact.get("role")
        if isinstance(mxid, str) and mxid.startswith("@") and role in ADMIN_ROLES:
            found.append(UserID(mxid))
    # The MSC's first draft called the list "admins"; some servers still publish that.
    for contact in body.get("admins") or []:
        if isinstance(contact, dict) and isinstance(contact.get("matrix_id"), str):
            found.append(UserID(contact["matrix_id"]))
    return tuple(dict.fromkeys(found))


class SupportLookup:
    """MSC1929 lookup with a short timeout; ``ssl_context`` lets tests trust their CA."""

    def __init__(
        self,
        configured: Mapping[str, Sequence[str]],
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 5.0,
    ) -> None:
        self._configured = configured
        self.ssl_context = ssl_context
        self._timeout = timeout

    async def contacts(self, server: str) -> Contacts:
        published, reason = await self._well_known(server)
        if published:
            return Contacts(published, "well-known")
        configured = tuple(UserID(u) for u in self._configured.get(server, ()))
        if configured:
            return Contacts(configured, "config")
        return Contacts((), "none", reason)

    async def _well_known(self, server: str) -> tuple[tuple[UserID, ...], str]:
        url = f"https://{server}/.well-known/matrix/support"
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(url, ssl=self.ssl_context or True) as resp,
            ):
                if resp.status != 200:
                    return (), f"{url} answered {resp.status}"
                body = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            log.info("No MSC1929 support document from %s: %s", server, type(e).__name__)
            return (), f"{url} unreachable ({type(e).__name__})"
        users = parse_support(body)
        return users, "" if users else f"{url} lists no admin contact"


@dataclass(frozen=True)
class NoticeContent:
    request_id: str
    deadline_ms: int
    rooms: Mapping[str, Sequence[str]]  # room id -> event ids
    organisation: str  # our homeserver name

    def text(self) -> str:
        deadline = dt.datetime.fromtimestamp(self.deadline_ms / 1000, tz=dt.UTC).date()
        events = sum(len(v) for v in self.rooms.values())
        lines = [
            f"Erasure request {self.request_id} from {self.organisation}.",
            f"A person has asked us to erase their personal data (GDPR Art. 17). Your server "
            f"received {events} of their messages in {len(self.rooms)} room(s) through our "
            "Rocket.Chat bridge. We have redacted them where we could; please remove your "
            "copies (including redacted originals kept by your server, media caches and "
            f"backups where feasible) by {deadline.isoformat()}.",
            "The rooms and event ids are in the machine-readable event that follows this "
            f"message (type {REQUEST_EVENT}). To confirm, reply with an event of type "
            f"{ACK_EVENT} carrying the request id.",
        ]
        return "\n\n".join(lines)

    def event(self) -> dict[str, object]:
        return {
            "version": NOTICE_VERSION,
            "request_id": self.request_id,
            "deadline": self.deadline_ms,
            "from": self.organisation,
            "rooms": {room: list(events) for room, events in sorted(self.rooms.items())},
            "ack_event_type": ACK_EVENT,
        }
