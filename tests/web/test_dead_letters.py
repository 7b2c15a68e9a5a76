"""The dashboard's dead-letter page: listed without payloads, retry and drop only with
the session's CSRF token, each decision in the audit log."""

from __future__ import annotations

import re

from bridge.privacy import audit
from bridge.privacy.audit import AuditLog
from bridge.storage.outbox import NewAction
from tests.web.conftest import Site
from tests.web.test_auth import login


async def _dead(site: Site, key: str, queue: str) -> int:
    await site.db.outbox.add(NewAction(key, "rc.upload", queue, {"filename": "secret.pdf"}))
    action_id = int((await site.db.outbox.get(key) or {})["id"])
    async with site.db.unit_of_work() as uow:
        await uow.outbox_dead(
            action_id, "Rocket.Chat file download failed: 404", "attempts", uses_attempt=True,
            now=1_800_000_000_000,
        )  # fmt: skip
    return action_id


async def test_the_page_lists_dead_letters_with_their_facts_not_their_payload(
    site: Site,
) -> None:
    first = await _dead(site, "mx-msg:$one", "rc:GENERAL")
    await login(site.client)
    page = await (await site.client.get("/admin/outbox")).text()
    row = re.search(rf'<tr data-id="{first}">(.*?)</tr>', page, re.S)
    assert row is not None
    for fact in ("rc.upload", "rc:GENERAL", "2027-01-15T08:00:00Z", "attempts", "download"):
        assert fact in row.group(1)
    assert "secret.pdf" not in page
    assert f'action="/admin/outbox/{first}/retry"' in page
    assert f'action="/admin/outbox/{first}/drop"' in page


async def test_retry_and_drop_need_the_csrf_token_and_are_audited(site: Site) -> None:
    one = await _dead(site, "mx-msg:$one", "rc:GENERAL")
    two = await _dead(site, "mx-msg:$two", "rc:GENERAL")
    csrf = await login(site.client)
    for action in ("retry", "drop"):
        for data in ({}, {"csrf": "wrong"}):
            resp = await site.client.post(f"/admin/outbox/{one}/{action}", data=data)
            assert resp.status == 403
    assert (await site.db.outbox.get("mx-msg:$one") or {})["status"] == "dead"
    resp = await site.client.post(
        f"/admin/outbox/{one}/retry", data={"csrf": csrf}, allow_redirects=False
    )
    assert resp.status == 303 and resp.headers["Location"].endswith(f"done=retried&id={one}")
    again = await site.db.outbox.get("mx-msg:$one")
    assert again is not None and (again["status"], again["attempts"]) == ("pending", 0)
    resp = await site.client.post(
        f"/admin/outbox/{two}/drop", data={"csrf": csrf}, allow_redirects=False
    )
    assert resp.status == 303
    assert (await site.db.outbox.get("mx-msg:$two") or {})["status"] == "dropped"
    entries = await AuditLog(site.db).newest(limit=2)
    assert [e.kind for e in entries] == [audit.OUTBOX_DROPPED, audit.OUTBOX_RETRIED]
    assert entries[0].actor == "web:admin-token"
    assert entries[0].details == {"action_id": two, "kind": "rc.upload", "via": "dashboard"}
    page = await (await site.client.get("/admin/outbox")).text()
    assert 'id="no-dead-letters"' in page


async def test_unknown_or_finished_ids_are_404_and_change_nothing(site: Site) -> None:
    csrf = await login(site.client)
    await site.db.outbox.add(NewAction("pending", "rc.send", "rc:GENERAL"))
    pending = int((await site.db.outbox.get("pending") or {})["id"])
    before = len(await AuditLog(site.db).newest(limit=100))
    for path in (
        "/admin/outbox/999/retry",
        "/admin/outbox/abc/drop",
        f"/admin/outbox/{pending}/drop",
    ):
        resp = await site.client.post(path, data={"csrf": csrf}, allow_redirects=False)
        assert resp.status == 404, path
    assert (await site.db.outbox.get("pending") or {})["status"] == "pending"
    assert len(await AuditLog(site.db).newest(limit=100)) == before


async def test_a_persons_command_queue_is_not_named_on_the_page(site: Site) -> None:
    await _dead(site, "privacy-job:$cmd", "privacy:matrix:@alice:hs1.test")
    await login(site.client)
    page = await (await site.client.get("/admin/outbox")).text()
    assert "privacy:matrix:(a person&#39;s commands)" in page
    assert "@alice" not in page
