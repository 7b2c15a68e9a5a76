"""The dashboard's incident pages: a list, and one page per incident with what reached the
server (per category, room and day), the notices to people and the erasure requests
with their progress from the outbox, the deny, and the Art. 33(3) report as a download
(audited, valid against its schema). The pages name nobody."""

from __future__ import annotations

import hashlib
import json
import re
from importlib import resources
from typing import Any

import jsonschema
from sqlalchemy import text

from bridge.privacy import audit
from bridge.privacy.audit import AuditLog
from bridge.privacy.incident_run import open_incident
from bridge.privacy.notices import SupportLookup
from bridge.privacy.partner_values import Contact
from bridge.privacy.partners import PartnerChanges, PartnerRegister, contacts_of
from bridge.privacy.queries import LedgerQueries
from bridge.storage.common import now_ms
from bridge.storage.database import Database
from bridge.storage.outbox import REFUSED
from tests.privacy.helpers import ALICE, ROOM, message
from tests.web.conftest import Site
from tests.web.seed import seed_ledger
from tests.web.test_auth import login

SERVER = "hs2.test"


def schema() -> dict[str, Any]:
    text_ = resources.files("bridge.commands").joinpath("schemas/incident.schema.json")
    return dict(json.loads(text_.read_text()))


async def _open(db: Database, server: str = SERVER, **options: Any) -> str:
    outcome = await open_incident(
        db,
        server,
        since_ms=options.get("since_ms"),
        dry_run=options.get("dry_run", False),
        deny=options.get("deny", False),
        actor="cli:officer",
        organisation="hs1.test",
        contact_points=["@officer:hs1.test"],
        support=SupportLookup({}, register=contacts_of(db)),
        mail_enabled=True,
    )
    return outcome.incident


async def _register(db: Database) -> None:
    await PartnerRegister(db).set(
        SERVER,
        PartnerChanges(
            organisation="Agency Two",
            lawful_basis="public_task",
            contacts=(Contact(matrix_id="@admin:hs2.test"), Contact(email="dpo@two.example")),
        ),
        "cli:t",
    )
    async with db.unit_of_work() as uow:
        await uow.bridging.add_portal("GENERAL", "c", ROOM, "general")


async def _actions(db: Database, incident: str) -> dict[str, int]:
    """The incident's outbox actions: key → id."""
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT key, id FROM outbox WHERE key LIKE :p"), {"p": f"%{incident}%"}
        )
        return {str(k): int(i) for k, i in rows}


async def _settle(db: Database, action_id: int, *, dead: bool = False) -> None:
    async with db.unit_of_work() as uow:
        if dead:
            await uow.outbox_dead(action_id, "550", REFUSED, uses_attempt=True, now=now_ms())
        else:
            await uow.outbox_done(action_id)


def _cells(page: str, table: str) -> list[list[str]]:
    body = page.split(f'id="{table}"')[1].split("</table>", maxsplit=1)[0]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    return [re.findall(r"<td[^>]*>(.*?)</td>", r, re.S) for r in rows if "<td" in r]


async def test_an_incident_page_shows_what_reached_the_server_and_the_progress(
    site: Site,
) -> None:
    await _register(site.db)
    incident = await _open(site.db, deny=True)
    actions = await _actions(site.db, incident)
    people = sorted(i for k, i in actions.items() if ":person:" in k)
    [mail] = [i for k, i in actions.items() if ":mail:" in k]
    assert len(people) == 3  # alice, carol (Rocket.Chat) and bob (Matrix)
    await _settle(site.db, people[0])
    await _settle(site.db, mail, dead=True)
    await login(site.client)
    head = (await AuditLog(site.db).newest(limit=1))[0].seq

    listing = await (await site.client.get("/admin/incidents")).text()
    assert 'id="nav-incidents"' in listing
    rows = _cells(listing, "incidents")  # newest first; the seed opened a dry run before
    assert len(rows) == 2 and "(dry run)" in rows[1][0]
    row = rows[0]
    assert f'href="/admin/incidents/{incident}"' in row[0] and row[1] == SERVER
    assert row[4:7] == ["1 / 2 / 0", "0 / 1 / 1", "asked"]

    resp = await site.client.get(f"/admin/incidents/{incident}")
    assert resp.status == 200
    page = await resp.text()
    # The counts are the ledger's, as `bridge audit server` gives them.
    summary = await LedgerQueries(site.db).server_summary(SERVER)
    assert summary is not None and summary.items == 17  # alice 15, carol 1, bob 1
    assert f'id="incident-people">{summary.subjects}<' in page
    assert f'id="incident-items">{summary.items}<' in page
    assert dict(_cells(page, "by-category")) == {
        c.category.label: str(c.items) for c in summary.categories
    }
    report = await incident_report_json(site, incident)
    assert dict(_cells(page, "by-room")) == {ROOM: str(report["by_room"][ROOM])}
    assert [int(v) for _, v in _cells(page, "by-day")] == [1, 2, 3, 5, 6]
    assert "1 sent, 2 pending, 0 retrying, 0 failed" in page
    assert _cells(page, "requests") == [
        ["1", "e-mail", "failed (refused)"],
        ["2", "Matrix DM", "pending"],
    ]
    assert "Contacts from: register" in page
    assert re.search(r'id="deny-asked">yes<', page)
    assert "recorded in register version" in page
    assert re.search(r'id="deny-policy">deny<', page)
    assert _cells(page, "deny-room-list") == [[ROOM, "pending", "", ""]]
    # Nobody is named: not the people affected, not the server's contacts.
    for name in ("alice", "rcAlice", "carol", "@bob:hs2.test", "@admin:hs2.test", "dpo@"):
        assert name not in page and name not in listing
    # Reading pages that name nobody is not audited (only the report's download was).
    kinds = [e.kind for e in await AuditLog(site.db).newest(limit=10) if e.seq > head]
    assert kinds == [audit.EXPORT_PRODUCED]


