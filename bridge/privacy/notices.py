"""Notices to the admins of recipient servers (GDPR Art. 17(2) and 19, CCPA §1798.105(c)).

Contacts come from the partner register, else from the server's
``/.well-known/matrix/support`` (MSC1929, now the Matrix spec's "GET
/.well-known/matrix/support"), else from ``privacy.contacts`` in the config. A contact
may be a Matrix id, an e-mail address, or both; e-mail goes through the outbox
(``bridge.privacy.mail``). The notice is a DM from the bridge bot in two parts:
a human-readable ``m.notice`` and a machine-readable event of type
:data:`REQUEST_EVENT` that another instance of this bridge (or a script) can act on and
answer with :data:`ACK_EVENT` (docs/erasure.md has both formats).
"""

from __future__ import annotations

import datetime as dt
import logging
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import aiohttp
import attrs

from bridge.ids import UserID
from bridge.pipeline.actions import omit_when_default

log = logging.getLogger(__name__)

REQUEST_EVENT = "org.rcbridge.erasure_request"
ACK_EVENT = "org.rcbridge.erasure_ack"
# A receiver's answers (docs/erasure-protocol.md): received, applied, refused.
RESPONSE_EVENT = "org.rcbridge.erasure_response"
NOTICE_VERSION = 2
LEGAL_BASIS = {"gdpr": "GDPR Art. 17(2)", "ccpa": "CCPA §1798.105(c)"}
# Roles defined by MSC1929; a security contact is also a right person for a data request.
ADMIN_ROLES = ("m.role.admin", "m.role.security")


@dataclass(frozen=True)
class Contacts:
    users: tuple[UserID, ...]
    source: str  # "register", "well-known", "config" or "none"
    reason: str | None = None  # why none were found
    emails: tuple[str, ...] = ()

    @property
    def any(self) -> bool:
        return bool(self.users or self.emails)


# The partner register's contacts of a server: (Matrix ids, e-mail addresses).
RegisterContacts = Callable[[str], Awaitable[tuple[tuple[str, ...], tuple[str, ...]]]]


def parse_support(body: object) -> tuple[UserID, ...]:
    """Matrix ids of admin/security contacts in an MSC1929 document."""
    return parse_support_contacts(body)[0]


def parse_support_contacts(body: object) -> tuple[tuple[UserID, ...], tuple[str, ...]]:
    """Matrix ids and e-mail addresses of admin/security contacts in an MSC1929 document.

    A contact has a ``role`` and at least one of ``matrix_id`` and ``email_address``
    (Matrix spec, "GET /.well-known/matrix/support"); one with only an address counts."""
    if not isinstance(body, dict):
        return (), ()
    found: list[UserID] = []
    emails: list[str] = []
    for contact in body.get("contacts") or []:
        if not isinstance(contact, dict) or contact.get("role") not in ADMIN_ROLES:
            continue
        mxid, email = contact.get("matrix_id"), contact.get("email_address")
        if isinstance(mxid, str) and mxid.startswith("@"):
            found.append(UserID(mxid))
        if isinstance(email, str) and _email_ok(email):
            emails.append(email)
    # The MSC's first draft called the list "admins"; some servers still publish that.
    for contact in body.get("admins") or []:
        if isinstance(contact, dict) and isinstance(contact.get("matrix_id"), str):
            found.append(UserID(contact["matrix_id"]))
    return tuple(dict.fromkeys(found)), tuple(dict.fromkeys(emails))


def _email_ok(value: str) -> bool:
    """A published address is used only if it is one the bridge would accept itself (no
    line breaks for a header, one @): a remote document must not steer our mail."""
    # Imported here: partner_values imports nothing of this module, but keeps its
    # checks in one place.
    from bridge.privacy.partner_values import PartnerError, check_email  # noqa: PLC0415

    try:
        check_email(value)
    except PartnerError:
        return False
    return True


class SupportLookup:
    """MSC1929 lookup with a short timeout; ``ssl_context`` lets tests trust their CA."""

    def __init__(
        self,
        configured: Mapping[str, Sequence[str]],
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 5.0,
        register: RegisterContacts | None = None,
        https_port: int | None = None,
    ) -> None:
        self._configured = configured
        self.ssl_context = ssl_context
        self._timeout = timeout
        self.register = register
        # Only for a sandbox that cannot listen on 443 (bridge.sandbox.support_front).
        self.https_port = https_port

    async def contacts(self, server: str) -> Contacts:
        if self.register is not None:
            users, emails = await self.register(server)
            if users or emails:
                return Contacts(tuple(UserID(u) for u in users), "register", None, emails)
        (published, emails), reason = await self._well_known(server)
        if published or emails:
            return Contacts(published, "well-known", None, emails)
        configured = tuple(UserID(u) for u in self._configured.get(server, ()))
        if configured:
            return Contacts(configured, "config")
        return Contacts((), "none", reason)

    async def _well_known(
        self, server: str
    ) -> tuple[tuple[tuple[UserID, ...], tuple[str, ...]], str]:
        # On the *hostname* of the server name, without its port (Matrix spec, "GET
        # /.well-known/matrix/support": like the client well-known URI).
        host = server.rsplit(":", 1)[0] if not server.endswith("]") else server
        port = "" if self.https_port is None else f":{self.https_port}"
        url = f"https://{host}{port}/.well-known/matrix/support"
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(url, ssl=self.ssl_context or True) as resp,
            ):
                if resp.status != 200:
                    return ((), ()), f"{url} answered {resp.status}"
                body = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            log.info("No MSC1929 support document from %s: %s", server, type(e).__name__)
            return ((), ()), f"{url} unreachable ({type(e).__name__})"
        found = parse_support_contacts(body)
        return found, "" if found[0] or found[1] else f"{url} lists no admin contact"


@omit_when_default("organisation")
@attrs.frozen
class NoticeContent:
    """What a notice says. The privacy layer builds it when it queues the notice (the
    ``Notice`` payload carries it); the connector that sends it adds ``organisation``."""

    request_id: str
    deadline_ms: int
    rooms: dict[str, tuple[str, ...]]  # room id -> event ids
    media: tuple[str, ...] = ()  # mxc URIs of the subject's media we deleted
    subject: str = ""  # the subject's pseudonym (pseudonym:<hex>)
    legal_basis: str = LEGAL_BASIS["gdpr"]
    organisation: str = ""  # our homeserver name

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
            "events": [
                {"room_id": room, "event_id": event}
                for room, events in sorted(self.rooms.items())
                for event in events
            ],
            "media": list(self.media),
            "subject": self.subject,
            "legal_basis": self.legal_basis,
            "ack_event_type": ACK_EVENT,
            "response_event_type": RESPONSE_EVENT,
        }
