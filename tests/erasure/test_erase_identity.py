"""After a whole-subject erasure no table names the person, except by their pseudonym.

Each test drives a person through what leaves traces of them (messages both ways, a
mention and a reaction, a DM with the bot, the one-time notice, opt-out and back, a
status lookup, a self-service erasure with its confirmation code), waits until the
erasure finished and the queues drained, then reads every column of every table
(reflected from the database with SQLAlchemy, so a table added later is scanned too) and
looks for each of the person's ids as a substring. The audit chain must still verify,
and the request stays readable. Then the shred job runs on a clock set past the grace:
no key left on the machine reproduces, from the person's ids, anything the database
holds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest
from mautrix.types import RoomID
from sqlalchemy import MetaData, func, select

from bridge.cli.main import main
from bridge.ids import RCMessageID, RCRoomID
from bridge.privacy.audit import AuditLog
from bridge.privacy.erasure import DAY_MS
from bridge.privacy.erasure_model import RequestState
from bridge.privacy.pseudonyms import existing_in, member_tag
from bridge.privacy.queries import LedgerQueries, SubjectNotFoundError
from bridge.rocketchat.rest import RCRestClient
from bridge.sandbox.models import MatrixUser
from bridge.storage import all_rows  # noqa: F401 - registers every table
from bridge.storage.ledger_rows import LedgerMember
from bridge.storage.models import Base, InboxEvent, OutboxAction
from bridge.workers.housekeeping import prune_jobs
from tests.bridging.helpers import MatrixView, rc_history
from tests.commands.helpers import (
    CODE,
    ask_matrix,
    ask_rc,
    bot_notices,
    matrix_dm,
    rc_bot_texts,
    rc_dm,
)
from tests.fixtures.bridge_stack import FAST, BridgeStack, Portal, wait_for
from tests.privacy.shredding import keys_on_machine, reproduced, stored_values

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


@dataclass(frozen=True)
class Hit:
    table: str
    column: str
    needle: str
    sample: str  # the value it was found in (one of them), to tell what wrote it

    def __str__(self) -> str:
        return f"{self.table}.{self.column} holds {self.needle!r}, e.g. in {self.sample!r}"


async def scan(stack: BridgeStack, needles: list[str]) -> tuple[list[Hit], str]:
    """Every (table, column) holding one of ``needles``, and all text read (to look for
    the pseudonym)."""
    hits: dict[tuple[str, str, str], Hit] = {}
    seen: list[str] = []
    schema = MetaData()  # what the database holds, not only what the models declare
    async with stack.app.db.engine.connect() as conn:
        await conn.run_sync(schema.reflect)
        assert set(Base.metadata.tables) <= set(schema.tables)
        for table in schema.sorted_tables:
            for row in (await conn.execute(select(table))).all():
                for column, value in zip(table.columns, row, strict=True):
                    if value is None:
                        continue
                    text = value.hex() if isinstance(value, bytes) else str(value)
                    seen.append(text)
                    for n in needles:
                        if n and n in text:
                            at = (table.name, column.name, n)
                            hits.setdefault(at, Hit(*at, text[:300]))
    return [hits[k] for k in sorted(hits)], "\n".join(seen)


async def drained(stack: BridgeStack) -> bool:
    """Nothing left to do: no pending inbox event or outbox action."""
    async with stack.app.db.sessions() as session:
        inbox = await session.scalar(
            select(func.count()).select_from(InboxEvent).where(InboxEvent.status == "pending")
        )
        outbox = await session.scalar(
            select(func.count()).select_from(OutboxAction).where(OutboxAction.status == "pending")
        )
    return not inbox and not outbox


def logged_ids(caplog: pytest.LogCaptureFixture, ids: list[str]) -> list[str]:
    """The bridge's log lines at INFO and above that name one of ``ids``."""
    return [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.name.startswith("bridge")
        and r.levelno >= logging.INFO
        and any(i in r.getMessage() for i in ids)
    ]


