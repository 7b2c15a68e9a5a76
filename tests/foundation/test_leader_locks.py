"""Leader locks: one process at a time leads a job, and another takes over when it cannot.

On PostgreSQL each ``LeaderLocks`` stands for one process (its own database session);
on SQLite, which serves one process, every lock is trivially held.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest_asyncio
from sqlalchemy.engine import make_url

from bridge.metrics import LEADER
from bridge.storage.leader import LeaderLocks
from bridge.workers.leader import Leadership
from tests.fixtures.bridge_stack import wait_for
from tests.fixtures.tcp_proxy import RoundRobinProxy

JOB = "test_job"


def _postgres(db_url: str) -> bool:
    return db_url.startswith("postgresql")


async def _raw(db_url: str) -> asyncpg.Connection:
    url = make_url(db_url)
    return await asyncpg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        database=url.database,
    )


async def _end_lock_holders(db_url: str) -> int:
    """Kill the sessions holding advisory locks in this database, as SIGKILL would."""
    conn = await _raw(db_url)
    try:
        pids = [
            r["pid"]
            for r in await conn.fetch(
                "SELECT DISTINCT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        ]
        for pid in pids:
            await conn.execute("SELECT pg_terminate_backend($1)", pid)
        return len(pids)
    finally:
        await conn.close()


@pytest_asyncio.fixture
async def two_processes(db_url: str) -> AsyncIterator[tuple[LeaderLocks, LeaderLocks]]:
    first, second = LeaderLocks(db_url), LeaderLocks(db_url)
    yield first, second
    await first.close()
    await second.close()


async def test_one_process_holds_a_job_and_another_takes_it_when_its_session_ends(
    db_url: str, two_processes: tuple[LeaderLocks, LeaderLocks]
) -> None:
    first, second = two_processes
    assert await first.try_acquire(JOB)
    assert await first.holds(JOB)
    if not _postgres(db_url):
        assert await second.try_acquire(JOB)  # SQLite: one process, which holds every lock
        return
    assert not await second.try_acquire(JOB)
    assert await second.try_acquire("another_job")  # one lock per job
    await second.release("another_job")
    assert await first.try_acquire("another_job")  # one session holds several
    assert await _end_lock_holders(db_url) == 1
    assert not await first.holds(JOB)  # the session is gone, and its locks with it
    assert not await first.holds("another_job")
    assert await second.try_acquire(JOB)
    assert not await first.try_acquire(JOB)  # a new session of the first: not its lock now
    await second.release(JOB)
    assert await first.try_acquire(JOB)


async def test_a_leader_that_loses_its_lock_stops_and_another_takes_the_job_over(
    db_url: str, two_processes: tuple[LeaderLocks, LeaderLocks]
) -> None:
    running: list[int] = []
    stopped: list[int] = []

    def work(n: int):  # type: ignore[no-untyped-def]
        async def run() -> None:
            running.append(n)
            try:
                await asyncio.Event().wait()
            finally:
                stopped.append(n)

        return run

    leaders = [Leadership(locks, retry_s=0.1, check_s=0.1) for locks in two_processes]
    tasks = [asyncio.create_task(lead.lead(JOB, work(n))) for n, lead in enumerate(leaders)]
    try:
        await wait_for(lambda: _value(bool(running)), 20)
        assert LEADER.labels(JOB)._value.get() == 1  # noqa: SLF001 - the gauge's value
        if not _postgres(db_url):
            await wait_for(lambda: _value(len(running) == 2), 20)  # each its own leader
            return
        first = running[0]
        assert [JOB in lead.leading for lead in leaders].count(True) == 1
        await _end_lock_holders(db_url)
        # The leader sees the lock gone and stops; the other takes the job over.
        await wait_for(lambda: _value(stopped == [first] and len(running) >= 2), 20)
        assert running[1] == 1 - first
        assert JOB in leaders[1 - first].leading
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert sorted(set(stopped)) == sorted(set(running))  # each run stopped with its task


async def test_a_job_that_fails_gives_its_lock_up(
    db_url: str, two_processes: tuple[LeaderLocks, LeaderLocks]
) -> None:
    first, second = two_processes
    failed = asyncio.Event()

    async def broken() -> None:
        failed.set()
        raise RuntimeError("job bug")

    task = asyncio.create_task(Leadership(first, retry_s=60).lead(JOB, broken))
    try:
        async with asyncio.timeout(20):
            await failed.wait()
        await wait_for(lambda: second.try_acquire(JOB), 20)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_connection_gone_silent_is_given_up_and_its_session_ended(db_url: str) -> None:
    """A half-open connection keeps its session, and its locks, on the server: the process
    that gave it up ends that session from its next one, so the job is not stuck."""
    if not _postgres(db_url):
        locks = LeaderLocks(db_url)
        assert await locks.try_acquire(JOB) and await locks.holds(JOB)
        return
    url = make_url(db_url)
    proxy = RoundRobinProxy([(url.host or "127.0.0.1", url.port or 5432)])
    await proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    first, second = LeaderLocks(proxied, timeout_s=1.0), LeaderLocks(db_url)
    try:
        assert await first.try_acquire(JOB)
        proxy.freeze()
        assert not await first.holds(JOB)  # no answer in time: given up
        assert not await second.try_acquire(JOB)  # the server still has the old session
        # The first process's next session ends the old one; the lock is free again.
        await wait_for(lambda: first.try_acquire(JOB), 20)
        assert not await second.try_acquire(JOB)
    finally:
        await first.close()
        await second.close()
        await proxy.stop()


async def _value(value: bool) -> bool:
    return value
