"""Every Matrix-style error body the bridge's HTTP endpoints send, built in one place."""

from __future__ import annotations

from aiohttp import web


def matrix_error(status: int, errcode: str, error: str) -> web.Response:
    return web.json_response({"errcode": errcode, "error": error}, status=status)


def unauthorized() -> web.Response:
    # Appservice API: "401 M_UNAUTHORIZED" when no credentials are given ...
    return matrix_error(401, "M_UNAUTHORIZED", "Missing homeserver token")


def forbidden() -> web.Response:
    # ... and "403 M_FORBIDDEN" when the hs_token does not match.
    return matrix_error(403, "M_FORBIDDEN", "Invalid homeserver token")


def not_found(what: str) -> web.Response:
    return matrix_error(404, "M_NOT_FOUND", f"{what} not found")


def bad_json(reason: str) -> web.Response:
    return matrix_error(400, "M_BAD_JSON", reason)


def not_json() -> web.Response:
    return matrix_error(400, "M_NOT_JSON", "Request body is not valid JSON")


def too_large(limit: int) -> web.Response:
    return matrix_error(413, "M_TOO_LARGE", f"Transaction body exceeds {limit} bytes")


def storage_failed() -> web.Response:
    # 5xx makes the homeserver keep the transaction and retry it (appservice spec,
    # "Pushing events"): the answer when the inbox could not store it.
    return matrix_error(500, "M_UNKNOWN", "Could not persist the transaction; retry later")
