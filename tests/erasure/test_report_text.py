"""The person's report is built from the statuses: it never says administrators were sent
a written request unless one was, and says "hidden" where Rocket.Chat kept the message."""

from __future__ import annotations

import pytest

from bridge.privacy import report as words
from bridge.privacy.erasure_model import ErasureStatus, RecipientStatus
from bridge.privacy.erasure_status import render_report
from bridge.storage.database import Database
from bridge.storage.erasure import NOTICE_ROOM
from tests.erasure.test_engine_unit import OFFICER, _engine, _seed

SENT = "their administrators were sent a written request instead"


@pytest.mark.parametrize(
    ("notice", "said"),
    [
        (words.PENDING, "a written request to their administrators has not been sent yet"),
        (words.NO_CONTACT, "they publish no administrator contact, so no written request"),
        (
            words.failed("homeserver answered 500"),
            "a written request to their administrators was not sent (failed: homeserver",
        ),
        (words.ADMIN_NOTIFIED, SENT),
    ],
)
async def test_the_written_request_is_claimed_only_when_sent(
    db: Database, notice: str, said: str
) -> None:
    await _seed(db)  # hs3 left the room before Alice's messages: no redaction reaches it
    engine = _engine(db, admin_token=True)
    rid = await engine.request("rcAlice", OFFICER, verified=True)
    for _ in range(3):
        await engine.step()
    async with db.unit_of_work() as uow:
        await uow.erasure.set_recipient(rid, "hs3.test", NOTICE_ROOM, notice)
    text = render_report(await engine.status(rid))
    assert f"joined it after your message (hs3.test), cannot be reached by a redaction: {said}" in (
        text
    )
    assert (SENT in text) == (notice == words.ADMIN_NOTIFIED)
    assert "Rocket.Chat keeps" not in text, "nothing hidden here"


async def test_hidden_rocketchat_copies_are_reported_as_kept(db: Database) -> None:
    await _seed(db)
    engine = _engine(db, admin_token=True)
    rid = await engine.request("rcAlice", OFFICER, verified=True)
    for _ in range(3):
        await engine.step()
    async with db.unit_of_work() as uow:
        items = [i for i in await uow.erasure.items(rid) if i.rc_status == words.PENDING]
        await uow.erasure.set_rc_status(rid, [str(items[0].rc_message_id)], words.HIDDEN)
    status = await engine.status(rid)
    assert status.rocketchat[words.HIDDEN] == 1
    assert "Our Rocket.Chat keeps 1 of your messages in its database" in render_report(status)


def _notice_row(status: ErasureStatus, server: str) -> RecipientStatus:
    return next(r for r in status.recipients if r.recipient == server and r.room_id is None)
