"""Mail to e-mail contacts through the outbox, against a real SMTP server on loopback
(aiosmtpd): delivered with its headers; an outage is retried without spending attempts,
and the mail arrives once the server is back."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from bridge.config.model import MailConfig
from bridge.pipeline.actions import executor, on_done
from bridge.privacy.audit import AuditLog
from bridge.privacy.mail import (
    MAIL_SEND,
    MAIL_SENT,
    MailSend,
    MailSender,
    MailSent,
    mail_action,
    mailed,
    message_id,
)
from bridge.sandbox.ports import free_ports
from bridge.storage.database import Database
from bridge.workers.outbox import OutboxWorker


class Sink:
    """Keeps every message the SMTP server accepts."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Sink, int]]:
    port = free_ports(1)[0]
    yield Sink(), port


def _worker(db: Database, port: int, clock: list[int]) -> OutboxWorker:
    config = MailConfig(host="127.0.0.1", port=port, security="none", sender="bridge@hs1.test")
    return OutboxWorker(
        db,
        {MAIL_SEND: executor(MailSend, MailSender(config).send)},
        on_done={MAIL_SEND: on_done(MailSend, MailSent, mailed)},
        clock=lambda: clock[0],
    )


async def test_a_mail_outage_is_retried_through_the_outbox(
    db: Database, smtp: tuple[Sink, int]
) -> None:
    sink, port = smtp
    clock = [1_800_000_000_000]
    worker = _worker(db, port, clock)
    action = mail_action("erasure:r1:notice:hs2", "dpo@hs2.example", "Erasure request r1", "words")
    await db.outbox.add(action)

    assert await worker.drain_once() == 1  # no server listening yet
    row = await db.outbox.get(action.key) or {}
    assert row["status"] == "pending" and row["attempts"] == 0
    assert "unreachable" in str(row["last_error"])

    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        clock[0] += 3_600_000
        assert await worker.drain_once() == 1
    finally:
        controller.stop()
    assert (await db.outbox.get(action.key) or {})["status"] == "done"
    ((rcpt, msg),) = sink.messages
    assert rcpt == ["dpo@hs2.example"]
    assert msg["Subject"] == "Erasure request r1" and msg["From"] == "bridge@hs1.test"
    assert msg["Message-ID"] == message_id(action.key)
    assert msg.get_payload().strip() == "words"
    entry = (await AuditLog(db).newest(limit=1))[0]
    assert entry.kind == MAIL_SENT and "dpo@" not in str(entry.details)


async def test_a_refused_recipient_is_a_dead_letter_not_a_retry_loop(
    db: Database, smtp: tuple[Sink, int]
) -> None:
    class Refusing(Sink):
        async def handle_RCPT(  # noqa: N802
            self, server: Any, session: Any, envelope: Any, address: str, options: Any
        ) -> str:
            return "550 no such user"

    _, port = smtp
    controller = Controller(Refusing(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        worker = _worker(db, port, [1_800_000_000_000])
        action = mail_action("k", "nobody@hs2.example", "s", "t")
        await db.outbox.add(action)
        await worker.drain_once()
    finally:
        controller.stop()
    row = await db.outbox.get(action.key) or {}
    assert row["status"] == "dead" and "refused" in str(row["last_error"])
