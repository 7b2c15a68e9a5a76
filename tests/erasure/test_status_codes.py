"""Status words are stored as stable codes and shown as their labels: an older database's
labels become codes on upgrade (and labels again on downgrade), and rewording a label
changes no stored row, while what people read follows the new wording."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import text

from bridge.pipeline.actions import KINDS, executor
from bridge.privacy import erasure_kinds as kinds
from bridge.privacy import report as words
from bridge.privacy.erasure_model import RequestState
from bridge.privacy.erasure_status import render_report
from bridge.storage.database import Database
from bridge.storage.erasure_rows import (
    ErasureItemRow,
    ErasureRecipientRow,
    ErasureRequestRow,
    ErasureStepRow,
)
from bridge.storage.schema import _alembic_config, upgrade
from bridge.workers.outbox import RetryBudget
from tests.erasure.test_dead_letters import OFFICER, _engine, _erasure_ok, _run, _seed, _worker
from tests.fixtures.databases import keyed_database
from tests.foundation.test_value_round_trip import filled, insert

# (label an older version stored, the code stored now)
OLD_AND_NEW = [
    ("redaction sent", "redaction_sent"),
    ("no room redaction: left the room", "left_room"),
    ("failed: chat.delete answered 500, retrying", "retrying:chat.delete answered 500"),
    (
        "failed: the homeserver refused it: M_FORBIDDEN",
        "failed:the homeserver refused it: M_FORBIDDEN",
    ),
    ("not possible", "not_possible"),
    ("delivered", "delivered"),
]


async def _statuses(db: Database) -> list[str]:
    async with db.engine.connect() as conn:
        item = (await conn.execute(text("SELECT matrix_status, rc_status FROM erasure_item"))).one()
        rows = await conn.execute(text("SELECT status FROM erasure_recipient ORDER BY recipient"))
        recipients = [r[0] for r in rows]
        step = (await conn.execute(text("SELECT status FROM erasure_step"))).scalar_one()
    return [*item, *recipients, step]


async def _downgrade(db: Database, revision: str) -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(_alembic_config(c), revision))


async def test_the_upgrade_stores_codes_and_the_downgrade_the_labels_again(db_url: str) -> None:
    db = keyed_database(db_url)
    try:
        await upgrade(db.engine, "0019")
        old = [label for label, _ in OLD_AND_NEW]
        async with db.unit_of_work() as uow:
            request = filled(ErasureRequestRow)
            await insert(uow, ErasureRequestRow, request)
            rid = request["id"]
            item = filled(ErasureItemRow, request_id=rid, matrix_status=old[0], rc_status=old[2])
            await insert(uow, ErasureItemRow, item)
            for n, status in enumerate((old[1], old[3], old[5])):
                row = filled(ErasureRecipientRow, request_id=rid, recipient=f"hs{n}", status=status)
                await insert(uow, ErasureRecipientRow, row)
            await insert(uow, ErasureStepRow, filled(ErasureStepRow, request_id=rid, status=old[4]))
        stored_old = await _statuses(db)
        assert stored_old == [old[0], old[2], old[1], old[3], old[5], old[4]]

        await db.upgrade()
        new = dict(OLD_AND_NEW)
        assert await _statuses(db) == [new[s] for s in stored_old]
        assert [words.label(new[s]) for s in stored_old] == stored_old, "shown as before"

        await _downgrade(db, "0019")
        assert await _statuses(db) == stored_old
    finally:
        await db.close()


async def test_rewording_a_label_changes_no_stored_row(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same erasure, run with every label reworded: the rows hold the same codes, and
    the report says the new words."""
    reworded = {code: f"reworded {label}" for code, label in words.LABELS.items()}
    monkeypatch.setattr(words, "LABELS", reworded)
    await _seed(db)
    engine = _engine(db)
    rid = await engine.request("rcAlice", OFFICER, verified=True)
    executors = {k: executor(KINDS[k], _erasure_ok) for k in kinds.ALL}
    await _run(db, engine, _worker(db, executors, RetryBudget(3, 10**12)), rid)
    status = await engine.status(rid)
    assert status.state is RequestState.DONE, render_report(status)

    async with db.engine.connect() as conn:
        items = (
            await conn.execute(text("SELECT matrix_status, rc_status FROM erasure_item"))
        ).all()
        recipients = {
            r[0] for r in await conn.execute(text("SELECT status FROM erasure_recipient"))
        }
    assert set(items) == {(words.Status.REDACTION_SENT.value, words.Status.DELETED.value)}
    assert recipients == {"redaction_sent", "deleted", "no_contact"}
    report = render_report(status)
    assert "reworded redaction sent" in report and "reworded no contact published" in report
    assert "redaction_sent" not in report, "a code is never shown"
