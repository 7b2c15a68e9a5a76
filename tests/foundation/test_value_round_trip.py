"""Every value the storage layer reads from a row keeps every field.

A row whose columns are all set to values other than their defaults is written, read back
through the store's own read method, and each field of the value compared with what was
written. A mapping that forgets a field (a bridged message read without its Rocket.Chat
thread id sent Matrix replies into the wrong thread) fails here. A new value type fails
the completeness check until it gets a round trip (or is listed as an aggregate).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import itertools
import json
import pkgutil
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest_asyncio
from sqlalchemy import BigInteger, Boolean, Integer, LargeBinary, SmallInteger, String, Text

import bridge.storage
from bridge.privacy.pseudonyms import person_name
from bridge.storage.audit import OversightReads
from bridge.storage.audit_rows import AuditEntryRow
from bridge.storage.bridging import BridgedMessage, Ghost, Portal, Shadow
from bridge.storage.bridging_rows import GhostRow, PersonaRow, PortalRow
from bridge.storage.commands import Confirmation, RoomKnowledge, Watch
from bridge.storage.commands_rows import CommandRoomRow, ConfirmationRow, RequestWatchRow
from bridge.storage.database import Database, UnitOfWork
from bridge.storage.erasure_rows import (
    ErasureItemRow,
    ErasureLogRow,
    ErasureNoticeContactRow,
    ErasureRecipientRow,
    ErasureRequestRow,
    ErasureStepRow,
)
from bridge.storage.incidents import IncidentRecord
from bridge.storage.ledger_reads import LedgerReads
from bridge.storage.ledger_rows import (
    LedgerAggregate,
    LedgerPresence,
    LedgerRoom,
    LedgerServer,
    LedgerSubject,
)
from bridge.storage.models import Base, OutboxAction
from bridge.storage.partners import PartnerRecord
from bridge.storage.personas import Persona
from bridge.storage.policy import RoomPolicyRecord
from bridge.storage.software import SoftwareRecord
from tests.fixtures.inbox import body, records

Row = dict[str, Any]
_numbers = itertools.count(101)

# Query results built from several rows or from aggregates, and write-only inputs: no
# single row maps to them, so there is nothing to round-trip.
NOT_ROW_VALUES = {
    "NewAction": "an input: what enqueue writes; read back as Action",
    "NewInboxEvent": "an input: what the intakes store; read back as StoredEvent",
    "PersonName": "an input: how the commands' rows keyed by a person name them",
    "NewDisclosure": "an input: what add_disclosures writes; read back by the ledger reads",
    "NewItem": "an input: what an erasure plan adds; read back as ItemRecord",
    "OutboxStats": "counts over the outbox",
    "TransactionReceipt": "the answer of storing a transaction",
    "Traces": "ids gathered from several tables",
    "StatRow": "an aggregate of the ledger",
    "ItemRow": "a join of the ledger tables",
    "ReachRow": "an aggregate of the ledger",
    "FlowRow": "an aggregate of the ledger",
    "ServerRecord": "an aggregate of the ledger",
    "JoinedInterval": "a join of presence and rooms",
}


def _value_for(column: Any) -> Any:
    """A value unlike the column's default (and unlike any other column's)."""
    kind = column.type
    n = next(_numbers)
    if isinstance(kind, Boolean):
        default = column.server_default
        return not (default is not None and str(default.arg) == "1")
    if isinstance(kind, SmallInteger):
        return n % 7 + 2
    if isinstance(kind, Integer | BigInteger):
        return n
    if isinstance(kind, LargeBinary):
        return n.to_bytes(8, "big")
    if isinstance(kind, String | Text):
        length = getattr(kind, "length", None) or 64
        return f"{column.name}-{n}"[:length]
    raise AssertionError(f"no test value for {column} of type {kind!r}")


def filled(row_class: type[Base], **fixed: Any) -> Row:
    """Every column of ``row_class`` set, ``fixed`` ones as given."""
    values: Row = {}
    for column in row_class.__table__.columns:
        if column.name in fixed:
            values[column.name] = fixed[column.name]
        elif column.autoincrement is True and column.primary_key:
            continue
        else:
            values[column.name] = _value_for(column)
    return values


async def insert(uow: UnitOfWork, row_class: type[Base], values: Row) -> Any:
    row = row_class(**values)
    uow.bridging._s.add(row)  # noqa: SLF001 - the test writes raw rows on purpose
    await uow.bridging._s.flush()  # noqa: SLF001
    return row


def assert_same(value: Any, expected: Row, derived: dict[str, Any] | None = None) -> None:
    """Each field equals the written column of the same name (or its derived value)."""
    derived = derived or {}
    for field in dataclasses.fields(value):
        want = derived[field.name] if field.name in derived else expected[field.name]
        assert getattr(value, field.name) == want, f"{type(value).__name__}.{field.name}"
        if field.default is not dataclasses.MISSING:
            assert want != field.default, f"{type(value).__name__}.{field.name} left default"


async def _request(uow: UnitOfWork) -> Row:
    values = filled(ErasureRequestRow)
    await insert(uow, ErasureRequestRow, values)
    return values


# --- one round trip per value type ---------------------------------------------------


async def portal(uow: UnitOfWork) -> type:
    values = filled(PortalRow, active=False)
    row = await insert(uow, PortalRow, values)
    got = await uow.bridging.portal_by_id(row.id)
    assert got is not None
    assert_same(got, {**values, "id": row.id})
    return Portal


async def ghost(uow: UnitOfWork) -> type:
    values = filled(GhostRow)
    await insert(uow, GhostRow, values)
    got = await uow.bridging.ghost(values["rc_user_id"])
    assert got is not None
    assert_same(got, values)
    return Ghost


async def shadow(uow: UnitOfWork) -> type:
    # Written through the store: the session token is sealed on the way in.
    value = Shadow("@m:example.org", "rc-id-1", "m.example", "M. Example", "token-1")
    await uow.bridging.save_shadow(value)
    assert await uow.bridging.shadow(value.matrix_user_id) == value
    return Shadow


async def bridged_message(uow: UnitOfWork) -> type:
    room = filled(PortalRow)
    p = await insert(uow, PortalRow, room)
    value = BridgedMessage(
        portal_id=p.id,
        rc_message_id="rc-msg-1",
        part=2,
        matrix_event_id="$event-1",
        origin="rc",
        sender="rc-user-1",
        sent_ms=1_700_000_000_123,
        deleted=True,
        rc_thread_id="rc-root-1",
        persona="@rc_=p0123456789abcdef0123:hs1.test",
    )
    await uow.bridging.add_message(value)
    assert await uow.bridging.messages_by_rc("rc-msg-1") == [value]
    assert await uow.bridging.message_by_event("$event-1") == value
    return BridgedMessage


async def persona(uow: UnitOfWork) -> type:
    values = filled(PersonaRow)
    await insert(uow, PersonaRow, values)
    got = await uow.personas.get(values["matrix_user_id"])
    assert got is not None
    assert_same(got, values)
    assert await uow.personas.of_person(values["rc_user_id"]) == [got]
    return Persona


async def room_knowledge(uow: UnitOfWork) -> type:
    values = filled(CommandRoomRow, is_dm=True)
    await insert(uow, CommandRoomRow, values)
    got = await uow.commands.room(values["side"], values["room_id"])
    assert got is not None
    assert_same(got, values)
    return RoomKnowledge


async def confirmation(uow: UnitOfWork) -> type:
    # live_confirmation returns unused codes only: used_ms is None by its definition.
    values = filled(ConfirmationRow, used_ms=None)
    row = await insert(uow, ConfirmationRow, values)
    got = await uow.commands.live_confirmation(
        await person_name(uow, values["person"]), values["purpose"]
    )
    assert got is not None
    assert_same(got, {**values, "id": row.id})
    return Confirmation


async def watch(uow: UnitOfWork) -> type:
    values = filled(RequestWatchRow, finished=False)
    await insert(uow, RequestWatchRow, values)
    (got,) = await uow.commands.open_watches()
    assert_same(got, values)
    return Watch


async def request_record(uow: UnitOfWork) -> type:
    values = await _request(uow)
    got = await uow.erasure.request(values["id"])
    assert got is not None
    assert_same(got, values)
    return type(got)


async def request_row(uow: UnitOfWork) -> type:
    values = await _request(uow)
    got = await OversightReads(uow.bridging._s).request_row(values["id"])  # noqa: SLF001
    assert got is not None
    subject = values["subject_matrix_id"]
    assert_same(got, values, {"subject": subject, "due_ms": values["extended_due_ms"]})
    return type(got)


async def erasure_children(uow: UnitOfWork) -> list[type]:
    request = await _request(uow)
    rid = request["id"]
    item = filled(ErasureItemRow, request_id=rid)
    item_row = await insert(uow, ErasureItemRow, item)
    log = filled(ErasureLogRow, request_id=rid)
    await insert(uow, ErasureLogRow, log)
    recipient = filled(ErasureRecipientRow, request_id=rid)
    await insert(uow, ErasureRecipientRow, recipient)
    step = filled(ErasureStepRow, request_id=rid, data=json.dumps({"k": 1}))
    await insert(uow, ErasureStepRow, step)
    contact = filled(ErasureNoticeContactRow, request_id=rid)
    await insert(uow, ErasureNoticeContactRow, contact)
    (got_item,) = await uow.erasure.items(rid)
    assert_same(got_item, {**item, "id": item_row.id})
    (got_log,) = await uow.erasure.log_entries(rid)
    assert_same(got_log, log)
    (got_recipient,) = await uow.erasure.recipients(rid)
    assert_same(got_recipient, recipient)
    (got_step,) = await uow.erasure.steps(rid)
    assert_same(got_step, step)
    (got_contact,) = await uow.erasure.notice_contacts(rid, contact["contact"])
    assert_same(got_contact, contact)
    return [type(v) for v in (got_item, got_log, got_recipient, got_step, got_contact)]


async def ledger_values(uow: UnitOfWork) -> list[type]:
    subject = filled(LedgerSubject)
    s = await insert(uow, LedgerSubject, subject)
    (got_subject,) = await uow.ledger.find_subject(subject_id=s.id)
    assert_same(got_subject, {**subject, "id": s.id})
    server = await insert(uow, LedgerServer, filled(LedgerServer))
    room = await insert(uow, LedgerRoom, filled(LedgerRoom, rc_server_ref=server.id))
    presence = filled(LedgerPresence, room_ref=room.id, server_ref=server.id)
    await insert(uow, LedgerPresence, presence)
    (got_presence,) = await uow.ledger.presence(room.id, server.id)
    assert_same(got_presence, presence)
    counts = filled(LedgerAggregate, server_ref=server.id)
    await insert(uow, LedgerAggregate, counts)
    reads = LedgerReads(uow.bridging._s)  # noqa: SLF001 - the uow's own session
    (got_counts,) = await reads.aggregates()
    assert_same(got_counts, counts, {"server": server.name, "kind": server.kind})
    return [type(got_subject), type(got_presence), type(got_counts)]


async def audit_record(uow: UnitOfWork) -> type:
    values = filled(AuditEntryRow)
    await insert(uow, AuditEntryRow, values)
    (got,) = await uow.audit.entries_after(values["seq"] - 1, 10)
    assert_same(got, values)
    return type(got)


async def dead_letter(uow: UnitOfWork) -> type:
    values = filled(OutboxAction, status="dead", payload='{"a": 1}')
    row = await insert(uow, OutboxAction, values)
    (got,) = await uow.dead_letters.list()
    derived = {"cause": values["dead_cause"], "erased": False}
    assert_same(got, {**values, "id": row.id}, derived)
    return type(got)


async def partner(uow: UnitOfWork) -> type:
    value = PartnerRecord(
        server="partner.example.org",
        organisation="Partner Agency",
        contacts='{"matrix": ["@dpo:partner.example.org"]}',
        lawful_basis="contract",
        retention_days=90,
        jurisdiction="DE",
        third_country=True,
        safeguard="standard contractual clauses",
        agreement_ref="DPA-7",
        agreement_version="2",
        policy="notify",
        updated_ms=1_700_000_000_456,
        version=3,
        receiver=True,
    )
    await uow.partners.put(value)
    assert await uow.partners.get(value.server) == value
    return PartnerRecord


async def incident(uow: UnitOfWork) -> list[type]:
    value = IncidentRecord(
        id="in-0123456789abcdef",
        server="hs2.test",
        since_ms=1_700_000_000_001,
        opened_ms=1_700_000_000_002,
        actor="cli:officer",
        dry_run=True,
        deny_asked=True,
        deny_version=4,
        subjects=5,
        items=6,
        ledger_mark=7,
        contacts_source="register",
        report='{"server": "hs2.test"}',
    )
    await uow.incidents.add(value)
    assert await uow.incidents.get(value.id) == value
    key = "incident:in-0123456789abcdef:deny:1"
    await uow.incidents.add_step(value.id, key, "deny", "room", "!room:hs1.test")
    action = filled(OutboxAction, key=key, status="dead", payload="{}")
    await insert(uow, OutboxAction, action)
    (step,) = await uow.incidents.steps(value.id)
    expected = {**action, "step": "deny", "channel": "room", "room_id": "!room:hs1.test"}
    assert_same(step, expected)
    return [IncidentRecord, type(step)]


async def room_policy(uow: UnitOfWork) -> type:
    value = RoomPolicyRecord(
        room_id="!portal:hs1.test",
        rc_room_id="GENERAL",
        name="general-bridge",
        max_age_ms=60_000,
        files_only=True,
        source="room",
        read_ms=1_700_000_000_789,
    )
    await uow.room_policies.put(value)
    assert await uow.room_policies.all() == [value]
    return RoomPolicyRecord


async def server_software(uow: UnitOfWork) -> type:
    # Only two writes set it: an answer, then a failed check that keeps the answer.
    await uow.servers.seen("hs2.test", "Synapse", "1.163.0", 1_000)
    await uow.servers.failed("hs2.test", "timeout", 2_000)
    expected = SoftwareRecord("hs2.test", "Synapse", "1.163.0", 1_000, 1_000, 2_000, "timeout")
    assert await uow.servers.get(["hs2.test"]) == {"hs2.test": expected}
    return SoftwareRecord


ROUND_TRIPS: list[Callable[[UnitOfWork], Awaitable[type | list[type]]]] = [
    portal,
    ghost,
    shadow,
    bridged_message,
    persona,
    room_knowledge,
    confirmation,
    watch,
    request_record,
    request_row,
    erasure_children,
    ledger_values,
    audit_record,
    dead_letter,
    partner,
    incident,
    room_policy,
    server_software,
]


@pytest_asyncio.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A migrated database that can seal session tokens (the shadows')."""
    database = Database(
        db_url,
        pseudonym_key=b"k" * 16,
        encryption_key="storage-encryption-key-for-tests-0123456789",
    )
    await database.upgrade()
    yield database
    await database.close()