async def settle_and_check(
    stack: BridgeStack,
    capsys: pytest.CaptureFixture[str],
    ids: list[str],
    pseudonym: str,
    timeout: float = 120,
) -> str:
    """Wait for the finished request and drained queues; assert nothing names the person
    (``ids[0]`` is the id of their own account)."""
    rid = await wait_for(lambda: _finished_request(stack, pseudonym), timeout)
    await wait_for(lambda: drained(stack), 60)
    hits, text = await scan(stack, ids)
    assert not hits, "\n".join(map(str, hits))
    assert pseudonym in text, "the request log names the person by pseudonym"
    # The evidence stays coherent: the chain verifies, the request reads back.
    verdict = await AuditLog(stack.app.db).verify()
    assert verdict.ok, verdict.fault
    status = await stack.app.erasure.status(rid)
    assert status.state is RequestState.DONE, status
    assert status.subject == f"pseudonym:{pseudonym}"
    assert status.requester.id == f"pseudonym:{pseudonym}", "self-service: named by pseudonym"
    assert status.items >= 2 and status.log
    entries = await AuditLog(stack.app.db).newest(limit=10_000)
    mine = [e for e in entries if e.details.get("request_id") == rid]
    assert {"request.received", "request.finished"} <= {e.kind for e in mine}
    assert any(e.actor == f"pseudonym:{pseudonym}" for e in mine), "the subject as actor"
    # The same through the CLI an officer runs next to the bridge.
    config = str(stack.config_path)
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["audit", "verify", "-c", config]) == 0
    assert "audit log verifies" in capsys.readouterr().out
    cli = ["privacy", "status", rid, "-c", config, "--format", "json"]
    assert await asyncio.to_thread(main, cli) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["subject"] == shown["requester"]["id"] == f"pseudonym:{pseudonym}"
    # An officer given the person's id still finds the erased subject (by its pseudonym).
    subject = await LedgerQueries(stack.app.db).find_subject(ids[0], erased_too=True)
    assert subject.erased_ms is not None and subject.matrix_user_id is None
    with pytest.raises(SubjectNotFoundError):
        await LedgerQueries(stack.app.db).find_subject(ids[0])  # nothing left to erase
    return rid


async def shred_and_check(
    stack: BridgeStack,
    capsys: pytest.CaptureFixture[str],
    ids: list[str],
    pseudonym: str,
    rid: str,
    members: tuple[str, ...] = (),
) -> None:
    """Run the shred job just before and just after the erasure's grace ends; after it,
    no key stored on the machine reproduces from the person's ids any value the database
    holds (their pseudonym in the audit log, the request log and the ledger included),
    though the records still name them by it. ``members``: ids of the person still in a
    room, whose member tag (not a pseudonym) lasts as long as the membership."""
    db, config = stack.app.db, stack.config
    held = await stored_values(db)
    assert pseudonym in reproduced(await keys_on_machine(db, config), ids) & held, (
        "until the grace ends, her own key links the records to her"
    )
    jobs = prune_jobs(config, db, stack.app.erasure, stack.app.ledger)
    shred = next(j for j in jobs if j.name == "shred")
    finished = (await stack.app.erasure.status(rid)).finished_ms
    assert finished is not None
    due = finished + config.privacy.pseudonym_retention_days * DAY_MS
    await shred.run(due - 60_000)
    assert await existing_in(db, ids[0]) == f"pseudonym:{pseudonym}", "not before the grace"
    assert await shred.run(due) >= 1
    held = await stored_values(db)
    assert pseudonym in held, "the evidence still names her by her pseudonym"
    tags = {member_tag(hash_key(stack), m).removeprefix("member:") for m in members}
    linked = reproduced(await keys_on_machine(db, config), ids) & held
    assert linked == tags & held, "no stored key links her to anything but a live membership"
    assert (await AuditLog(db).verify()).ok
    with pytest.raises(SubjectNotFoundError, match="shredded"):
        await LedgerQueries(db).find_subject(ids[0], erased_too=True)
    capsys.readouterr()
    cli = ["audit", "subject", ids[0], "-c", str(stack.config_path)]
    assert await asyncio.to_thread(main, cli) == 1
    assert "no pseudonym can be computed" in capsys.readouterr().err
    assert await asyncio.to_thread(main, ["audit", "verify", "-c", str(stack.config_path)]) == 0


