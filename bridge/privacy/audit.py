"""The tamper-evident audit log: every privacy-relevant action, in one hash chain.

Each entry is hashed together with the hash of the entry before it::

    hash_n = SHA-256(bytes.fromhex(hash_{n-1}) || canonical(entry_n))

where ``canonical`` is compact, key-sorted UTF-8 JSON of ``seq``, ``at_ms``, ``kind``,
``actor``, ``subject_ref`` and ``details``, and the first entry chains from
:data:`GENESIS`. Changing, inserting or deleting any row breaks the chain at that row,
which :meth:`AuditLog.verify` reports. docs/audit.md describes the format and the
``kind`` vocabulary.

Append in the same ``UnitOfWork`` as the action being recorded, so the action and its
record commit together or not at all. Details carry ids, counts and outcomes, never
message content (GDPR Art. 5(1)(c)); :func:`check_details` refuses the obvious mistakes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from bridge.privacy import pseudonyms
from bridge.privacy.pseudonyms import PseudonymKeyError
from bridge.storage.audit import AuditRecord
from bridge.storage.common import now_ms
from bridge.storage.database import Database, UnitOfWork

# A fixed starting point, so an empty log and a truncated one are told apart.
GENESIS = hashlib.sha256(b"rc-matrix-privacy-bridge audit log v1").hexdigest()

# The kinds the bridge writes. Other kinds are accepted if they follow the same
# ``noun.verb`` shape, so a new action can be recorded before this list names it.
REQUEST_RECEIVED = "request.received"
REQUEST_VERIFIED = "request.verified"
REQUEST_APPROVED = "request.approved"
REQUEST_DENIED = "request.denied"
REQUEST_CANCELLED = "request.cancelled"
REQUEST_FINISHED = "request.finished"
REDACTION_SENT = "redaction.sent"
DELETION_DONE = "deletion.done"
NOTICE_SENT = "notice.sent"
EXPORT_PRODUCED = "export.produced"
COMMAND_REFUSED = "command.refused"
SUBJECT_LOOKUP = "subject.lookup"
ADMIN_LOGIN = "admin.login"
ADMIN_LOGIN_REFUSED = "admin.login_refused"
OUTBOX_RETRIED = "outbox.retried"
OUTBOX_DROPPED = "outbox.dropped"
KEYS_SHREDDED = "pseudonym_keys.shredded"
KINDS = (
    REQUEST_RECEIVED,
    REQUEST_VERIFIED,
    REQUEST_APPROVED,
    REQUEST_DENIED,
    REQUEST_CANCELLED,
    REQUEST_FINISHED,
    REDACTION_SENT,
    DELETION_DONE,
    NOTICE_SENT,
    EXPORT_PRODUCED,
    COMMAND_REFUSED,
    SUBJECT_LOOKUP,
    ADMIN_LOGIN,
    ADMIN_LOGIN_REFUSED,
    OUTBOX_RETRIED,
    OUTBOX_DROPPED,
    KEYS_SHREDDED,
)

_KIND = re.compile(r"^[a-z][a-z_]*\.[a-z][a-z_]*$")
# Keys that would mean someone is about to log what a person wrote.
_CONTENT_KEYS = frozenset({"body", "content", "formatted_body", "text", "message", "msg"})
MAX_DETAILS_BYTES = 4096
VERIFY_BATCH = 1000

# What an entry's details hold: ids, counts and outcomes as JSON without floats (not
# canonical across systems). Each kind has its own keys (docs/audit.md), so they are a
# mapping rather than a class per kind; :func:`check_details` refuses the rest at run time.
DetailValue: TypeAlias = (
    str | int | bool | None | Sequence["DetailValue"] | Mapping[str, "DetailValue"]
)
Details: TypeAlias = Mapping[str, DetailValue]


class AuditError(ValueError):
    """An entry the log refuses (bad kind, content-like or oversized details)."""


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at_ms: int
    kind: str
    actor: str
    subject_ref: int | None
    details: Details
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditFault:
    """The first entry that does not match the chain, and why."""

    seq: int
    kind: str | None  # None when the entry is missing altogether
    reason: str

    def __str__(self) -> str:
        what = f"entry {self.seq}" + (f" ({self.kind})" if self.kind else "")
        return f"{what}: {self.reason}"


@dataclass(frozen=True)
class VerifyResult:
    entries: int
    head_hash: str
    fault: AuditFault | None

    @property
    def ok(self) -> bool:
        return self.fault is None


def canonical(
    seq: int, at_ms: int, kind: str, actor: str, subject_ref: int | None, details: Any
) -> bytes:
    entry = {
        "seq": seq,
        "at_ms": at_ms,
        "kind": kind,
        "actor": actor,
        "subject_ref": subject_ref,
        "details": details,
    }
    return _json(entry).encode("utf-8")


def chain_hash(prev_hash: str, entry: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + entry).hexdigest()


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def check_details(details: Details) -> str:
    """The canonical JSON of ``details``; refuses floats (not canonical across systems),
    content-like keys and oversized values."""

    def walk(value: Any, path: str) -> None:
        if isinstance(value, float):
            raise AuditError(f"details{path}: floats are not allowed; use integers")
        if isinstance(value, Mapping):
            for k, v in value.items():
                if not isinstance(k, str):
                    raise AuditError(f"details{path}: keys must be strings")
                if k.lower() in _CONTENT_KEYS:
                    raise AuditError(f"details{path}.{k}: message content is never logged")
                walk(v, f"{path}.{k}")
        elif isinstance(value, list | tuple):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")
        elif not isinstance(value, str | int | bool) and value is not None:
            raise AuditError(f"details{path}: {type(value).__name__} is not JSON")

    walk(details, "")
    text = _json(details)
    if len(text.encode("utf-8")) > MAX_DETAILS_BYTES:
        raise AuditError(f"details are longer than {MAX_DETAILS_BYTES} bytes")
    return text


def _entry(record: AuditRecord) -> AuditEntry:
    return AuditEntry(
        record.seq,
        record.at_ms,
        record.kind,
        record.actor,
        record.subject_ref,
        json.loads(record.details),
        record.prev_hash,
        record.hash,
    )


class AuditLog:
    """Append to and check the chain. ``append`` is static: any code holding a
    ``UnitOfWork`` records an action without needing an ``AuditLog`` instance."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    async def append(
        uow: UnitOfWork,
        kind: str,
        actor: str,
        subject_ref: int | None,
        details: Details | None = None,
    ) -> AuditEntry:
        if not _KIND.match(kind):
            raise AuditError(f"audit kind {kind!r} is not of the form noun.verb")
        if not actor:
            raise AuditError("an audit entry needs an actor")
        try:
            actor = await pseudonyms.actor(uow.person_keys, actor)
        except PseudonymKeyError as e:
            raise AuditError(str(e)) from e
        text = check_details(details or {})
        seq, prev = await uow.audit.lock_head()
        seq += 1
        at = now_ms()
        digest = chain_hash(prev, canonical(seq, at, kind, actor[:255], subject_ref, details or {}))
        record = AuditRecord(seq, at, kind, actor[:255], subject_ref, text, prev, digest)
        await uow.audit.insert(record)
        await uow.audit.set_head(seq, digest)
        return _entry(record)

    async def record(
        self,
        kind: str,
        actor: str,
        subject_ref: int | None,
        details: Details | None = None,
    ) -> AuditEntry:
        """Append in a transaction of its own (for actions that are themselves reads)."""
        async with self._db.unit_of_work() as uow:
            return await self.append(uow, kind, actor, subject_ref, details)

    async def verify(self, progress: Callable[[int, int], None] | None = None) -> VerifyResult:
        """Recompute the whole chain; the first entry that does not match, or None.

        ``progress(done, total)`` is called after each batch (for a progress bar).
        """
        async with self._db.unit_of_work() as uow:
            head_seq, head_hash = await uow.audit.head()
        expected_prev, expected_seq, done = GENESIS, 1, 0
        while True:
            async with self._db.unit_of_work() as uow:
                batch = await uow.audit.entries_after(expected_seq - 1, VERIFY_BATCH)
            for record in batch:
                fault = _check(record, expected_seq, expected_prev)
                if fault is not None:
                    return VerifyResult(done, head_hash, fault)
                expected_prev, expected_seq, done = record.hash, expected_seq + 1, done + 1
            if progress is not None:
                progress(done, max(head_seq, done))
            if len(batch) < VERIFY_BATCH:
                break
        if done != head_seq or expected_prev != head_hash:
            fault = AuditFault(
                done + 1 if done < head_seq else done,
                None,
                f"the chain ends at entry {done} but its head records entry {head_seq}"
                " (entries were removed from the end)"
                if done < head_seq
                else "the head does not match the last entry",
            )
            return VerifyResult(done, head_hash, fault)
        return VerifyResult(done, head_hash, None)

    async def newest(
        self,
        *,
        before_seq: int | None = None,
        limit: int = 50,
        kind: str | None = None,
        subject_ref: int | None = None,
    ) -> list[AuditEntry]:
        async with self._db.unit_of_work() as uow:
            records = await uow.audit.newest(
                before_seq=before_seq, limit=limit, kind=kind, subject_ref=subject_ref
            )
        return [_entry(r) for r in records]


def _check(record: AuditRecord, seq: int, prev: str) -> AuditFault | None:
    if record.seq != seq:
        return AuditFault(seq, None, f"missing (the next entry present is {record.seq})")
    try:
        details = json.loads(record.details)
    except ValueError:
        return AuditFault(seq, record.kind, "its details are not valid JSON")
    if record.prev_hash != prev:
        return AuditFault(seq, record.kind, "it does not chain from the entry before it")
    entry = canonical(
        record.seq, record.at_ms, record.kind, record.actor, record.subject_ref, details
    )
    if chain_hash(prev, entry) != record.hash:
        return AuditFault(seq, record.kind, "its content does not match its hash")
    return None
