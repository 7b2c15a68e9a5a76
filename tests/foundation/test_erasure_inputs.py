"""bridge.privacy.erasure_inputs: an older row is completed before its connector runs it;
a new row reaches the connector as it was queued, without a database read."""

from __future__ import annotations

import attrs
import pytest

from bridge.pipeline.actions import Run, executor
from bridge.privacy.erasure_inputs import Completer, completed
from bridge.storage.database import Database, UnitOfWork

pytestmark = pytest.mark.asyncio


@attrs.frozen
class Step:
    request_id: str
    target: str | None = None  # None: queued by an older version


async def test_older_rows_are_completed_and_new_ones_pass_through(db: Database) -> None:
    seen: list[str | None] = []
    reads: list[str] = []

    async def connector(run: Run[Step]) -> None:
        seen.append(run.payload.target)

    async def complete(uow: UnitOfWork, payload: Step) -> Step:
        assert isinstance(uow, UnitOfWork)
        reads.append(payload.request_id)
        return attrs.evolve(payload, target=f"filled for {payload.request_id}")

    table = completed(
        db,
        {"kind": executor(Step, connector), "other": executor(Step, connector)},
        {"kind": Completer(lambda p: p.target is None, complete)},
    )

    await table["kind"].run(Run(1, "k1", "kind", "q", 0, Step("er-1")))
    await table["kind"].run(Run(2, "k2", "kind", "q", 0, Step("er-2", "given")))
    await table["other"].run(Run(3, "k3", "other", "q", 0, Step("er-3")))

    assert seen == ["filled for er-1", "given", None]
    assert reads == ["er-1"], "only the older row of a kind with a completer is read"
