"""Typed outbox actions: a payload class per kind, (un)structured at the storage boundary,
and one table of executors and hooks that refuses a kind given twice."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from bridge.app import BridgeApp
from bridge.commands.context import CommandContext
from bridge.commands.job_values import JOB, AuditEntry, Job, JobResult, Scope, Watch
from bridge.config import load_config
from bridge.pipeline.actions import (
    KINDS,
    Dies,
    Executes,
    Finishes,
    Run,
    action,
    executor,
    new_action,
    on_done,
    payload_of,
    typed,
)
from bridge.pipeline.contracts import PermanentFailure
from bridge.pipeline.registry import ActionTable, DuplicateKindError
from bridge.storage.database import Database, UnitOfWork
from bridge.storage.outbox import Action
from bridge.workers.outbox import OutboxWorker
from tests.fixtures.bridge_config import write_config

CTX = CommandContext("matrix", "@a:hs", "@a:hs", "!dm:hs", "$cmd", is_direct=True)
JOB_VALUE = Job("delete", CTX, ("x",), {"room": "general"}, Scope("!r:hs", 1_700_000_000_000))


def _stored(value: object) -> Action:
    queued = new_action(value, key="k", queue="q")
    return Action(7, queued.key, queued.kind, queued.queue, queued.payload, attempts=2)


def test_a_job_is_stored_as_plain_json_and_read_back_equal() -> None:
    stored = _stored(JOB_VALUE)
    assert stored.kind == JOB and KINDS[JOB] is Job
    assert stored.payload["ctx"]["sender"] == "@a:hs"
    assert stored.payload["args"] == ["x"]  # JSON has lists, not tuples
    run = typed(stored, Job)
    assert run.payload == JOB_VALUE
    assert (run.id, run.key, run.queue, run.attempts) == (7, "k", "q", 2)


def test_a_row_queued_by_an_older_version_with_extra_keys_still_runs() -> None:
    stored = _stored(JOB_VALUE)
    older = attrs.evolve(JOB_VALUE)  # same value, stored with a key this version dropped
    payload = {**stored.payload, "extra": {"anything": 1}}
    run = typed(Action(1, "k", JOB, "q", payload, 0), Job)
    assert run.payload == older


@pytest.mark.parametrize(
    "payload",
    [{}, {"job": "status"}, {"job": "status", "ctx": {"side": "matrix"}}, {"job": 3, "ctx": 4}],
)
def test_a_payload_that_does_not_fit_is_refused_for_good(payload: dict[str, object]) -> None:
    with pytest.raises(PermanentFailure, match="malformed privacy.job payload"):
        typed(Action(1, "k", JOB, "q", payload, 0), Job)


def test_payload_of_types_a_row_of_any_declared_kind_and_gives_none_otherwise() -> None:
    """What a dead-letter hook or the batch prefetch reads: no kind is assumed, and a row
    that does not fit (which may be why it died) is None rather than an error."""
    assert payload_of(_stored(JOB_VALUE)) == JOB_VALUE
    assert payload_of(Action(1, "k", "no.such.kind", "q", {"ctx": 1}, 0)) is None
    assert payload_of(Action(1, "k", JOB, "q", {"job": 3}, 0)) is None


def test_a_kind_declared_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="declared twice"):

        @action(JOB)
        @attrs.frozen
        class Again:
            job: str


def test_an_undeclared_value_cannot_be_queued() -> None:
    @attrs.frozen
    class Stray:
        x: int

    with pytest.raises(TypeError, match="not a declared action payload"):
        new_action(Stray(1), key="k", queue="q")


async def test_executor_and_hook_see_typed_values_and_the_result_is_stored_as_json() -> None:
    seen: list[object] = []

    async def run(r: Run[Job]) -> JobResult:
        seen.append(r.payload)
        return JobResult(
            reply="hi", audit=(AuditEntry("k", None, {"n": 1, "s": "x"}),), watch=Watch("er", "s")
        )

    async def hook(uow: UnitOfWork, r: Run[Job], result: JobResult) -> None:
        seen.append(result)

    stored = _stored(JOB_VALUE)
    result = await executor(Job, run)(stored)
    assert result == {
        "reply": "hi",
        "refused": None,
        "audit": [{"kind": "k", "subject_ref": None, "details": {"n": 1, "s": "x"}}],
        "issue_code": None,
        "watch": {"request_id": "er", "state": "s"},
        "reply_room": None,
    }
    await on_done(Job, JobResult, hook)(None, stored, result)  # type: ignore[arg-type]
    assert seen[0] == JOB_VALUE
    assert isinstance(seen[1], JobResult) and seen[1].audit[0].details == {"n": 1, "s": "x"}


async def _nothing(action: Action) -> None:
    return None


def test_the_action_table_refuses_a_kind_given_twice() -> None:
    table = ActionTable().add({"a": _nothing}, on_dead={"a": lambda *_: _nothing(None)})  # type: ignore[arg-type,misc]
    table.add({"b": _nothing})
    with pytest.raises(DuplicateKindError, match="'a' has a second executor"):
        table.add({"a": _nothing, "c": _nothing})
    assert set(table.executors) == {"a", "b"}  # nothing of the refused table was added


def test_a_refused_table_adds_nothing_at_all() -> None:
    table = ActionTable().add(on_done={"a": lambda *_: _nothing(None)})  # type: ignore[arg-type,misc]
    with pytest.raises(DuplicateKindError, match="'a' has a second done hook"):
        table.add({"z": _nothing}, on_done={"a": lambda *_: _nothing(None)})  # type: ignore[arg-type,misc]
    assert table.executors == {}


class _TableBuilt(Exception):
    """Stops the start once the app has built its action table."""


async def test_every_kind_the_running_bridge_registers_has_a_declared_payload_class(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The table is the one ``BridgeApp.start`` builds, taken as it is handed to the outbox
    worker (the start stops there: no homeserver or Rocket.Chat is needed)."""
    built: list[ActionTable] = []

    def capture(self: BridgeApp, table: ActionTable) -> OutboxWorker:
        built.append(table)
        raise _TableBuilt

    monkeypatch.setattr(BridgeApp, "_outbox_worker", capture)
    config = load_config(
        write_config(tmp_path / "config.yaml", database={"url": db.url}), environ={}
    )
    app = BridgeApp(config)
    try:
        with pytest.raises(_TableBuilt):
            await app.start()
    finally:
        await app.stop()
    (table,) = built
    registered = set(table.executors) | set(table.on_done) | set(table.on_dead)
    # Every kind is typed: a new kind must come with its class.
    assert sorted(registered - set(KINDS)) == []
    # ... and every package registered its executors and hooks typed, with that class
    # (Executes/Finishes/Dies: no executor or hook of its own reads the stored JSON).
    untyped = {k for k, e in table.executors.items() if type(e) is not Executes}
    untyped |= {k for k, h in table.on_done.items() if type(h) is not Finishes}
    untyped |= {k for k, d in table.on_dead.items() if type(d) is not Dies}
    assert sorted(untyped) == []
    classes = {k: e.payload for k, e in table.executors.items()}
    classes |= {f"{k} done": h.payload for k, h in table.on_done.items()}
    assert {k: c for k, c in classes.items() if c is not KINDS[k.removesuffix(" done")]} == {}
