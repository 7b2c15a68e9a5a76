"""Every error the dashboard and its API answer, built in one place.

API routes get ``{"error": {"code": …, "message": …}}`` with the HTTP status; pages get
the error page. Messages never echo tokens or cookies.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

SECURITY_HEADERS = {
    # No scripts at all; styles and images only from the bridge itself; no framing.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    429: "too_many_attempts",
    500: "internal_error",
}


class DashboardError(Exception):
    """An error a handler raises for the middleware to answer (status + message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": CODES.get(status, "error"), "message": message}}


def api_error(status: int, message: str) -> web.Response:
    headers = {"WWW-Authenticate": 'Bearer realm="bridge-admin"'} if status == 401 else None
    return web.json_response(error_body(status, message), status=status, headers=headers)


def redirect(location: str) -> web.Response:
    """A 303 as a plain response (aiohttp deprecates returning HTTPException objects)."""
    return web.Response(status=303, headers={"Location": location})
