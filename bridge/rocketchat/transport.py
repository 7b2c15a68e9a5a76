"""HTTP transport for the Rocket.Chat REST API: auth headers, envelopes, retries.

* Auth: ``X-User-Id`` + ``X-Auth-Token`` on every authenticated call; the token is a
  login token or a personal access token, the server treats both alike.
* 429: wait until ``X-RateLimit-Reset`` (epoch **milliseconds**), then retry.
* 5xx and connection errors: retried with the bridge's backoff (bridge.pipeline.backoff).
* Retries run through tenacity; inside an outbox slot (bridge.slots) a call sleeps at most
  the slot's bound in total and then raises, and the outbox schedules the retry.
* Every request has a timeout.
* Redirects are not followed: they would carry the credentials to wherever they point.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
import attrs
from tenacity import AsyncRetrying, RetryCallState

from bridge.pipeline.backoff import Backoff
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

    @property
    def backoff(self) -> Backoff:
        return Backoff(self.base_delay, self.max_delay)


class _Retries:
    """What decides one call's retries: how often each kind of failure came back, the
    policy, and the outbox slot's bound on sleeping (None outside a slot)."""

    def __init__(self, policy: RetryPolicy, *, once: bool, bound: float | None) -> None:
        self._policy = policy
        self._once = once
        self._bound = bound
        self._rate_limited = 0
        self._failures = 0

    def retry(self, state: RetryCallState) -> bool:
        """Whether the failure is one to try again at all."""
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RCRateLimitError):
            return self._policy.wait_on_rate_limit
        return isinstance(error, RCServerError | RCConnectionError) and not self._once

    def wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RCRateLimitError):
            self._rate_limited += 1
            return error.retry_after
        self._failures += 1
        return self._policy.backoff.delay(self._failures)

    def stop(self, state: RetryCallState) -> bool:
        """Give up (the last error is raised): out of tries, a wait too long to make, or
        one that would take the call's sleeping past the slot's bound."""
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RCRateLimitError):
            if (
                self._rate_limited > self._policy.rate_limit_retries
                or error.retry_after > self._policy.max_rate_limit_wait
            ):
                return True
        elif self._failures >= self._policy.attempts:
            return True
        return self._bound is not None and state.idle_for + state.upcoming_sleep > self._bound


def _log_retry(method: str, endpoint: str) -> Any:
    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RCRateLimitError):
            log.info("Rate limited on %s, waiting %.2f s", endpoint, state.upcoming_sleep)
        else:
            log.warning(
                "%s %s failed (%s), retry in %.2f s", method, endpoint, error, state.upcoming_sleep
            )

    return before_sleep


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


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
        # Inside an outbox slot, sleep at most this long in total (bridge/slots.py).
        retries = _Retries(self.retry, once=once, bound=slot_wait_limit())
        retrying = AsyncRetrying(
            retry=retries.retry,
            wait=retries.wait,
            stop=retries.stop,
            sleep=_sleep,
            before_sleep=_log_retry(method, endpoint),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._once(
                    method,
                    endpoint=endpoint,
                    json_body=json_body,
                    params=params,
                    form=form,
                    auth=auth,
                )
        raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover

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
