"""What a ``privacy.job`` outbox action carries, and what its run returns to its hook."""

from __future__ import annotations

import attrs

from bridge.commands.context import CommandContext
from bridge.pipeline.actions import action

JOB = "privacy.job"
# An audit entry's details: JSON scalars only (the audit log stores them as they are).
Details = dict[str, str | int | None]


@attrs.frozen
class Scope:
    """An erasure's scope as a person asked for it: one room, and/or before a day."""

    room: str | None = None
    before_ms: int | None = None


@action(JOB)
@attrs.frozen
class Job:
    job: str  # the verb's job (status, export, delete, start, cancel, purge, …)
    ctx: CommandContext
    args: tuple[str, ...] = ()
    options: dict[str, str] = attrs.field(factory=dict)
    scope: Scope | None = None  # ``start``: the confirmed delete's scope


@attrs.frozen
class Refusal:
    verb: str
    reason: str  # for the audit log
    told: str  # for the person


@attrs.frozen
class AuditEntry:
    kind: str
    subject_ref: int | None
    details: Details = attrs.field(factory=dict)


@attrs.frozen
class Watch:
    """Follow a request's progress and tell the person in this DM."""

    request_id: str
    state: str


@attrs.frozen
class JobResult:
    reply: str = ""
    refused: Refusal | None = None
    audit: tuple[AuditEntry, ...] = ()
    issue_code: Scope | None = None  # ask for a confirmation code for this scope
    watch: Watch | None = None
    reply_room: str | None = None  # answer in this DM instead of where it was typed
