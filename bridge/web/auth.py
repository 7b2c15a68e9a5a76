"""Who may use the dashboard: admin-token or Matrix OpenID login, signed session cookies,
CSRF tokens.

A session is a cookie holding ``base64(payload).base64(HMAC-SHA256(key, payload))``; the
payload names the admin, the expiry and the session's CSRF token. Nothing is stored
server-side, so a restart with a configured ``web.session_secret`` keeps people logged
in, and logging out deletes the cookie (it also expires after ``web.session_minutes``).
Every secret comparison uses ``hmac.compare_digest``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass
from urllib.parse import quote

from aiohttp import ClientError, ClientSession, ClientTimeout

log = logging.getLogger(__name__)

SESSION_COOKIE = "bridge_admin_session"
LOGIN_COOKIE = "bridge_admin_login"  # double-submit token of the login form
TOKEN_ACTOR = "web:admin-token"  # noqa: S105 - an actor name, not a secret


@dataclass(frozen=True)
class Session:
    actor: str  # "web:admin-token" or the admin's Matrix user id
    csrf: str
    expires: int  # seconds since the epoch


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionCodec:
    def __init__(self, key: bytes, lifetime_s: int) -> None:
        self._key = key
        self.lifetime_s = lifetime_s

    def issue(self, actor: str, now: float | None = None) -> tuple[str, Session]:
        now = time.time() if now is None else now
        session = Session(actor, secrets.token_urlsafe(32), int(now) + self.lifetime_s)
        payload = _b64(
            json.dumps({"a": session.actor, "c": session.csrf, "e": session.expires}).encode()
        )
        return f"{payload}.{self._sign(payload)}", session

    def read(self, value: str | None, now: float | None = None) -> Session | None:
        """The session in a cookie value, or None if it is missing, forged or expired."""
        if not value or value.count(".") != 1:
            return None
        payload, signature = value.split(".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
            session = Session(str(data["a"]), str(data["c"]), int(data["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        if session.expires <= (time.time() if now is None else now):
            return None
        return session

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())


def same_secret(given: str | None, expected: str | None) -> bool:
    """Constant time, length included: the digests compared always have the same size."""
    if not given or not expected:
        return False
    return hmac.compare_digest(_digest(given), _digest(expected))


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def server_of(user_id: str) -> str | None:
    if not user_id.startswith("@") or ":" not in user_id:
        return None
    return user_id.split(":", 1)[1] or None


class OpenIdVerifier:
    """Checks a Matrix OpenID token with the user's own homeserver.

    A client obtains the token from ``/_matrix/client/v3/user/{userId}/openid/request_token``;
    the homeserver that issued it answers ``/_matrix/federation/v1/openid/userinfo`` with
    the user id it belongs to. We accept the token only if that server is the one in the
    claimed user id, so a server can vouch only for its own users.
    """

    def __init__(self, servers: dict[str, str], *, verify_ssl: bool = True) -> None:
        self._servers = servers
        self._verify_ssl = verify_ssl

    def base_url(self, server: str) -> str:
        return self._servers.get(server, f"https://{server}").rstrip("/")

    async def verify(self, user_id: str, token: str) -> bool:
        server = server_of(user_id)
        if server is None or not token:
            return False
        url = (
            f"{self.base_url(server)}/_matrix/federation/v1/openid/userinfo"
            f"?access_token={quote(token, safe='')}"
        )
        try:
            async with (
                ClientSession(timeout=ClientTimeout(total=10)) as http,
                http.get(url, ssl=True if self._verify_ssl else False) as resp,
            ):
                if resp.status != 200:
                    log.info("OpenID login refused by %s (HTTP %d)", server, resp.status)
                    return False
                body = await resp.json(content_type=None)
        except (ClientError, TimeoutError, ValueError) as e:
            log.warning("Cannot verify an OpenID token with %s: %s", server, type(e).__name__)
            return False
        sub = body.get("sub") if isinstance(body, dict) else None
        return isinstance(sub, str) and hmac.compare_digest(sub.encode(), user_id.encode())
