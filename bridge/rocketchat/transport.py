"""HTTP transport for the Rocket.Chat REST API: auth headers, envelopes, retries.

* Auth: ``X-User-Id`` + ``X-Auth-Token`` on every authenticated call; the token is a
  login token or a personal access token, the server treats both alike.
* 429: wait until ``X-RateLimit-Reset`` (epoch **milliseconds**), then retry.
* 5xx and connection errors: retried with capped exponential backoff.
* Every request has a timeout.
* Redirects are not followed: they would carry the credentials to wherever they point.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
import attrs

from bridge.rctypes.models import RCLogin
from bridge.rocketchat.errors import (
    RCAPIError,
    RCConnectionError,
    RCProtocolError,
    RCRateLimitError,
    RCServerError,
    error_from_response,
)
from bridge.slots import slot_wait_limit

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]


@attrs.frozen
class RetryPolicy:
    """How hard the transport tries before raising.

    ``wait_on_rate_limit=False`` makes a 429 raise :class:`RCRateLimitError` at once so a
    durable outbox can schedule the retry itself.
    """

    attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 5.0
    timeout: float = 30.0
    wait_on_rate_limit: bool = True
    max_rate_limit_wait: float = 120.0
    rate_limit_retries: int = 5


def _retry_after(reset_header: str | None) -> tuple[int | None, float]:
    """Seconds until ``X-RateLimit-Reset`` (epoch ms); 1 s when the header is absent."""
    if reset_header is None:
        return None, 1.0
    try:
        reset_ms = int(float(reset_header))
    except ValueError:
        return None, 1.0
    return reset_ms, max(0.0, reset_ms / 1000 - time.time())


class RCTransport:
    """One aiohttp session against one Rocket.Chat server."""

    def __init__(
        self,
        base_url: str,
        *,
        login: RCLogin | None = None,
        retry: RetryPolicy | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.login = login
        self.retry = retry or RetryPolicy()
        self._session = session
        self._owns_session = session is None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.retry.timeout)
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    def auth_headers(self) -> dict[str, str]:
        if self.login is None:
            return {}
        return {"X-User-Id": self.login.user_id, "X-Auth-Token": self.login.auth_token}

    async def call(
        self,
        method: str,
        endpoint: str,
        *,
        json_body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
        form: aiohttp.FormData | None = None,
        auth: bool = True,
        once: bool = False,
    ) -> JSONDict:
        """Call ``/api/v1/<endpoint>`` and return the success body (envelope included).

        ``once``: a 5xx or a lost connection is raised, not retried, for calls that are
        not idempotent: the server may have acted before the answer was lost, and only
        the caller can check that before trying again.
        """
        failures = 0
        rate_limited = 0
        slept = 0.0
        # Inside an outbox slot, sleep at most this long in total (bridge/slots.py).
        bound = slot_wait_limit()
        while True:
            try:
                return await self._once(
                    method,
                    endpoint=endpoint,
                    json_body=json_body,
                    params=params,
                    form=form,
                    auth=auth,
                )
            except RCRateLimitError as exc:
                rate_limited += 1
                if (
                    not self.retry.wait_on_rate_limit
                    or rate_limited > self.retry.rate_limit_retries
                    or exc.retry_after > self.retry.max_rate_limit_wait
                    or (bound is not None and slept + exc.retry_after > bound)
                ):
                    raise
                log.info("Rate limited on %s, waiting %.2f s", endpoint, exc.retry_after)
                await asyncio.sleep(exc.retry_after)
                slept += exc.retry_after
            except (RCServerError, RCConnectionError) as exc:
                failures += 1
                if once or failures >= self.retry.attempts:
                    raise
                delay = min(self.retry.max_delay, self.retry.base_delay * 2 ** (failures - 1))
                delay *= 0.5 + random.random() / 2  # noqa: S311 - jitter, not crypto
                if bound is not None and slept + delay > bound:
                    raise
                slept += delay
                log.warning("%s %s failed (%s), retry in %.2f s", method, endpoint, exc, delay)
                await asyncio.sleep(delay)

    async def _once(
        self,
        method: str,
        *,
        endpoint: str,
        json_body: Mapping[str, Any] | None,
        params: Mapping[str, str] | None,
        form: aiohttp.FormData | None,
        auth: bool,
    ) -> JSONDict:
        url = f"{self.base_url}/api/v1/{endpoint}"
        headers = self.auth_headers() if auth else {}
        log.debug("%s %s", method, endpoint)
        try:
            async with self.session.request(
                method,
                url,
                json=json_body if form is None else None,
                data=form,
                params=params,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.retry.timeout),
                # A redirect would carry X-User-Id/X-Auth-Token wherever it points.
                allow_redirects=False,
            ) as resp:
                text = await resp.text()
                status = resp.status
                reset_header = resp.headers.get("X-RateLimit-Reset")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RCConnectionError(f"{method} {endpoint}: {exc!r}") from exc
        if 300 <= status < 400:
            raise RCProtocolError(
                f"{endpoint}: HTTP {status} redirect, not followed with the bridge's "
                "credentials; set rocketchat.url to the address Rocket.Chat answers on"
            )
        return self._decode(status, text, reset_header, endpoint)

    @staticmethod
    def _decode(status: int, text: str, reset_header: str | None, endpoint: str) -> JSONDict:
        try:
            body = json.loads(text) if text else {}
        except ValueError:
            body = None
        if not isinstance(body, dict):
            if status >= 500 or status == 429:
                reset_ms, wait = _retry_after(reset_header)
                raise error_from_response(status, {}, reset_at_ms=reset_ms, retry_after=wait)
            raise RCProtocolError(f"{endpoint}: HTTP {status} with a non-JSON body")
        # login/logout answer {"status": "success"}; everything else {"success": true}.
        ok = body.get("success") is True or body.get("status") == "success"
        if 200 <= status < 300 and ok:
            return body
        reset_ms, wait = _retry_after(reset_header)
        error: RCAPIError = error_from_response(
            status, body, reset_at_ms=reset_ms, retry_after=wait
        )
        if 200 <= status < 300:
            # {"success": false} with a 2xx is not something the server does; keep it typed.
            error = RCAPIError(status, error.error, error.error_type, error.details)
        raise error
