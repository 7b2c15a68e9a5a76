"""Answers from remote servers in a notice DM room: an ``org.rcbridge.erasure_ack``, or a
receiver's ``org.rcbridge.erasure_response`` (docs/erasure-protocol.md): ``received``
counts as the acknowledgement, ``applied`` and ``refused`` are final answers.

A Matrix inbox handler (registered in app.py next to the relay): the acknowledgement
is recorded in the same transaction that marks the event processed, so it is neither
lost nor counted twice.

Anyone in any room the bot is in can send an event of this type, so one counts only
when all of these hold:

- its sender is a contact the request's notice was sent to (recorded when it went out);
- it arrives in the DM room that contact's notice went to;
- the request is still waiting for it: that server's notice row says "admin notified"
  (or, for a final answer, "acknowledged by remote").

Anything else is ignored, and written to the audit log as a refused acknowledgement; the
room hears nothing back (an answer would tell a forger what to change).
"""

from __future__ import annotations

import logging

from mautrix.types import Event, GenericEvent

from bridge.pipeline.contracts import Inbound
from bridge.privacy import audit
from bridge.privacy import report as words
from bridge.privacy.erasure import ErasureEngine
from bridge.privacy.erasure_protocol import ProtocolError, Response
from bridge.privacy.notices import ACK_EVENT, RESPONSE_EVENT
from bridge.storage.database import UnitOfWork
from bridge.storage.erasure import NOTICE_ROOM

log = logging.getLogger(__name__)

ACK_REFUSED = "ack.refused"
NOT_A_CONTACT = "not a contact this request's notice was sent to"
WRONG_ROOM = "not the room the notice was sent to"
NOT_WAITING = "the request is not waiting for this acknowledgement"


class ErasureAckHandler:
    def __init__(self, engine: ErasureEngine) -> None:
        self._engine = engine

    async def __call__(self, uow: UnitOfWork, inbound: Inbound[Event]) -> None:
        event = inbound.event
        # Our own event types: mautrix reads them as GenericEvent, the content untyped.
        if not isinstance(event, GenericEvent) or event.sender is None or event.room_id is None:
            return
        if event.type.t == RESPONSE_EVENT:
            await self._response(uow, event.sender, event.room_id, event.content.serialize())
        elif event.type.t == ACK_EVENT:
            await self._ack(uow, event.sender, event.room_id, event.content["request_id"])

    async def _ack(self, uow: UnitOfWork, sender: str, room: str, request_id: object) -> None:
        if not isinstance(request_id, str) or not request_id:
            await _refuse(uow, sender, room, None, "no request id")
            return
        server, why = await _notified_server(uow, request_id, sender, room)
        if server is None:
            await _refuse(uow, sender, room, request_id, why)
            return
        if await self._engine.record_ack(uow, request_id, server, sender):
            log.info("Erasure request %s acknowledged for %s", request_id, server)

    async def _response(
        self, uow: UnitOfWork, sender: str, room: str, content: dict[str, object]
    ) -> None:
        try:
            answer = Response.parse(content)
        except ProtocolError as e:
            await _refuse(uow, sender, room, None, f"not a response: {e}")
            return
        waiting: tuple[str, ...] = (words.ADMIN_NOTIFIED,)
        if answer.status != "received":
            waiting = (words.ADMIN_NOTIFIED, words.ACKNOWLEDGED)
        server, why = await _notified_server(uow, answer.request_id, sender, room, waiting)
        if server is None:
            await _refuse(uow, sender, room, answer.request_id, why)
        elif answer.status == "received":
            await self._engine.record_ack(uow, answer.request_id, server, sender)
        elif await self._engine.record_response(uow, answer.request_id, server, sender, answer):
            log.info("Erasure request %s: %s by %s", answer.request_id, answer.status, server)


async def _notified_server(
    uow: UnitOfWork,
    request_id: str,
    sender: str,
    room: str,
    waiting: tuple[str, ...] = (words.ADMIN_NOTIFIED,),
) -> tuple[str | None, str]:
    """The server whose notice ``sender`` may acknowledge in ``room``, or why none."""
    contacts = await uow.erasure.notice_contacts(request_id, sender)
    if not contacts:
        return None, NOT_A_CONTACT
    here = {c.server for c in contacts if c.room_id == room}
    if not here:
        return None, WRONG_ROOM
    for row in await uow.erasure.recipients(request_id):
        if row.recipient in here and row.room_id == NOTICE_ROOM:
            if row.status in waiting:
                return row.recipient, ""
    return None, NOT_WAITING


async def _refuse(
    uow: UnitOfWork, sender: str, room: str, request_id: str | None, reason: str
) -> None:
    log.info("Refused an erasure acknowledgement in %s: %s", room, reason)
    request = None if request_id is None else await uow.erasure.request(request_id[:40])
    await audit.AuditLog.append(
        uow,
        ACK_REFUSED,
        sender,
        None if request is None else request.subject_ref,
        {
            "request_id": None if request_id is None else request_id[:40],
            "room_id": room[:255],
            "reason": reason,
        },
    )
