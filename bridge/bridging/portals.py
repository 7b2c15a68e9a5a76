"""Portal set-up: which Rocket.Chat rooms are bridged, and creating their Matrix rooms."""

from __future__ import annotations

import logging
import re

from bridge.bridging.action_values import CreatePortal, SeedLedger
from bridge.config import Config
from bridge.pipeline import keys
from bridge.pipeline.actions import new_action
from bridge.storage.bridging import Portal
from bridge.storage.database import UnitOfWork

log = logging.getLogger(__name__)


def alias_localpart(config: Config, rc_room_id: str) -> str:
    safe = re.sub(r"[^a-zA-Z0-9._=-]", "_", rc_room_id)
    return config.appservice.alias_localpart_template.format(room=safe)


async def link_room(
    uow: UnitOfWork,
    config: Config,
    rc_room_id: str,
    rc_room_type: str,
    name: str | None,
    topic: str | None = None,
    matrix_room_id: str | None = None,
    *,
    invitees: tuple[str, ...] = (),
) -> Portal:
    """Record a portal, and queue the creation of its Matrix room when it has none."""
    portal = await uow.bridging.portal_by_rc(rc_room_id)
    if portal is None:
        portal = await uow.bridging.add_portal(rc_room_id, rc_room_type, matrix_room_id, name)
    elif matrix_room_id and portal.matrix_room_id != matrix_room_id:
        await uow.bridging.set_portal_room(portal.id, matrix_room_id)
    elif not portal.active:
        await uow.bridging.set_portal_active(portal.id, True)
    if matrix_room_id is not None:
        # An existing room: the ledger needs its members and visibility from the server.
        await uow.enqueue(
            new_action(
                SeedLedger(portal.id, matrix_room_id, rc_room_id),
                key=keys.seed_ledger_key(matrix_room_id),
                queue=keys.matrix_queue(portal.id),
            )
        )
    if matrix_room_id is None and portal.matrix_room_id is None:
        create = CreatePortal(
            portal_id=portal.id,
            rc_room_id=rc_room_id,
            name=name,
            topic=topic,
            alias_localpart=alias_localpart(config, rc_room_id),
            history_visibility=config.bridge.history_visibility,
            invitees=invitees,
        )
        await uow.enqueue(
            new_action(create, key=keys.portal_key(rc_room_id), queue=keys.matrix_queue(portal.id))
        )
    refreshed = await uow.bridging.portal_by_rc(rc_room_id)
    assert refreshed is not None
    return refreshed
