"""What the bridge writes down when an outbound action is done.

These hooks run in the database transaction that marks the action done, so the id
mapping (and the disclosure ledger's record) exists exactly when the send happened.
"""

from __future__ import annotations

from typing import Any

from bridge.bridging import actions
from bridge.storage.bridging import BridgedMessage, Shadow
from bridge.storage.database import UnitOfWork
from bridge.storage.outbox import Action
from bridge.workers.outbox import OnDone

Result = dict[str, Any] | None


async def matrix_sent(uow: UnitOfWork, action: Action, result: Result) -> None:
    assert result is not None
    record = action.payload.get("record")
    if record:
        await uow.bridging.add_message(
            BridgedMessage(
                portal_id=action.payload["portal_id"],
                rc_message_id=record["rc_message_id"],
                part=record["part"],
                matrix_event_id=result["event_id"],
                origin=record["origin"],
                sender=record["sender"],
                sent_ms=record["sent_ms"],
                rc_thread_id=record.get("rc_thread_id"),
            )
        )
    reaction = action.payload.get("reaction")
    if reaction:
        await uow.bridging.add_reaction(
            result["event_id"],
            reaction["rc_message_id"],
            reaction["emoji"],
            reaction["sender"],
            reaction["origin"],
        )


async def matrix_redacted(uow: UnitOfWork, action: Action, _result: Result) -> None:
    if action.payload.get("reaction"):
        await uow.bridging.remove_reaction(action.payload["event_id"])
    elif action.payload.get("rc_message_id"):
        await uow.bridging.mark_deleted(action.payload["rc_message_id"])


async def portal_created(uow: UnitOfWork, action: Action, result: Result) -> None:
    assert result is not None
    await uow.bridging.set_portal_room(action.payload["portal_id"], result["room_id"])


async def ghost_profile_set(uow: UnitOfWork, action: Action, _result: Result) -> None:
    await uow.bridging.set_ghost_profile(
        action.payload["rc_user_id"], action.payload["display_name"], None
    )


async def shadow_ready(uow: UnitOfWork, _action: Action, result: Result) -> None:
    assert result is not None
    await uow.bridging.save_shadow(
        Shadow(
            matrix_user_id=result["matrix_user_id"],
            rc_user_id=result["rc_user_id"],
            rc_username=result["rc_username"],
            display_name=result["display_name"],
            auth_token=result["auth_token"],
        )
    )


async def rc_sent(uow: UnitOfWork, action: Action, result: Result) -> None:
    assert result is not None
    payload = action.payload
    record = payload["record"]
    await uow.bridging.add_message(
        BridgedMessage(
            portal_id=payload["portal_id"],
            rc_message_id=result["rc_message_id"],
            part=0,
            matrix_event_id=record["matrix_event_id"],
            origin="matrix",
            sender=payload["sender"],
            sent_ms=record["sent_ms"],
            rc_thread_id=record.get("rc_thread_id"),
        )
    )


async def rc_deleted(uow: UnitOfWork, action: Action, _result: Result) -> None:
    await uow.bridging.mark_deleted(action.payload["rc_message_id"])


async def rc_reacted(uow: UnitOfWork, action: Action, _result: Result) -> None:
    p = action.payload
    if p["should_react"]:
        await uow.bridging.add_reaction(
            p["matrix_event_id"], p["rc_message_id"], p["emoji"], p["sender"], "matrix"
        )
    else:
        await uow.bridging.remove_reaction(p["matrix_event_id"])


ON_DONE: dict[str, OnDone] = {
    actions.MATRIX_SEND: matrix_sent,
    actions.MATRIX_UPLOAD: matrix_sent,
    actions.MATRIX_REDACT: matrix_redacted,
    actions.CREATE_PORTAL: portal_created,
    actions.MATRIX_PROFILE: ghost_profile_set,
    actions.RC_SHADOW: shadow_ready,
    actions.RC_SEND: rc_sent,
    actions.RC_UPLOAD: rc_sent,
    actions.RC_DELETE: rc_deleted,
    actions.RC_REACT: rc_reacted,
}
