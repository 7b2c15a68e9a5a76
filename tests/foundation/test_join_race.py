"""The bot's join of a room it was invited to over federation: a refusal right after the
invitation is retried (the inviting server may not have stored it yet), a refusal that
lasts ends as a dead letter."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from mautrix.errors import MForbidden

from bridge.bridging.identities import Identities
from bridge.config import load_config
from bridge.matrix.executors import JOIN_TRIES, MatrixExecutors
from bridge.matrix.handlers import JOIN_ROOM
from bridge.pipeline.contracts import PermanentFailure, RetryLater
from bridge.storage.database import Database
from bridge.storage.outbox import Action
from tests.fixtures.bridge_config import write_config


class _Bot:
    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.joined: list[str] = []

    async def join_room_by_id(self, room_id: str) -> str:
        if self.refusals:
            self.refusals -= 1
            raise MForbidden(403, "You are not invited to this room.")
        self.joined.append(room_id)
        return room_id


class _Api:
    def __init__(self, bot: _Bot) -> None:
        self.bot = bot

    def bot_intent(self) -> _Bot:
        return self.bot


def _join(db: Database, tmp_path: Path, bot: _Bot) -> Any:
    config = load_config(write_config(tmp_path / "c.yaml"), environ={})
    api = cast(Any, _Api(bot))
    return MatrixExecutors(api, db, Identities(config), config, cast(Any, None)).table()[JOIN_ROOM]


def _action(attempts: int) -> Action:
    return Action(1, "k", JOIN_ROOM, "matrix:!r:hs", {"room_id": "!r:hs"}, attempts)


async def test_a_refused_join_is_retried_then_succeeds(db: Database, tmp_path: Path) -> None:
    bot = _Bot(refusals=2)
    join = _join(db, tmp_path, bot)
    for attempt in range(2):
        with pytest.raises(RetryLater, match="may not be stored yet"):
            await join(_action(attempt))
    assert await join(_action(2)) == {"room_id": "!r:hs"}
    assert bot.joined == ["!r:hs"]


async def test_a_refusal_that_lasts_is_final(db: Database, tmp_path: Path) -> None:
    join = _join(db, tmp_path, _Bot(refusals=100))
    with pytest.raises(PermanentFailure, match="M_FORBIDDEN"):
        await join(_action(JOIN_TRIES - 1))