async def test_each_value_type_round_trips(db: Database) -> None:
    covered: set[str] = set()
    for trip in ROUND_TRIPS:
        async with db.unit_of_work() as uow:
            got = await trip(uow)
        covered |= {t.__name__ for t in (got if isinstance(got, list) else [got])}
    covered |= await _queues(db)
    assert covered | set(NOT_ROW_VALUES) >= _storage_values()


async def _queues(db: Database) -> set[str]:
    """The inbox and outbox read through their own sessions."""
    payload = {"event_id": "$e", "type": "m.room.message", "room_id": "!r", "body": "x"}
    assert await db.inbox.store_events("matrix", records([payload])) == 1
    (stored,) = await db.inbox.pending(10)
    assert (stored.source, stored.event_id, body(stored.payload)) == ("matrix", "$e", payload)
    values = filled(OutboxAction, status="pending", next_attempt_ms=0, payload='{"a": 1}')
    async with db.unit_of_work() as uow:
        row = await insert(uow, OutboxAction, values)
    (action,) = await db.outbox.due(10)
    expected = {**values, "id": row.id, "payload": {"a": 1}}
    assert_same(action, expected)
    await db.inbox.record_failure(stored.id, "boom", give_up=False)
    (again,) = await db.inbox.pending(10)
    assert again.attempts == 1
    return {type(stored).__name__, type(action).__name__}


