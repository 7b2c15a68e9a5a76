"""Expected purge dates per recipient, from the software each server runs."""

from __future__ import annotations

import datetime as dt

import pytest

from bridge.privacy.categories import RecipientKind
from bridge.privacy.purge import expected_purge
from bridge.privacy.server_versions import ServerVersions
from bridge.storage.database import Database
from bridge.storage.software import SoftwareRecord

DAY = 86_400_000


def _software(name: str | None, version: str | None = "1.163.0") -> SoftwareRecord:
    return SoftwareRecord("hs2.example", name, version, 1, 1, 1, None)


def _ms(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(dt.datetime(year, month, day, hour, tzinfo=dt.UTC).timestamp() * 1000)


def test_synapse_purges_seven_days_after_the_redaction_by_default() -> None:
    note = expected_purge(_software("Synapse"), _ms(2026, 12, 6, 13))
    assert note == "expected purge by 2026-12-13 (Synapse 1.163.0, default 7 days)"


def test_the_censor_job_period_can_carry_the_date_into_the_next_day() -> None:
    late = _ms(2026, 12, 6, 23) + 58 * 60_000  # 23:58: + 7 days + the job's 5 minutes
    assert "by 2026-12-14" in expected_purge(_software("Synapse"), late)


def test_unknown_software_is_unknown_never_a_guess() -> None:
    assert expected_purge(None, 0) == "expected purge unknown (server software not known)"
    assert expected_purge(_software(None, None), 0).startswith("expected purge unknown")
    other = expected_purge(_software("conduwuit", "0.5"), 0)
    assert other == "expected purge unknown (conduwuit 0.5: no documented rule)"


class _Scripted(ServerVersions):
    """Answers from a script instead of the network: a version, or a failure."""

    def __init__(self, db: Database, answers: list[tuple[str, str] | Exception]) -> None:
        super().__init__(db, recheck_ms=DAY)
        self.answers = answers
        self.asked: list[str] = []

    async def _fetch(self, server: str) -> tuple[str, str]:
        self.asked.append(server)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.mark.asyncio
async def test_first_and_last_seen_with_a_controllable_clock(db: Database) -> None:
    async with db.unit_of_work() as uow:
        await uow.ledger.server_ref("hs2.example", RecipientKind.REMOTE_HOMESERVER)
        await uow.ledger.server_ref("hs1.example", RecipientKind.LOCAL_HOMESERVER)
    versions = _Scripted(db, [("Synapse", "1.162.0"), ("Synapse", "1.163.0"), TimeoutError()])
    t0 = _ms(2026, 12, 1)
    assert await versions.check_due(t0) == 1
    assert versions.asked == ["hs2.example"]  # remote homeservers only
    assert await versions.check_due(t0 + DAY - 1) == 0  # asked less than a day ago
    assert await versions.check_due(t0 + DAY) == 1
    await versions.check("hs2.example", t0 + 2 * DAY)  # the server does not answer
    async with db.unit_of_work() as uow:
        record = (await uow.servers.get(["hs2.example"]))["hs2.example"]
    assert (record.software, record.version) == ("Synapse", "1.163.0")
    assert (record.first_seen_ms, record.last_seen_ms) == (t0, t0 + DAY)
    assert (record.checked_ms, record.error) == (t0 + 2 * DAY, "TimeoutError")
