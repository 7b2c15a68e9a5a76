"""A minimal appservice registration for sandbox tests.

The bridge's ``generate-registration`` command produces the real one; this exists so the
sandbox and its tests can register an appservice (and masquerade as its ghosts) without
the bridge.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from mautrix.api import HTTPAPI
from mautrix.client import ClientAPI
from mautrix.types import UserID

from bridge.sandbox.errors import AdminApiError
from bridge.sandbox.models import Homeserver


@dataclass(frozen=True)
class AppserviceRegistration:
    """An appservice registration whose ghosts are ``@<user_prefix>*:<server_name>``."""

    id: str
    url: str
    as_token: str = field(repr=False)
    hs_token: str = field(repr=False)
    sender_localpart: str
    user_prefix: str
    server_name: str

    @classmethod
    def generate(
        cls,
        server_name: str,
        url: str,
        *,
        id: str = "sandbox",  # noqa: A002 - the registration's own key name
        sender_localpart: str = "sandboxbot",
        user_prefix: str = "sandbox_ghost_",
    ) -> AppserviceRegistration:
        """A registration with fresh random tokens."""
        return cls(
            id=id,
            url=url,
            as_token=secrets.token_hex(24),
            hs_token=secrets.token_hex(24),
            sender_localpart=sender_localpart,
            user_prefix=user_prefix,
            server_name=server_name,
        )

    @property
    def sender(self) -> UserID:
        return UserID(f"@{self.sender_localpart}:{self.server_name}")

    def ghost(self, name: str) -> UserID:
        """The user ID of the ghost called ``name`` (inside the exclusive namespace)."""
        return UserID(f"@{self.user_prefix}{name}:{self.server_name}")

    def to_dict(self) -> dict[str, Any]:
        pattern = f"{re.escape(self.user_prefix)}.*:{re.escape(self.server_name)}"
        return {
            "id": self.id,
            "url": self.url,
            "as_token": self.as_token,
            "hs_token": self.hs_token,
            "sender_localpart": self.sender_localpart,
            # Ghost traffic must not be throttled like a human's.
            "rate_limited": False,
            "namespaces": {
                "users": [{"exclusive": True, "regex": f"@{pattern}"}],
                "aliases": [{"exclusive": True, "regex": f"#{pattern}"}],
                "rooms": [],
            },
        }

    def write(self, path: Path) -> Path:
        """Write the registration (JSON, which Synapse reads as YAML) and return ``path``."""
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        path.chmod(0o600)
        return path


async def register_ghost(
    session: aiohttp.ClientSession,
    homeserver: Homeserver,
    registration: AppserviceRegistration,
    name: str,
) -> UserID:
    """Register the ghost ``name`` through the appservice API (idempotent)."""
    # Without ``?user_id=``: Synapse refuses to let an appservice masquerade as a user it
    # has not registered yet ("Application service has not registered this user").
    url = f"{homeserver.client_url}/_matrix/client/v3/register"
    body = {
        "type": "m.login.application_service",
        "username": f"{registration.user_prefix}{name}",
        "inhibit_login": True,
    }
    headers = {"Authorization": f"Bearer {registration.as_token}"}
    async with session.post(url, json=body, headers=headers) as response:
        data = await response.json(content_type=None)
        if response.status != 200 and data.get("errcode") != "M_USER_IN_USE":
            raise AdminApiError("POST", url, response.status, str(data))
    return registration.ghost(name)


@asynccontextmanager
async def ghost_client(
    homeserver: Homeserver, registration: AppserviceRegistration, name: str
) -> AsyncIterator[ClientAPI]:
    """A mautrix client for the appservice acting as its ghost ``name`` (``?user_id=``).

    The ghost is registered first if needed. ``homeserver`` must be the one the
    registration is loaded on.
    """
    async with aiohttp.ClientSession() as session:
        ghost = await register_ghost(session, homeserver, registration, name)
        api = HTTPAPI(
            homeserver.client_url, registration.as_token, client_session=session, as_user_id=ghost
        )
        yield ClientAPI(ghost, api=api)
