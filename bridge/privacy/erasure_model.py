"""Values of the erasure engine: request states, scope, and the status it reports."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NewType

from bridge.privacy.deadlines import Jurisdiction

RequestId = NewType("RequestId", str)


class RequestState(enum.StrEnum):
    """received → verified → (approved) → planned → executing → done | partially_done.

    ``denied`` and ``cancelled`` end a request before anything was executed.
    """

    RECEIVED = "received"
    VERIFIED = "verified"
    APPROVED = "approved"
    PLANNED = "planned"
    EXECUTING = "executing"
    DONE = "done"
    PARTIALLY_DONE = "partially_done"
    DENIED = "denied"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED


FINISHED = frozenset(
    {
        RequestState.DONE,
        RequestState.PARTIALLY_DONE,
        RequestState.DENIED,
        RequestState.CANCELLED,
    }
)
# Open requests count against their deadline.
OPEN = tuple(s.value for s in RequestState if s not in FINISHED)
CANCELLABLE = (RequestState.RECEIVED, RequestState.VERIFIED, RequestState.APPROVED)


class RequesterSide(enum.StrEnum):
    MATRIX = "matrix"
    ROCKETCHAT = "rocketchat"
    ADMIN = "admin"  # a privacy officer acting on a request received another way (CLI)


@dataclass(frozen=True)
class Requester:
    id: str  # a Matrix user id, a Rocket.Chat user id, or the admin's name
    side: RequesterSide


@dataclass(frozen=True)
class ErasureScope:
    """The whole subject, or only one room (Matrix or Rocket.Chat id), or only items sent
    before a time; both filters may be combined."""

    room: str | None = None
    before_ms: int | None = None

    @property
    def whole(self) -> bool:
        return self.room is None and self.before_ms is None


class ErasureError(Exception):
    """Base of the engine's typed errors."""


class RequestNotFoundError(ErasureError, LookupError):
    pass


class InvalidTransitionError(ErasureError):
    """The request is not in a state that allows this (e.g. cancel while executing)."""


@dataclass(frozen=True)
class RecipientStatus:
    recipient: str
    kind: str  # "local", "remote", "rocketchat"
    room_id: str | None  # None: the server-level notice
    reach: str  # "in_room", "left", "local", "rc", "notice"
    items: int
    status: str
    detail: str | None


@dataclass(frozen=True)
class StepStatus:
    step: str
    status: str
    detail: str | None


@dataclass(frozen=True)
class LogEntry:
    at_ms: int
    event: str
    actor: str | None
    detail: str | None


@dataclass(frozen=True)
class ErasureStatus:
    id: RequestId
    state: RequestState
    subject: str  # the identifier while open; "pseudonym:<hex>" once finished
    requester: Requester
    jurisdiction: Jurisdiction
    scope: ErasureScope
    received_ms: int
    due_ms: int
    receipt_due_ms: int | None
    receipt_confirmed_ms: int | None
    extension_reason: str | None
    finished_ms: int | None
    items: int
    matrix: dict[str, int]  # status word -> items
    rocketchat: dict[str, int]
    recipients: tuple[RecipientStatus, ...]
    steps: tuple[StepStatus, ...]
    log: tuple[LogEntry, ...]
    # Remote server -> when it is expected to purge the redacted copies (bridge.privacy.purge).
    purges: Mapping[str, str] = field(default_factory=dict)

    @property
    def overdue_at(self) -> int:
        return self.due_ms
