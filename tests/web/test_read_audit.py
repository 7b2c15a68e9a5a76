"""Every dashboard page and API answer that names people is on record (who read what,
and where), including lookups that find nobody."""

from __future__ import annotations

from bridge.privacy import audit
from bridge.privacy.audit import AuditLog
from tests.web.conftest import Site
from tests.web.seed import ADMIN_TOKEN
from tests.web.test_auth import login

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def _reads(site: Site, after: int) -> list[audit.AuditEntry]:
    entries = await AuditLog(site.db).newest(kind=audit.SUBJECT_LOOKUP, limit=1000)
    return [e for e in reversed(entries) if e.seq > after]


async def _head(site: Site) -> int:
    newest = await AuditLog(site.db).newest(limit=1)
    return newest[0].seq if newest else 0


async def test_api_reads_that_name_people_are_audited(site: Site) -> None:
    s = site.seeded
    start = await _head(site)
    for path, status in (
        ("/admin/api/overview", 200),
        ("/admin/api/requests", 200),
        (f"/admin/api/requests/{s.deny_id}", 200),
        ("/admin/api/requests/er-00000000deadbeef", 404),
    ):
        resp = await site.client.get(path, headers=BEARER)
        assert resp.status == status, path
    missing = await site.client.post(
        "/admin/api/subjects/lookup", json={"subject": "@nobody:hs1.test"}, headers=BEARER
    )
    assert missing.status == 404
    reads = await _reads(site, start)
    assert [e.details["via"] for e in reads] == [
        "api overview",
        "api requests",
        "api request",
        "api request",
        "api",
    ]
    assert all(e.actor == "api:admin-token" for e in reads)
    detail = reads[2]
    assert detail.details["request_id"] == s.deny_id and detail.subject_ref is not None
    assert reads[3].details["found"] is False and reads[4].details["found"] is False
    assert (await AuditLog(site.db).verify()).ok


async def test_dashboard_pages_that_name_people_are_audited(site: Site) -> None:
    await login(site.client)
    start = await _head(site)
    for path in ("/admin/", "/admin/requests", f"/admin/requests/{site.seeded.overdue_id}"):
        resp = await site.client.get(path)
        assert resp.status == 200, path
    reads = await _reads(site, start)
    assert [e.details["via"] for e in reads] == [
        "dashboard overview",
        "dashboard requests",
        "dashboard request",
    ]
    assert reads[2].details["request_id"] == site.seeded.overdue_id
