"""Hostile input against the command layer: fuzzed command lines, mentions
that try to widen a command, guessed confirmation codes, and floods."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.bridging.identities import Identities
from bridge.commands import confirmations
from bridge.commands.bridge_admin import BridgeCommands
from bridge.commands.context import CommandContext
from bridge.commands.dm import CommandHandler, CommandRouter
from bridge.commands.job_values import JOB
from bridge.commands.jobs import identity_of
from bridge.commands.matrix_entry import MatrixCommands
from bridge.commands.privacy_base import CommandSettings
from bridge.commands.privacy_commands import PrivacyCommands
from bridge.config import Config, load_config
from bridge.pipeline.contracts import Inbound
from bridge.privacy.audit import COMMAND_REFUSED, AuditLog
from bridge.privacy.pseudonyms import person_name
from bridge.storage.database import Database
from bridge.storage.outbox import Action
from tests.fixtures.databases import keyed_database
from tests.fixtures.inbox import matrix_inbound

PERSON = "matrix:@mallory:hs1.test"


async def _drain(db: Database) -> list[Action]:
    """Every queued action, marked done so the next read sees only new ones."""
    found: list[Action] = []
    while batch := await db.outbox.due(100):
        found += batch
        async with db.unit_of_work() as uow:
            for action in batch:
                await uow.outbox_done(action.id)
    return found


async def test_a_thousand_wrong_guesses_never_confirm(db: Database) -> None:
    rng = random.Random(8)  # noqa: S311 - a reproducible attacker, not a secret
    issued: list[str] = []
    outcomes: set[confirmations.Outcome] = set()
    for _ in range(1000):
        async with db.unit_of_work() as uow:
            if (
                await uow.commands.live_confirmation(await person_name(uow, PERSON), "delete")
                is None
            ):
                issued.append(await confirmations.issue(uow, PERSON, "delete", {"room": None}))
            guess = "".join(rng.choice(confirmations.CODE_CHARS) for _ in range(8))
            outcomes.add((await confirmations.check(uow, PERSON, "delete", guess)).outcome)
    assert confirmations.Outcome.OK not in outcomes
    assert outcomes == {confirmations.Outcome.WRONG, confirmations.Outcome.BURNT}
    # Each code burnt after MAX_ATTEMPTS guesses: even the right one no longer works.
    assert len(issued) == 1000 // confirmations.MAX_ATTEMPTS
    async with db.unit_of_work() as uow:
        late = await confirmations.check(uow, PERSON, "delete", issued[0])
    assert late.outcome is confirmations.Outcome.NONE


async def test_codes_are_single_use_expire_and_stored_hashed(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with db.unit_of_work() as uow:
        code = await confirmations.issue(uow, PERSON, "delete", {"room": "!r:hs"})
        stored = await uow.commands.live_confirmation(await person_name(uow, PERSON), "delete")
    assert stored is not None and code not in stored.code_hash + stored.payload
    async with db.unit_of_work() as uow:
        first = await confirmations.check(uow, PERSON, "delete", code.lower())
        again = await confirmations.check(uow, PERSON, "delete", code)
    assert first.outcome is confirmations.Outcome.OK and first.payload == {"room": "!r:hs"}
    assert again.outcome is confirmations.Outcome.NONE
    async with db.unit_of_work() as uow:
        code = await confirmations.issue(uow, PERSON, "delete", {})
    later = confirmations.now_ms() + confirmations.VALID_MS + 1
    monkeypatch.setattr(confirmations, "now_ms", lambda: later)
    async with db.unit_of_work() as uow:
        expired = await confirmations.check(uow, PERSON, "delete", code)
    assert expired.outcome is confirmations.Outcome.EXPIRED
    async with db.unit_of_work() as uow:
        other = await confirmations.check(uow, "rocketchat:someone", "delete", code)
    assert other.outcome is confirmations.Outcome.NONE, "a code is bound to its person"


def _settings(rate: int = 10_000) -> CommandSettings:
    return CommandSettings(
        admins=frozenset({"@officer:hs1.test"}),
        local_domain="hs1.test",
        mode="self-service",
        notice_text="notice",
        notice_url=None,
        rate_per_minute=rate,
        moderator_power_level=50,
    )


def _router(config: Config, rate: int = 10_000) -> CommandRouter:
    handlers: dict[str, CommandHandler] = {
        "bridge": BridgeCommands(config),
        "privacy": PrivacyCommands(_settings(rate)),
    }
    return CommandRouter(handlers, rate)


async def _dm(db: Database, room: str, sender: str) -> CommandContext:
    async with db.unit_of_work() as uow:
        await uow.commands.set_room("matrix", room, is_dm=True, user_id=sender)
    return CommandContext("matrix", sender, sender, room, f"$ev-{room}", False)


async def test_the_rate_limit_answers_the_first_excess_only(
    db: Database, config_path: Path
) -> None:
    router = _router(load_config(config_path), rate=3)
    ctx = await _dm(db, "!flood:hs1.test", "@mallory:hs1.test")
    for n in range(6):
        async with db.unit_of_work() as uow:
            await router.route(
                uow, CommandContext(**{**ctx.__dict__, "event_id": f"$f{n}"}), "!privacy notice"
            )
    replies = [a.payload["text"] for a in await _drain(db)]
    assert sum("notice" in r for r in replies) == 3
    assert sum("Too many commands" in r for r in replies) == 1
    refused = await AuditLog(db).newest(kind=COMMAND_REFUSED)
    assert [e.details["command"] for e in refused] == ["rate"]


_WORDS = [
    "help",
    "status",
    "export",
    "delete",
    "confirm",
    "cancel",
    "purge",
    "optout",
    "optin",
    "requests",
    "approve",
    "deny",
    "erase",
    "notice",
    "--room",
    "--before",
    "--note",
    "=",
    "@bob:hs2",
    "er-0123456789abcdef",
    '"',
    "'",
    "\\",
    "!",
    "2026-01-01",
    "#general",
    "\n",
]


@st.composite
def _command_lines(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(["!privacy", "!bridge", "  !privacy", "!privacy\t"]))
    parts = draw(st.lists(st.one_of(st.sampled_from(_WORDS), st.text(max_size=12)), max_size=8))
    return prefix + " " + " ".join(parts)


@pytest.fixture
def loop_db(tmp_path: Path) -> Iterator[tuple[asyncio.AbstractEventLoop, Database]]:
    # Hypothesis runs examples synchronously; one loop and one database serve them all.
    loop = asyncio.new_event_loop()
    db = keyed_database(f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}")
    loop.run_until_complete(db.upgrade())
    try:
        yield loop, db
    finally:
        loop.run_until_complete(db.close())
        loop.close()


_counter = itertools.count()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(line=_command_lines())
def test_fuzzed_command_lines_never_raise_and_get_an_answer(
    loop_db: tuple[asyncio.AbstractEventLoop, Database], config_path: Path, line: str
) -> None:
    loop, db = loop_db
    router = _router(load_config(config_path))

    async def run() -> list[Action]:
        n = next(_counter)
        ctx = await _dm(db, f"!fuzz{n}:hs1.test", "@mallory:hs1.test")
        async with db.unit_of_work() as uow:
            await router.route(uow, ctx, line)
        return await _drain(db)

    queued = loop.run_until_complete(run())
    assert queued, f"no answer to {line!r}"
    texts = [str(a.payload.get("text", "")) for a in queued if a.kind != JOB]
    if not any(a.kind == JOB for a in queued):
        assert texts and all(t for t in texts)
    for t in texts:
        if "Usage" in t or "unknown" in t.lower():
            assert "help" in t


def _message(sender: str, room: str, content: dict[str, Any]) -> Inbound[Any]:
    return matrix_inbound(
        {
            "type": "m.room.message",
            "sender": sender,
            "room_id": room,
            "event_id": f"$pill-{room}",
            "origin_server_ts": 1,
            "content": content,
        }
    )


@pytest.mark.parametrize(
    ("body", "job"),
    [
        ("!privacy export", True),
        ("!privacy delete", True),
        ("!privacy export @bob:hs1.test", False),
        ("!privacy delete @bob:hs1.test", False),
        ("!privacy status --user @bob:hs1.test", False),
    ],
)
async def test_mentions_and_pills_never_change_whose_data(
    db: Database, config_path: Path, body: str, job: bool
) -> None:
    config = load_config(config_path)
    room = f"!pill{abs(hash(body))}:hs1.test"
    await _dm(db, room, "@mallory:hs1.test")
    content = {
        "msgtype": "m.text",
        "body": body,
        "format": "org.matrix.custom.html",
        "formatted_body": f'{body} <a href="https://matrix.to/#/@bob:hs1.test">Bob</a>',
        "m.mentions": {"user_ids": ["@bob:hs1.test"]},
    }
    entry = MatrixCommands(Identities(config), _router(config))
    async with db.unit_of_work() as uow:
        await entry(uow, _message("@mallory:hs1.test", room, content))
    queued = await _drain(db)
    jobs = [a for a in queued if a.kind == JOB]
    assert bool(jobs) is job
    for action in jobs:
        ctx = CommandContext(**action.payload["ctx"])
        assert identity_of(ctx).matrix_user_id == "@mallory:hs1.test"
        assert "@bob" not in json.dumps(action.payload)
    if not job:
        assert any("Usage" in a.payload.get("text", "") for a in queued)
