"""After a real conversation both ways, with files, no table holds what was written.

Bodies and files are held only while in flight: once the pipeline has delivered them,
every column of every table (read through SQLAlchemy reflection, so a table added later
is scanned too) is searched for the conversation's text, file names and bytes, and for
the session tokens involved, which may only be stored sealed.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from mautrix.types import RoomID
from sqlalchemy import MetaData, select, text

from bridge.ids import RCRoomID
from bridge.sandbox.models import MatrixUser
from bridge.storage.database import Database
from tests.bridging.helpers import MatrixView, rc_history
from tests.fixtures.bridge_stack import BridgeStack, Portal, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def _every_value(db: Database) -> list[tuple[str, str, Any]]:
    """(table, column, value) for every non-null value in the database."""
    async with db.engine.connect() as conn:
        metadata = MetaData()
        await conn.run_sync(metadata.reflect)
        found = []
        for table in metadata.sorted_tables:
            for row in await conn.execute(select(table)):
                for column, value in zip(table.columns.keys(), row, strict=True):
                    if value is not None:
                        found.append((table.name, column, value))
        return found


def _holding(values: list[tuple[str, str, Any]], needles: dict[str, str]) -> list[str]:
    hits = []
    for table, column, value in values:
        haystack = value if isinstance(value, bytes) else str(value).encode()
        for what, needle in needles.items():
            if needle.encode() in haystack:
                hits.append(f"{what} in {table}.{column}")
    return hits


async def _in_flight(db: Database, needles: dict[str, str]) -> bool:
    """Whether an inbox event or outbox action still pending names a marker."""
    async with db.engine.connect() as conn:
        pending = [
            str(payload)
            for table in ("inbox_event", "outbox")
            for (payload,) in await conn.execute(
                text(f"SELECT payload FROM {table} WHERE status = 'pending'")  # noqa: S608
            )
        ]
    return any(needle in payload for payload in pending for needle in needles.values())


async def test_no_table_keeps_a_conversation_or_a_token_in_plain_text(
    bridge_stack: BridgeStack,
    portal: Any,
    make_user: Any,
) -> None:
    tag = uuid.uuid4().hex[:10]
    markers = {
        "rc text": f"rc-said-{tag}",
        "matrix text": f"mx-said-{tag}",
        "rc file name": f"rc-file-{tag}.txt",
        "rc file bytes": f"rc-bytes-{tag}",
        "matrix file name": f"mx-file-{tag}.txt",
        "matrix file bytes": f"mx-bytes-{tag}",
    }
    carol = await bridge_stack.rc_user()
    alice_user: MatrixUser = await make_user(1)
    room: Portal = await portal([carol], [alice_user])
    alice = MatrixView(alice_user)
    matrix_room = RoomID(room.matrix_room_id)
    ghosts = "@" + bridge_stack.registration.user_prefix
    try:
        await alice.send(matrix_room, {"msgtype": "m.text", "body": markers["matrix text"]})
        await carol.post_message(RCRoomID(room.rc_room_id), markers["rc text"])
        mxc = await alice.client.upload_media(
            markers["matrix file bytes"].encode(),
            mime_type="text/plain",
            filename=markers["matrix file name"],
        )
        await alice.send(
            matrix_room,
            {"msgtype": "m.file", "body": markers["matrix file name"], "url": mxc},
        )
        await carol.upload(
            RCRoomID(room.rc_room_id),
            markers["rc file bytes"].encode(),
            markers["rc file name"],
            "text/plain",
        )

        async def on_rocketchat() -> bool:
            history = await rc_history(carol, room.rc_room_id)
            texts = {m.text for m in history}
            names = {f.name for m in history for f in m.files}
            return markers["matrix text"] in texts and markers["matrix file name"] in names

        async def on_matrix() -> bool:
            bodies = {e["content"].get("body") for e in await alice.messages(matrix_room, ghosts)}
            return {markers["rc text"], markers["rc file name"]} <= bodies

        await wait_for(on_rocketchat, 60)
        await wait_for(on_matrix, 60)

        async def delivered() -> bool:
            return not await _in_flight(bridge_stack.app.db, markers)

        await wait_for(delivered, 60)

        async with bridge_stack.app.db.unit_of_work() as uow:
            shadow = await uow.bridging.shadow(alice_user.user_id)
        assert shadow is not None and shadow.auth_token, "alice's shadow posted with a token"
        admin = bridge_stack.app.rocketchat
        assert admin is not None and admin.admin.login_info is not None
        assert carol.login_info is not None
        secrets = {
            "shadow session token": shadow.auth_token,
            "bridge's Rocket.Chat token": admin.admin.login_info.auth_token,
            "carol's Rocket.Chat token": carol.login_info.auth_token,
        }
        values = await _every_value(bridge_stack.app.db)
        assert len({v[0] for v in values}) >= 10, "the scan reads the bridge's tables"
        assert _holding(values, markers | secrets) == []
        # The pruning that deletes what is left after the retention runs in this bridge.
        assert "pruning" in {t.get_name() for t in bridge_stack.app._tasks}
    finally:
        await alice.close()
