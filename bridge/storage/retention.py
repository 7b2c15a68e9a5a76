"""Deleting what the bridge no longer needs: processed inbox events, done outbox actions and
expired confirmation codes.

Their bodies are already gone (blanked when they were processed); the rows stay a while
only so that a redelivery is recognised: the same homeserver transaction (id and body
hash), the same event id, the same idempotency key. Past the retention they go entirely.
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from bridge.storage.commands_rows import ConfirmationRow
from bridge.storage.common import rowcount
from bridge.storage.inbox import DONE as INBOX_DONE
from bridge.storage.inbox import FAILED, SKIPPED
from bridge.storage.models import AppServiceTransaction, InboxEvent, OutboxAction
from bridge.storage.outbox import DONE as OUTBOX_DONE


async def prune_processed(session: AsyncSession, cutoff_ms: int) -> int:
    """Delete rows processed (or given up) before ``cutoff_ms``. Pending actions and events
    stay, and so do dead letters (an operator's to retry or drop) and dropped actions (the
    erasure engine counts them)."""
    removed = 0
    for stmt in (
        delete(InboxEvent).where(
            InboxEvent.status.in_([INBOX_DONE, SKIPPED, FAILED]),
            InboxEvent.processed_ms < cutoff_ms,
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