def _storage_values() -> set[str]:
    names: set[str] = set()
    for info in pkgutil.iter_modules(bridge.storage.__path__):
        module = importlib.import_module(f"bridge.storage.{info.name}")
        for name, obj in inspect.getmembers(module, inspect.isclass):
            if obj.__module__ == module.__name__ and dataclasses.is_dataclass(obj):
                names.add(name)
    return names


def test_the_value_list_is_complete() -> None:
    """A value type nobody round-trips is named here: give it a round trip above."""
    missing = _storage_values() - set(NOT_ROW_VALUES) - set(_expected_covered())
    assert not missing, f"no round trip for {sorted(missing)}"


def _expected_covered() -> list[str]:
    return [
        "Portal",
        "Ghost",
        "Shadow",
        "BridgedMessage",
        "Persona",
        "RoomKnowledge",
        "Confirmation",
        "Watch",
        "RequestRecord",
        "RequestRow",
        "ItemRecord",
        "LogRecord",
        "RecipientRecord",
        "StepRecord",
        "NoticeContact",
        "SubjectRecord",
        "PresenceRecord",
        "AuditRecord",
        "DeadLetter",
        "StoredEvent",
        "Action",
        "PartnerRecord",
        "IncidentRecord",
        "IncidentStep",
        "RoomPolicyRecord",
        "SoftwareRecord",
        "AggregateRow",
    ]
