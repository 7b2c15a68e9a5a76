"""A receiver's answers (docs/erasure-protocol.md) on our side: "applied" makes the
server's notice row "purged by recipient" with the receiver's detail, "refused" makes it
"refused by recipient" with the reason; only from the contact and DM the request went to;
a request waits for a receiver's final answer until its deadline."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import text

from bridge.pipeline.contracts import Inbound
from bridge.privacy import report as words
from bridge.privacy.audit import AuditLog
from bridge.privacy.erasure import ErasureEngine
from bridge.privacy.erasure_acks import ACK_REFUSED, NOT_A_CONTACT, ErasureAckHandler
from bridge.privacy.erasure_model import RequestState
from bridge.privacy.erasure_protocol import Response
from bridge.privacy.notices import RESPONSE_EVENT
from bridge.privacy.partners import PartnerChanges, PartnerRegister
from bridge.storage.database import Database
from bridge.storage.erasure import NOTICE_ROOM
from tests.erasure.test_engine_unit import OFFICER, _engine, _seed
from tests.erasure.test_report_text import _notice_row
from tests.fixtures.inbox import matrix_inbound

CONTACT, DM = "@admin:hs2.test", "!dm:hs1.test"


def response(sender: str, room: str, content: dict[str, object]) -> Inbound[Any]:
    return matrix_inbound(
        {
            "type": RESPONSE_EVENT,
            "event_id": "$r",
            "sender": sender,
            "room_id": room,
            "origin_server_ts": 1,
            "content": content,
        }
    )


async def notified(db: Database, engine: ErasureEngine) -> str:
    await _seed(db)
    rid = await engine.request("rcAlice", OFFICER, verified=True)
    for _ in range(3):
        await engine.step()
    async with db.unit_of_work() as uow:
        await uow.erasure.set_recipient(rid, "hs2.test", NOTICE_ROOM, words.ADMIN_NOTIFIED)
        await uow.erasure.add_notice_contacts(rid, "hs2.test", {CONTACT: DM})
    return rid


async def answer(db: Database, engine: ErasureEngine, event: Inbound[Any]) -> None:
    async with db.unit_of_work() as uow:
        await ErasureAckHandler(engine)(uow, event)


async def test_applied_becomes_purged_by_recipient_with_its_detail(db: Database) -> None:
    base = _engine(db, admin_token=True)
    engine = ErasureEngine(db, dataclasses.replace(base._settings, receivers=("hs2.test",)))  # noqa: SLF001
    rid = await notified(db, engine)
    async with db.engine.begin() as conn:  # every action ran: only the receiver is awaited
        await conn.execute(text("UPDATE outbox SET status = 'done'"))
    await engine.step()
    assert (await engine.status(rid)).state is RequestState.EXECUTING, "waits for hs2"

    applied = Response(rid, "applied", detail="2 events redacted", purged={"events_redacted": 2})
    await answer(db, engine, response("@mallory:hs2.test", DM, applied.content()))
    assert _notice_row(await engine.status(rid), "hs2.test").status == words.ADMIN_NOTIFIED
    entries = await AuditLog(db).newest(kind=ACK_REFUSED)
    assert entries[0].details["reason"] == NOT_A_CONTACT

    await answer(
        db, engine, response(CONTACT, DM, {"version": 2, "request_id": rid, "status": "received"})
    )
    assert _notice_row(await engine.status(rid), "hs2.test").status == words.ACKNOWLEDGED
    await answer(db, engine, response(CONTACT, DM, applied.content()))
    row = _notice_row(await engine.status(rid), "hs2.test")
    assert (row.status, row.detail) == (words.PURGED, "2 events redacted")
    # A later refusal (a replay, a change of mind) does not undo the final answer.
    refused = Response(rid, "refused", reason="changed our mind")
    await answer(db, engine, response(CONTACT, DM, refused.content()))
    assert _notice_row(await engine.status(rid), "hs2.test").status == words.PURGED
    await engine.step()
    assert (await engine.status(rid)).state.finished


async def test_refused_becomes_refused_by_recipient_with_the_reason(db: Database) -> None:
    engine = _engine(db, admin_token=True)
    rid = await notified(db, engine)
    refused = Response(rid, "refused", reason="not a configured peer")
    await answer(db, engine, response(CONTACT, DM, refused.content()))
    row = _notice_row(await engine.status(rid), "hs2.test")
    assert (row.status, row.detail) == (words.REFUSED, "not a configured peer")


async def test_a_receiver_marked_in_the_partner_register_is_waited_for(db: Database) -> None:
    engine = _engine(db, admin_token=True)  # no privacy.receivers in the config
    await PartnerRegister(db).set(
        "hs2.test",
        PartnerChanges(organisation="Agency Two", lawful_basis="public_task", receiver=True),
        "cli:t",
    )
    rid = await notified(db, engine)
    async with db.engine.begin() as conn:  # every action ran: only the receiver is awaited
        await conn.execute(text("UPDATE outbox SET status = 'done'"))
    await engine.step()
    assert (await engine.status(rid)).state is RequestState.EXECUTING, "waits for hs2"
    # The register says it no longer runs one: nothing is awaited any more.
    await PartnerRegister(db).set("hs2.test", PartnerChanges(receiver=False), "cli:t")
    await engine.step()
    assert (await engine.status(rid)).state.finished
