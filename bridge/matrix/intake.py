"""The appservice HTTP API: durable transaction intake, queries and ping.

Unlike mautrix's stock handler, which answers 200 first and remembers transaction ids in
memory, a transaction is answered 200 only after its events are committed to the inbox,
and it is de-duplicated on its id *and* body hash (docs/synapse-notes.md: Synapse on
SQLite restarts ids at 1 after a restart).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bridge.faults import crash_point
from bridge.matrix import responses
from bridge.metrics import MATRIX_EVENTS_RECEIVED, MATRIX_TRANSACTIONS
from bridge.storage.inbox import Inbox, NewInboxEvent, encode_payload, new_event

log = logging.getLogger(__name__)

# Told about a wrong hs_token (the request, what was presented); True: throttled.
OnRefused = Callable[[web.Request, str], Awaitable[bool]]
PREFIXES = ("/_matrix/app/v1", "")  # the unprefixed paths are the legacy (r0-era) ones


class AppServiceIntake:
    def __init__(
        self,
        hs_token: str,
        inbox: Inbox,
        on_stored: Callable[[], None],
        max_body_bytes: int,
        on_refused: OnRefused | None = None,
    ) -> None:
        self._hs_token = _digest(hs_token)
        self._on_refused = on_refused
        self._inbox = inbox
        self._on_stored = on_stored
        self._max_body = max_body_bytes

    def add_routes(self, app: web.Application) -> None:
        for prefix in PREFIXES:
            app.router.add_put(f"{prefix}/transactions/{{txn_id}}", self.put_transaction)
            app.router.add_get(f"{prefix}/users/{{user_id}}", self.query_user)
            app.router.add_get(f"{prefix}/rooms/{{alias}}", self.query_alias)
        app.router.add_post("/_matrix/app/v1/ping", self.ping)

    async def _check_token(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            token = header[len("Bearer ") :]
        else:
            # Deprecated query-parameter form, still sent by older homeservers.
            token = request.query.get("access_token", "")
        if not token:
            return responses.unauthorized()
        # Digests: equal lengths, so a wrong token's length does not show in the timing.
        if not hmac.compare_digest(_digest(token), self._hs_token):
            log.warning("Rejected appservice request with a wrong hs_token from %s", request.remote)
            # Only the homeserver holds the token: anyone else is guessing. Throttled and
            # audited like a failed dashboard login.
            if self._on_refused is not None and await self._on_refused(request, token):
                return responses.matrix_error(429, "M_LIMIT_EXCEEDED", "Too many failed attempts")
            return responses.forbidden()
        return None

    async def put_transaction(self, request: web.Request) -> web.Response:
        if (refused := await self._check_token(request)) is not None:
            MATRIX_TRANSACTIONS.labels("refused").inc()
            return refused
        txn_id = _storable_txn_id(request.match_info["txn_id"])
        body = await self._read_body(request)
        if isinstance(body, web.Response):
            MATRIX_TRANSACTIONS.labels("refused").inc()
            return body
        parsed = _parse_transaction(body)
        if isinstance(parsed, web.Response):
            MATRIX_TRANSACTIONS.labels("refused").inc()
            return parsed
        try:
            receipt = await self._inbox.store_matrix_transaction(
                txn_id, hashlib.sha256(body).digest(), parsed
            )
        except Exception:  # a boundary: any storage failure means "retry", never "lost"
            log.exception("Could not persist transaction %s", txn_id)
            MATRIX_TRANSACTIONS.labels("failed").inc()
            return responses.storage_failed()
        crash_point("intake.after_persist")
        if receipt.new:
            MATRIX_TRANSACTIONS.labels("stored").inc()
            MATRIX_EVENTS_RECEIVED.inc(receipt.stored_events)
            self._on_stored()
        else:
            MATRIX_TRANSACTIONS.labels("replayed").inc()
            log.debug("Transaction %s already stored; acknowledging the replay", txn_id)
        return web.json_response({})

    async def _read_body(self, request: web.Request) -> bytes | web.Response:
        if request.content_length is not None and request.content_length > self._max_body:
            return responses.too_large(self._max_body)
        body = bytearray()
        async for chunk in request.content.iter_chunked(64 * 1024):
            body.extend(chunk)
            if len(body) > self._max_body:
                return responses.too_large(self._max_body)
        return bytes(body)

    async def query_user(self, request: web.Request) -> web.Response:
        if (refused := await self._check_token(request)) is not None:
            return refused
        # Ghosts are created by the bridge when a Rocket.Chat user first speaks; a
        # homeserver asking about an unknown one gets "no such user", as the spec allows.
        return responses.not_found("User")

    async def query_alias(self, request: web.Request) -> web.Response:
        if (refused := await self._check_token(request)) is not None:
            return refused
        return responses.not_found("Room alias")

    async def ping(self, request: web.Request) -> web.Response:
        if (refused := await self._check_token(request)) is not None:
            return refused
        try:
            body = await request.json()
        except (ValueError, RecursionError):
            return responses.not_json()
        log.info("Homeserver pinged the bridge (transaction %s)", _txn_of(body))
        return web.json_response({})


def _parse_transaction(body: bytes) -> list[NewInboxEvent] | web.Response:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        # ValueError covers bad JSON and bad UTF-8, and integers past Python's 4300-digit
        # limit; RecursionError absurd nesting. All are the sender's fault: 400, never 500.
        return responses.not_json()
    if not isinstance(data, dict):
        return responses.bad_json("Transaction body must be a JSON object")
    events = data.get("events", [])
    if not isinstance(events, list):
        return responses.bad_json("'events' must be a list")
    # A non-object entry cannot be an event; it is dropped here, and counted, so that the
    # good events of the same transaction are still stored.
    good = [e for e in events if isinstance(e, dict)]
    if len(good) != len(events):
        log.warning("Dropped %d non-object entries from a transaction", len(events) - len(good))
    # Stored as sent: the inbox worker's reader validates each before any handler reads it.
    return [
        new_event(e.get("event_id"), e.get("type"), e.get("room_id"), encode_payload(e))
        for e in good
    ]


def _storable_txn_id(txn_id: str) -> str:
    """The id as stored: as sent when it fits the column, else a digest of it.

    A homeserver picks the id; one the database cannot hold (too long, NUL, a lone
    surrogate) must not turn the transaction into a 500 retried forever.
    """
    raw = txn_id.encode("utf-8", "surrogatepass")
    if len(txn_id) <= 200 and b"\x00" not in raw and raw.decode("utf-8", "replace") == txn_id:
        return txn_id
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _txn_of(body: object) -> str:
    if isinstance(body, dict) and isinstance(body.get("transaction_id"), str):
        return str(body["transaction_id"])[:64]
    return "-"


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
