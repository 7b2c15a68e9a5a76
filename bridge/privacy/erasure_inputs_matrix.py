"""What the Matrix side's erasure actions need, read from the erasure tables.

The privacy layer fills these in when it queues a redaction, the ghost's scrub, the media
deletion or a notice (``bridge.privacy.erasure_plan``, ``bridge.privacy.erasure_sequence``),
so the Matrix connector runs them without reading erasure state. :data:`COMPLETERS` does
the same for a row an older version queued with only the request's and item's ids, before
the connector runs it (``bridge.privacy.erasure_inputs``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import attrs

from bridge.pipeline.contracts import PermanentFailure
from bridge.privacy import erasure_kinds as kinds
from bridge.privacy import pseudonyms
from bridge.privacy import report as words
from bridge.privacy.erasure_inputs import Completer, request_of
from bridge.privacy.erasure_kinds import GhostScrub, MediaDelete, Notice, RedactItem
from bridge.privacy.notices import LEGAL_BASIS, NoticeContent
from bridge.storage.database import UnitOfWork
from bridge.storage.erasure import NOTICE_ROOM, ItemRecord, RequestRecord

MEDIA_STEP = "media"  # erasure_step.step of the media deletion (its data: the mxc URIs)


def redact_item(request_id: str, item: ItemRecord) -> RedactItem:
    return RedactItem(request_id, item.disclosure_id, item.room_id, item.event_id, item.redactor)


def media_delete(request: RequestRecord, step: str) -> MediaDelete:
    return MediaDelete(request.id, step, request.subject_matrix_id, request.scope_before_ms)


async def personas(uow: UnitOfWork, request: RequestRecord) -> tuple[str, ...]:
    """The person's personas that were ever named (so may be in rooms)."""
    if request.subject_rc_id is None:
        return ()
    found = await uow.personas.of_person(request.subject_rc_id)
    return tuple(p.matrix_user_id for p in found if p.named_ms is not None)


async def ghost_scrub(uow: UnitOfWork, request: RequestRecord, step: str) -> GhostScrub:
    return GhostScrub(request.id, step, request.subject_matrix_id, await personas(uow, request))


async def notice_contents(
    uow: UnitOfWork, request: RequestRecord, servers: Iterable[str]
) -> dict[str, NoticeContent]:
    """What the notice to each of ``servers`` says. Built once the media step settled
    (``bridge.privacy.erasure_sequence`` queues the notices then): it names the media
    deleted, so servers purge their cached copies."""
    store = uow.erasure
    items = await store.items(request.id)
    rows = await store.recipients(request.id)
    steps = {s.step: s for s in await store.steps(request.id)}
    subject = request.subject_rc_id or request.subject_matrix_id
    # The same person is named alike in every notice about them (a repeated request
    # included), until their pseudonym key is shredded.
    named = (
        await pseudonyms.of(uow, subject)
        if subject
        else f"{pseudonyms.PREFIX}{request.pseudonym or ''}"
    )
    media_step = steps.get(MEDIA_STEP)
    media = tuple(json.loads(media_step.data)) if media_step and media_step.data else ()
    out: dict[str, NoticeContent] = {}
    for server in servers:
        rooms: dict[str, list[str]] = {r.room_id: [] for r in rows if r.recipient == server}
        rooms.pop(NOTICE_ROOM, None)
        for item in items:
            if server in item.recipients.split() and item.matrix_status != words.NOT_NEEDED:
                rooms.setdefault(item.room_id, []).append(str(item.event_id))
        out[server] = NoticeContent(
            request.id,
            request.extended_due_ms or request.due_ms,
            {room: tuple(events) for room, events in rooms.items()},
            media=media,
            subject=named,
            legal_basis=LEGAL_BASIS.get(request.jurisdiction, LEGAL_BASIS["gdpr"]),
        )
    return out


# -- rows an older version queued ---------------------------------------------------------


async def _redact(uow: UnitOfWork, p: RedactItem) -> RedactItem:
    item = await uow.erasure.item_by_disclosure(p.request_id, p.disclosure_id)
    if item is None or item.event_id is None:
        raise PermanentFailure("erasure item no longer exists")
    return redact_item(p.request_id, item)


async def _ghost(uow: UnitOfWork, p: GhostScrub) -> GhostScrub:
    return await ghost_scrub(uow, await request_of(uow, p.request_id), p.step)


async def _media(uow: UnitOfWork, p: MediaDelete) -> MediaDelete:
    return media_delete(await request_of(uow, p.request_id), p.step)


async def _notice(uow: UnitOfWork, p: Notice) -> Notice:
    request = await request_of(uow, p.request_id)
    content = (await notice_contents(uow, request, [p.server]))[p.server]
    return attrs.evolve(p, content=content)


# A ghost scrub or media deletion whose request has no Matrix id completes to the same
# (no ghost): the connector then has nothing to do, as before.
COMPLETERS: dict[str, Completer[Any]] = {
    kinds.REDACT: Completer[RedactItem](lambda p: p.event_id is None, _redact),
    kinds.GHOST_SCRUB: Completer[GhostScrub](lambda p: p.ghost is None, _ghost),
    kinds.MEDIA: Completer[MediaDelete](lambda p: p.ghost is None, _media),
    kinds.NOTICE: Completer[Notice](lambda p: p.content is None, _notice),
}
