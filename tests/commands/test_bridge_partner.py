"""`!bridge partner allow|minimise|deny <server>`: a bridge admin's decision about a
server (how a room held for an unregistered server is released), in a room that is not
bridged; refusals change nothing."""

from __future__ import annotations

from pathlib import Path

from bridge.commands.bridge_admin import BridgeCommands
from bridge.commands.context import CommandContext
from bridge.commands.parser import parse
from bridge.config import load_config
from bridge.privacy.audit import AuditLog
from bridge.privacy.ledger import DisclosureLedger
from bridge.privacy.partner_gate import room_blocks
from bridge.privacy.partners import PartnerRegister
from bridge.storage.database import Database
from bridge.storage.outbox import Action
from tests.fixtures.bridge_config import write_config
from tests.privacy.helpers import ROOM, SETTINGS, member

ADMIN_ROOM = "!admin:hs1.test"


async def _run(db: Database, commands: BridgeCommands, text: str, sender: str, n: int) -> str:
    ctx = CommandContext("matrix", sender, sender, ADMIN_ROOM, f"$cmd{n}", False)
    async with db.unit_of_work() as uow:
        await commands(uow, ctx, parse(text))
    replies: list[Action] = []
    while batch := await db.outbox.due(100):
        replies += batch
        async with db.unit_of_work() as uow:
            for action in batch:
                await uow.outbox_done(action.id)
    return " ".join(str(a.payload.get("text")) for a in replies)


async def test_an_admin_releases_a_held_room_by_registering_the_server(
    db: Database, tmp_path: Path
) -> None:
    config = load_config(
        write_config(tmp_path / "config.yaml", bridge={"admins": ["@op:hs1.test"]})
    )
    commands = BridgeCommands(config)
    ledger = DisclosureLedger(SETTINGS)
    await member(db, ledger, "@dave:hs3.test", "join", 1_000)

    async def held() -> list[str]:
        async with db.unit_of_work() as uow:
            return [b.server for b in await room_blocks(uow, ROOM, "hs1.test", "hold")]

    assert await held() == ["hs3.test"]
    answer = await _run(db, commands, "!bridge partner allow hs3.test", "@op:hs1.test", 1)
    assert "needs --organisation and --lawful-basis" in answer
    answer = await _run(
        db, commands, "!bridge partner allow hs3.test --organisation X", "@eve:hs1.test", 2
    )
    assert "Only bridge admins" in answer
    answer = await _run(db, commands, "!bridge partner perhaps hs3.test", "@op:hs1.test", 3)
    assert "Usage: !bridge partner" in answer
    assert await PartnerRegister(db).all() == [] and await held() == ["hs3.test"]

    text = '!bridge partner allow hs3.test --organisation "Agency Three" --basis public_task'
    answer = await _run(db, commands, text, "@op:hs1.test", 4)
    assert "hs3.test (Agency Three) is now under policy allow" in answer
    assert await held() == []
    entry = (await AuditLog(db).newest(limit=1, kind="partner.set"))[0]
    assert entry.details["server"] == "hs3.test" and entry.details["created"] is True

    answer = await _run(db, commands, "!bridge partner deny hs3.test", "@op:hs1.test", 5)
    assert "now under policy deny" in answer
    assert (await PartnerRegister(db).get("hs3.test")).policy == "deny"  # type: ignore[union-attr]
