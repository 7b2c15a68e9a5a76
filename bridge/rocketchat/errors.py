"""Typed errors of the Rocket.Chat connector.

Rocket.Chat answers failures with ``{"success": false, "error": ..., "errorType"?: ...}``
(docs/rocketchat-notes.md); :func:`error_from_response` turns each status/envelope shape into
one exception class so callers match on types, never on strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class RCError(Exception):
    """Base class of every connector error."""


class RCConnectionError(RCError):
    """The server could not be reached (or timed out) after all retries."""


class RCProtocolError(RCError):
    """The server answered something that is not a Rocket.Chat envelope."""


class RCAPIError(RCError):
    """A ``{"success": false}`` answer.

    ``error_type`` is the ``errorType`` field when the server sent one (Meteor errors do,
    plain-string failures do not).
    """

    def __init__(
        self,
        status: int,
        error: str,
        error_type: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(f"HTTP {status}: {error}")
        self.status = status
        self.error = error
        self.error_type = error_type
        self.details: Mapping[str, Any] = details or {}


def message_already_gone(e: RCAPIError) -> bool:
    """A delete answered "no such message": deleted already (a repeat after a crash, or
    deleted on Rocket.Chat meanwhile). ``chat.delete`` answers a missing id with a plain
    400 'No message found with the id of "<id>".' (Rocket.Chat
    apps/meteor/app/api/server/v1/chat.ts); older servers said "not found"."""
    text = e.error.lower()
    return e.status in (400, 404) and ("no message found" in text or "not found" in text)


def room_refused(e: RCError) -> bool:
    """The server refuses the bridge's account a room: it left, was removed, or the room
    is gone (a deleted person's DMs go with them). Rocket.Chat answers both a stream
    subscription (``nosub``) and ``chat.syncMessages`` with the Meteor error
    ``error-not-allowed`` then (apps/meteor/server/modules/notifications and
    apps/meteor/app/api/server/v1/chat.ts). Permanent for that room, unlike an outage."""
    if isinstance(e, RCRealtimeError):
        kind = e.error.get("error")
        return kind in ("not-allowed", "error-not-allowed") or e.error.get("reason") == (
            "Not allowed"
        )
    if isinstance(e, RCAPIError):
        return e.status in (400, 403, 404) and e.error_type in (
            "error-not-allowed",
            "error-room-not-found",
        )
    return False


class RCBadRequestError(RCAPIError):
    """HTTP 400: validation failures and most permission refusals."""


class RCAuthError(RCAPIError):
    """HTTP 401: not logged in, bad token, or a failed login."""


class RCForbiddenError(RCAPIError):
    """HTTP 403: a route-level permission is missing (``error-unauthorized``)."""


class RCNotFoundError(RCAPIError):
    """HTTP 404: unknown route or resource."""


class RCRateLimitError(RCAPIError):
    """HTTP 429.

    ``reset_at_ms`` is ``X-RateLimit-Reset`` (epoch milliseconds) and ``retry_after`` the
    seconds left until then when the error was built, so an outbox can schedule instead
    of sleeping.
    """

    def __init__(
        self,
        status: int,
        error: str,
        error_type: str | None = None,
        details: Mapping[str, Any] | None = None,
        *,
        reset_at_ms: int | None = None,
        retry_after: float = 1.0,
    ) -> None:
        super().__init__(status, error, error_type, details)
        self.reset_at_ms = reset_at_ms
        self.retry_after = retry_after


class RCServerError(RCAPIError):
    """HTTP 5xx that stayed 5xx after all retries."""


class RCRealtimeError(RCError):
    """A DDP method or subscription failed (login refused, ``nosub`` …)."""

    def __init__(self, message: str, error: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.error: Mapping[str, Any] = error or {}


_BY_STATUS: dict[int, type[RCAPIError]] = {
    400: RCBadRequestError,
    401: RCAuthError,
    403: RCForbiddenError,
    404: RCNotFoundError,
}


def error_type_of(body: Mapping[str, Any]) -> str | None:
    """``errorType`` of an envelope; Meteor errors without it still carry ``[code]``."""
    explicit = body.get("errorType")
    if isinstance(explicit, str):
        return explicit
    message = body.get("error")
    if isinstance(message, str) and message.endswith("]") and "[" in message:
        return message[message.rindex("[") + 1 : -1] or None
    return None


def error_from_response(
    status: int,
    body: Mapping[str, Any],
    *,
    reset_at_ms: int | None = None,
    retry_after: float = 1.0,
) -> RCAPIError:
    """Map an HTTP status and failure envelope to the matching typed error."""
    # 401 bodies use "message" (spec) or both "error" and "message" (compat mode).
    raw = body.get("error") or body.get("message") or f"HTTP {status}"
    message = raw if isinstance(raw, str) else str(raw)
    error_type = error_type_of(body)
    details = body.get("details") if isinstance(body.get("details"), Mapping) else None
    if status == 429:
        return RCRateLimitError(
            status,
            message,
            error_type or "error-too-many-requests",
            details,
            reset_at_ms=reset_at_ms,
            retry_after=retry_after,
        )
    if status >= 500:
        return RCServerError(status, message, error_type, details)
    return _BY_STATUS.get(status, RCAPIError)(status, message, error_type, details)