async def incident_report_json(site: Site, incident: str) -> dict[str, Any]:
    resp = await site.client.get(f"/admin/incidents/{incident}/report.json")
    assert resp.status == 200
    return dict(json.loads(await resp.text()))


async def test_a_sent_step_whose_outbox_row_was_pruned_still_counts_as_sent(site: Site) -> None:
    await _register(site.db)
    incident = await _open(site.db)
    actions = await _actions(site.db, incident)
    for action_id in actions.values():
        await _settle(site.db, action_id)
    async with site.db.unit_of_work() as uow:
        assert await uow.prune_processed(now_ms() + 1) >= len(actions)
    assert await _actions(site.db, incident) == {}
    await login(site.client)
    page = await (await site.client.get(f"/admin/incidents/{incident}")).text()
    assert "3 sent, 0 pending, 0 retrying, 0 failed" in page
    assert [r[2] for r in _cells(page, "requests")] == ["sent", "sent"]


async def test_the_report_download_follows_its_schema_and_is_audited(site: Site) -> None:
    await _register(site.db)
    incident = await _open(site.db)
    await login(site.client)
    resp = await site.client.get(f"/admin/incidents/{incident}/report.json")
    body = await resp.read()
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    report = json.loads(body)
    jsonschema.validate(report, schema())
    alice = next(p for p in report["people"] if p["username"] == "alice")
    assert alice["items"] == 15 and report["server"] == SERVER
    assert report["data_subjects"]["approximate_number"] == len(report["people"])
    [entry] = await AuditLog(site.db).newest(kind=audit.EXPORT_PRODUCED, limit=1)
    assert entry.actor == "web:admin-token"
    assert entry.details["incident"] == incident and entry.details["format"] == "json"
    assert entry.details["sha256"] == hashlib.sha256(body).hexdigest()
    md = await site.client.get(f"/admin/incidents/{incident}/report.md")
    assert md.status == 200 and md.content_type == "text/markdown"
    assert (await md.text()).startswith(f"# Personal data breach report: {SERVER}")


async def test_the_report_keeps_to_what_was_recorded_when_the_incident_opened(
    site: Site,
) -> None:
    incident = await _open(site.db, dry_run=True)
    await login(site.client)
    before = await incident_report_json(site, incident)
    # More reaches the server after the incident was opened: not part of its report.
    await message(site.db, seed_ledger(site.config), ALICE, now_ms())
    after = await incident_report_json(site, incident)
    assert after["people"] == before["people"]
    fresh = await _open(site.db, dry_run=True)
    assert (await incident_report_json(site, fresh))["records"]["approximate_number"] == (
        before["records"]["approximate_number"] + 1
    )


async def test_outside_names_are_escaped_and_unknown_incidents_are_not_found(
    site: Site,
) -> None:
    incident = site.seeded.incident_id  # a dry run about a server with markup in its name
    await login(site.client)
    page = await (await site.client.get(f"/admin/incidents/{incident}")).text()
    assert "evil&lt;b&gt;x&lt;/b&gt;.test" in page and "<b>x</b>" not in page
    assert "dry run: nothing was sent" in page
    for path in (
        "/admin/incidents/in-0000000000000000",
        "/admin/incidents/in-0000000000000000/report.json",
        f"/admin/incidents/{incident}/report.txt",
        "/admin/incidents/not-an-id",
    ):
        assert (await site.client.get(path)).status == 404, path


async def test_the_pages_and_the_report_need_a_login(site: Site) -> None:
    incident = await _open(site.db, dry_run=True)
    head = (await AuditLog(site.db).newest(limit=1))[0].seq
    for path in ("/admin/incidents", f"/admin/incidents/{incident}/report.json"):
        resp = await site.client.get(path, allow_redirects=False)
        assert resp.status == 303 and "/admin/login" in resp.headers["Location"]
    exports = await AuditLog(site.db).newest(kind=audit.EXPORT_PRODUCED, limit=5)
    assert [e for e in exports if e.seq > head] == []
