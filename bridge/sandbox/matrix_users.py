"""Users and admin calls on sandbox homeservers.

Users are created with Synapse's shared-secret admin register API: ~0.05 s per user with
``bcrypt_rounds: 4``, against ~1.3 s for the ``register_new_matrix_user`` CLI
(docs/synapse-notes.md, Loopback federation in tests).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from enum import Enum
from typing import Any
from urllib.parse import quote

import aiohttp
from mautrix.api import HTTPAPI, Method, Path
from mautrix.client import ClientAPI
from mautrix.errors import MatrixRequestError
from mautrix.types import DeviceID, EventID, RoomID, UserID

from bridge.sandbox.errors import AdminApiError
from bridge.sandbox.models import Homeserver, MatrixUser

log = logging.getLogger(__name__)

_REGISTER_PATH = "/_synapse/admin/v1/register"


def registration_mac(
    shared_secret: str, nonce: str, username: str, password: str, *, admin: bool
) -> str:
    """HMAC-SHA1 over ``nonce\\0username\\0password\\0admin|notadmin``, as Synapse expects."""
    mac = hmac.new(shared_secret.encode(), digestmod=hashlib.sha1)
    for part in (nonce, username, password, "admin" if admin else "notadmin"):
        if part != nonce:
            mac.update(b"\x00")
        mac.update(part.encode())
    return mac.hexdigest()


async def admin_request(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    token: str | None = None,
    body: dict[str, Any] | None = None,
) -> tuple[int, dict[str, Any]]:
    """Call a Synapse admin API and return ``(status, json body)`` without raising."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.request(method, url, json=body, headers=headers) as response:
        data = await response.json(content_type=None)
        return response.status, data if isinstance(data, dict) else {"body": data}


async def register_user(
    session: aiohttp.ClientSession,
    homeserver: Homeserver,
    localpart: str,
    password: str,
    *,
    admin: bool = False,
) -> MatrixUser:
    """Register ``localpart`` with the shared secret and return it with a logged-in device."""
    url = homeserver.client_url + _REGISTER_PATH
    status, data = await admin_request(session, "GET", url)
    if status != 200:
        raise AdminApiError("GET", url, status, str(data))
    mac = registration_mac(
        homeserver.registration_shared_secret, data["nonce"], localpart, password, admin=admin
    )
    body = {
        "nonce": data["nonce"],
        "username": localpart,
        "password": password,
        "admin": admin,
        "mac": mac,
    }
    status, data = await admin_request(session, "POST", url, body=body)
    if status != 200:
        raise AdminApiError("POST", url, status, str(data))
    log.debug("registered %s (admin=%s)", data["user_id"], admin)
    return MatrixUser(
        user_id=UserID(data["user_id"]),
        password=password,
        access_token=data["access_token"],
        device_id=data["device_id"],
        homeserver=homeserver,
    )


class ResetOutcome(Enum):
    """Result of asking a server to retry a federation destination now."""

    RESET = "reset"  # the destination was backed off; catch-up starts at once
    NOT_NEEDED = "not_needed"  # 400: not in backoff, nothing to wake
    UNKNOWN_DESTINATION = "unknown_destination"  # 404: never contacted, nothing queued


async def reset_connection(
    session: aiohttp.ClientSession, homeserver: Homeserver, admin: MatrixUser, destination: str
) -> ResetOutcome:
    """Wake federation catch-up from ``homeserver`` to ``destination``.

    Without this a restarted server waits for the backoff to expire and then for the
    hard-coded 60 s catch-up loop (docs/synapse-notes.md, Retry timing).
    """
    url = (
        f"{homeserver.client_url}/_synapse/admin/v1/federation/destinations/"
        f"{quote(destination, safe='')}/reset_connection"
    )
    status, data = await admin_request(session, "POST", url, token=admin.access_token, body={})
    if status == 200:
        return ResetOutcome.RESET
    if status == 400:
        return ResetOutcome.NOT_NEEDED
    if status == 404:
        return ResetOutcome.UNKNOWN_DESTINATION
    raise AdminApiError("POST", url, status, str(data))


@asynccontextmanager
async def matrix_client(user: MatrixUser) -> AsyncIterator[ClientAPI]:
    """A mautrix client acting as ``user`` on its homeserver's plain client port."""
    api = HTTPAPI(user.homeserver.client_url, user.access_token)
    try:
        yield ClientAPI(user.user_id, DeviceID(user.device_id), api=api)
    finally:
        await api.session.close()


async def wait_for_event(
    client: ClientAPI,
    room_id: RoomID,
    event_id: EventID,
    *,
    redacted: bool = False,
    limit_s: float = 30.0,
) -> dict[str, Any]:
    """Poll ``GET /rooms/{room}/event/{event}`` until the client's server has the event.

    With ``redacted=True``, wait until the server shows it redacted (empty content), the
    client-API view of Synapse's redaction retention (docs/synapse-notes.md): the remote database
    may keep the original for a while. Returns
    the raw event JSON; raises TimeoutError naming the last failure.
    """
    path = Path.v3.rooms[room_id].event[event_id]
    deadline = time.monotonic() + limit_s
    last = "never fetched"
    while True:
        try:
            event = await client.api.request(Method.GET, path)
        except MatrixRequestError as error:
            last = f"{error.http_status} {error.errcode}"
        else:
            if not redacted or event.get("content") == {}:
                return dict(event)
            last = "still has content"
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{event_id} not {'redacted' if redacted else 'present'} on {client.mxid}'s "
                f"server after {limit_s:.0f} s ({last})"
            )
        await asyncio.sleep(0.1)
