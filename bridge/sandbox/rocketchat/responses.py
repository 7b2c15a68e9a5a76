"""Every error body the simulator sends, built in one place (docs/rocketchat-notes.md)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

JSON = dict[str, Any]


class APIError(Exception):
    """Raised by handlers; the error middleware renders it."""

    def __init__(
        self,
        status: int,
        body: JSON,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(body.get("error") or body.get("message"))
        self.status = status
        self.body = body
        self.headers = headers or {}


def success(payload: JSON | None = None, status: int = 200) -> web.Response:
    return web.json_response({**(payload or {}), "success": True}, status=status)


def failure(error: str, error_type: str | None = None, details: JSON | None = None) -> APIError:
    """A plain ``failure()``: 400 and no ``errorType`` unless given."""
    body: JSON = {"success": False, "error": error}
    if error_type is not None:
        body["errorType"] = error_type
    if details is not None:
        body["details"] = details
    return APIError(400, body)


def meteor_error(code: str, reason: str, details: JSON | None = None) -> APIError:
    """A thrown ``Meteor.Error(code, reason)``: ``"<reason> [<code>]"`` plus ``errorType``."""
    return failure(f"{reason} [{code}]" if reason else f"[{code}]", code, details)


def invalid_params(message: str) -> APIError:
    """ajv body/query validation failure."""
    return meteor_error("invalid-params", message)


def unauthorized() -> APIError:
    # Pre-8.0 compat mode sends all four keys.
    msg = "You must be logged in to do this."
    return APIError(401, {"success": False, "error": msg, "status": "error", "message": msg})


def forbidden() -> APIError:
    reason = "User does not have the permissions required for this action"
    return APIError(403, {"success": False, "error": f"{reason} [error-unauthorized]"})


def not_found() -> APIError:
    return APIError(404, {"success": False, "error": "Resource not found"})


def too_many_requests(seconds: int, reset_ms: int, limit: int) -> APIError:
    error = (
        "Error, too many requests. Please slow down. You must wait "
        f"{seconds} seconds before trying this endpoint again. [error-too-many-requests]"
    )
    headers = {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(reset_ms),
    }
    return APIError(429, {"success": False, "error": error}, headers)


def internal_error() -> APIError:
    return APIError(500, {"success": False, "error": "Internal server error"})


def message_not_found(msg_id: str) -> APIError:
    return failure(f'No message found with the id of "{msg_id}".')


def room_mismatch() -> APIError:
    return failure("The room id provided does not match where the message is from.")


def not_allowed() -> APIError:
    return meteor_error("error-action-not-allowed", "Not allowed")


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except APIError as exc:
        return web.json_response(exc.body, status=exc.status, headers=exc.headers)
    except web.HTTPNotFound:
        exc404 = not_found()
        return web.json_response(exc404.body, status=404)
    return response