async def _finished_request(stack: BridgeStack, pseudonym: str) -> str | None:
    async with stack.app.db.unit_of_work() as uow:
        found = await uow.erasure.requests_in(
            [s.value for s in RequestState if s.finished], limit=10_000
        )
    return next((r.id for r in found if r.pseudonym == pseudonym), None)


async def _is_member(stack: BridgeStack, user_id: str) -> bool:
    """Whether the ledger counts ``user_id`` as a member of some room (by its tag)."""
    name = member_tag(hash_key(stack), user_id)
    async with stack.app.db.sessions() as session:
        n = await session.scalar(
            select(func.count()).select_from(LedgerMember).where(LedgerMember.user_id == name)
        )
    return bool(n)


def hash_key(stack: BridgeStack) -> bytes:
    return stack.config.privacy.hash_key.encode()


async def _pseudonym(stack: BridgeStack, account_id: str) -> str:
    """The hex part of the person's pseudonym (their key still exists: within the grace)."""
    name = await existing_in(stack.app.db, account_id)
    assert name is not None, "the person's pseudonym key exists until the grace ends"
    return name.removeprefix("pseudonym:")


async def test_rocketchat_person_leaves_no_id_in_any_table(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bridge")
    username = f"ident{uuid.uuid4().hex[:10]}"
    display = f"Ingrid Identity {uuid.uuid4().hex[:6]}"
    bridge_stack.sim.state.add_user(username, "pw", ["user"], name=display)
    ingrid = RCRestClient(bridge_stack.sim.url, retry=FAST)
    await ingrid.login(username, "pw")
    bridge_stack.rc_clients.append(ingrid)
    me = await ingrid.me()
    watcher = await make_user(1)
    room = await portal([ingrid], [watcher])
    view = MatrixView(watcher)
    try:
        for text in ("ingrid one", "ingrid two"):
            await ingrid.post_message(RCRoomID(room.rc_room_id), text)

        async def arrived() -> str | None:
            for e in await view.messages(room.matrix_room_id):
                if e["content"].get("body") == "ingrid two":
                    return str(e["sender"])
            return None

        ghost = await wait_for(arrived, 60)
        assert await wait_for(lambda: _is_member(bridge_stack, ghost), 30)
        # Someone on Matrix mentions her by username; she reacts to it on Rocket.Chat.
        await view.send(
            RoomID(room.matrix_room_id), {"msgtype": "m.text", "body": f"hi @{username}"}
        )

        async def mention() -> str | None:
            for m in await rc_history(ingrid, room.rc_room_id):
                if m.text == f"hi @{username}":
                    return str(m.id)
            return None

        await ingrid.react(RCMessageID(await wait_for(mention, 60)), ":tada:")

        async def reaction_arrived() -> bool:
            return any(
                e["type"] == "m.reaction" and e["sender"] == ghost
                for e in await view.timeline(room.matrix_room_id)
            )

        await wait_for(reaction_arrived, 60)
        dm = await rc_dm(ingrid)
        await ask_rc(ingrid, dm, "!privacy optout", "opted out")
        await ask_rc(ingrid, dm, "!privacy optin", "opted in again")
        await ask_rc(ingrid, dm, "!privacy status", "item(s)")
        summary = await ask_rc(ingrid, dm, "!privacy delete", "confirm")
        code = CODE.search(summary)
        assert code is not None
        await ask_rc(ingrid, dm, f"!privacy delete confirm {code.group(1)}", "has started")

        async def finished_told() -> bool:
            return any("has finished" in t for t in await rc_bot_texts(ingrid, dm))

        await wait_for(finished_told, 120)

        async def ghost_left() -> bool:
            # The scrub makes the ghost leave; its leave events come back from the
            # homeserver after the request finished, and are part of what must settle.
            return not await _is_member(bridge_stack, ghost)

        await wait_for(ghost_left, 60)
        pseudonym = await _pseudonym(bridge_stack, me.id)
        ids = [me.id, username, ghost, display]
        rid = await settle_and_check(bridge_stack, capsys, ids, pseudonym)
        # Nor do the bridge's logs at INFO and above, which no erasure can reach.
        assert not logged_ids(caplog, ids)
        # Her ghost left every room: once her keys are shredded nothing links her.
        await shred_and_check(bridge_stack, capsys, ids, pseudonym, rid)
    finally:
        await view.close()


async def test_matrix_person_leaves_no_id_in_any_table(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bridge")
    carol = await bridge_stack.rc_user()
    mallory = await make_user(1, f"ident{uuid.uuid4().hex[:10]}")
    display = f"Mara Identity {uuid.uuid4().hex[:6]}"
    view = MatrixView(mallory)
    await view.client.set_displayname(display)
    room = await portal([carol], [mallory])
    rid = RoomID(room.matrix_room_id)
    try:
        for text in ("mara one", "mara two"):
            await view.send(rid, {"msgtype": "m.text", "body": text})

        async def relayed() -> tuple[str, str] | None:
            for m in await rc_history(carol, room.rc_room_id):
                if m.text == "mara two":
                    return m.user.id, m.user.username
            return None

        shadow_id, shadow_name = await wait_for(relayed, 60)
        await carol.post_message(RCRoomID(room.rc_room_id), f"hi @{shadow_name}")

        async def mention() -> str | None:
            # The mention arrives as a Matrix mention of her (the body names her display
            # name, not the shadow's username).
            for e in await view.messages(rid):
                if str(e["content"].get("body", "")).startswith("hi "):
                    return str(e["event_id"])
            return None

        # She reacts to it on Matrix: the reaction crosses as her shadow's.
        await view.send(
            rid,
            {
                "m.relates_to": {
                    "rel_type": "m.annotation",
                    "event_id": await wait_for(mention, 60),
                    "key": "👍",
                }
            },
            event_type="m.reaction",
        )

        async def reacted_on_rc() -> bool:
            return any(m.reactions for m in await rc_history(carol, room.rc_room_id))

        await wait_for(reacted_on_rc, 60)
        dm = await matrix_dm(bridge_stack, view)
        await ask_matrix(bridge_stack, view, dm, "!privacy optout", "opted out")
        await ask_matrix(bridge_stack, view, dm, "!privacy optin", "opted in again")
        await ask_matrix(bridge_stack, view, dm, "!privacy status", "item(s)")
        summary = await ask_matrix(bridge_stack, view, dm, "!privacy delete", "confirm")
        code = CODE.search(summary)
        assert code is not None
        await ask_matrix(
            bridge_stack, view, dm, f"!privacy delete confirm {code.group(1)}", "has started"
        )
        bot = bridge_stack.registration.sender

        async def finished_told() -> bool:
            return any("has finished" in n for n in await bot_notices(view, dm, bot))

        await wait_for(finished_told, 120)
        pseudonym = await _pseudonym(bridge_stack, mallory.user_id)
        ids = [mallory.user_id, shadow_id, shadow_name, display]
        rid = await settle_and_check(bridge_stack, capsys, ids, pseudonym)
        # Nor do the bridge's logs at INFO and above, which no erasure can reach.
        assert not logged_ids(caplog, ids)
        # She is still in the room on Matrix: her member row stays while she is.
        await shred_and_check(bridge_stack, capsys, ids, pseudonym, rid, (mallory.user_id,))
    finally:
        await view.close()
