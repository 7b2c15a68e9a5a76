"""A Matrix reply to a message inside a Rocket.Chat thread goes to that thread.

The message map must give back the thread root it stored; read without it, a reply to a
thread message was posted as a thread of the reply instead (a new thread on Rocket.Chat).
"""

from __future__ import annotations

from pathlib import Path

from mautrix.types import RelatesTo

from bridge.bridging.identities import Identities
from bridge.bridging.matrix_to_rc import MatrixToRocketChat
from bridge.config import load_config
from bridge.storage.bridging import BridgedMessage
from bridge.storage.database import Database
from tests.fixtures.bridge_config import write_config


async def test_a_reply_to_a_thread_message_joins_its_thread(db: Database, tmp_path: Path) -> None:
    relay = MatrixToRocketChat(
        Identities(load_config(write_config(tmp_path / "c.yaml"), environ={})),
        lambda _: False,
        4000,
    )
    async with db.unit_of_work() as uow:
        portal = await uow.bridging.add_portal("rcRoom", "c", "!room:hs1.test", "general")
        for rc_id, event, thread in (("root", "$root", None), ("inner", "$inner", "root")):
            await uow.bridging.add_message(
                BridgedMessage(portal.id, rc_id, 0, event, "rc", "rcAlice", 1, rc_thread_id=thread)
            )
        reply = RelatesTo.deserialize({"m.in_reply_to": {"event_id": "$inner"}})
        assert await relay._thread_of(uow, reply) == "root"  # noqa: SLF001
        in_thread = RelatesTo.deserialize({"rel_type": "m.thread", "event_id": "$inner"})
        assert await relay._thread_of(uow, in_thread) == "root"  # noqa: SLF001
