"""Deleting what the bridge no longer needs: processed inbox events, done outbox actions and
expired confirmation codes.

Their bodies are already gone (blanked when they were processed); the rows stay a while
only so that a redelivery is recognised: the same homeserver transaction (id and body
hash), the same event id, the same idempotency key. Past the retention they go entirely.
"""

from __future__ import annotations

from sqlalchemy import delete, func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.storage.commands_rows import ConfirmationRow
from bridge.storage.common import rowcount
from bridge.storage.inbox import DONE as INBOX_DONE
from bridge.storage.inbox import FAILED, SCRUBBED, SKIPPED
from bridge.storage.models import AppServiceTransaction, InboxEvent, OutboxAction
from bridge.storage.outbox import DONE as OUTBOX_DONE

PROCESSED = (INBOX_DONE, SKIPPED, FAILED)


async def prune_processed(session: AsyncSession, cutoff_ms: int) -> int:
    """Delete rows processed (or given up) before ``cutoff_ms``. Pending actions and events
    stay, and so do dead letters (an operator's to retry or drop) and dropped actions (the
    erasure engine counts them). Returns how many rows went."""
    await _scrub_leftovers(session)
    removed = 0
    for stmt in (
        delete(InboxEvent).where(
            InboxEvent.status.in_(PROCESSED),
            # An event given up by an older version has no processed time.
            func.coalesce(InboxEvent.processed_ms, InboxEvent.received_ms) < cutoff_ms,
        ),
        delete(OutboxAction).where(
            OutboxAction.status == OUTBOX_DONE, OutboxAction.done_ms < cutoff_ms
        ),
        delete(AppServiceTransaction).where(AppServiceTransaction.received_ms < cutoff_ms),
        # A confirmation code (only its hash) and what it would confirm: useless once
        # expired, whether it was used or not.
        delete(ConfirmationRow).where(ConfirmationRow.expires_ms < cutoff_ms),
    ):
        removed += rowcount(await session.execute(stmt))
    return removed


async def _scrub_leftovers(session: AsyncSession) -> None:
    """Blank the bodies an older version left in processed rows (it kept them), so they do
    not wait out the retention; a no-op once every processed row is blank."""
    await session.execute(
        update(InboxEvent)
        .where(InboxEvent.status.in_(PROCESSED), InboxEvent.payload != SCRUBBED)
        .values(payload=SCRUBBED)
    )
    await session.execute(
        update(OutboxAction)
        .where(
            OutboxAction.status == OUTBOX_DONE,
            or_(OutboxAction.payload != SCRUBBED, OutboxAction.result.is_not(None)),
        )
        .values(payload=SCRUBBED, result=None)
    )
