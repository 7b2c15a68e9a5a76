"""Outbox executors for Matrix actions."""

from __future__ import annotations

from typing import Any

from mautrix.appservice import AppServiceAPI
from mautrix.errors import MatrixRequestError, MatrixStandardRequestError
from mautrix.types import RoomID

from bridge.matrix.handlers import JOIN_ROOM
from bridge.storage.outbox import Action
from bridge.workers.outbox import Executor, PermanentFailure, RetryLater

# Standard Matrix errors after which retrying the same request cannot succeed.
_PERMANENT = {"M_FORBIDDEN", "M_NOT_FOUND", "M_UNKNOWN_ROOM", "M_BAD_JSON", "M_INVALID_PARAM"}


def matrix_executors(api: AppServiceAPI) -> dict[str, Executor]:
    async def join_room(action: Action) -> dict[str, Any]:
        room_id = RoomID(action.payload["room_id"])
        try:
            await api.bot_intent().join_room_by_id(room_id)
        except MatrixStandardRequestError as e:
            raise _classify(e) from e
        except MatrixRequestError as e:
            raise RetryLater(f"homeserver answered {e.http_status}") from e
        return {"room_id": room_id}

    return {JOIN_ROOM: join_room}


def _classify(e: MatrixStandardRequestError) -> Exception:
    if e.errcode == "M_LIMIT_EXCEEDED":
        retry_ms = getattr(e, "retry_after_ms", None)
        return RetryLater("rate limited", retry_ms / 1000 if retry_ms else None)
    if e.errcode in _PERMANENT and e.http_status < 500:
        return PermanentFailure(f"{e.errcode}: {e.message}")
    return RetryLater(f"{e.errcode} ({e.http_status})")
