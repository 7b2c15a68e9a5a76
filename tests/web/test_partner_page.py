"""The dashboard's partner page: the register, the servers that received data without
being registered, and the admin's decision (CSRF-checked, audited, bad input refused)."""

from __future__ import annotations

from bridge.privacy.audit import AuditLog
from bridge.privacy.incident_run import open_incident
from bridge.privacy.notices import SupportLookup
from bridge.privacy.partner_values import Contact
from bridge.privacy.partners import PartnerChanges, PartnerRegister
from tests.web.conftest import Site
from tests.web.test_auth import login


async def test_the_page_lists_partners_and_unregistered_recipients(site: Site) -> None:
    await PartnerRegister(site.db).set(
        "hs9.test",
        PartnerChanges(organisation="Agency Nine", lawful_basis="contract",
                       contacts=(Contact(email="dpo@nine.example"),)),
        "cli:t",
    )  # fmt: skip
    await login(site.client)
    page = await (await site.client.get("/admin/partners")).text()
    assert 'data-server="hs9.test"' in page and "Agency Nine" in page
    # Contacts are counted, not shown: the page reveals no partner staff, so reading it
    # needs no partner.contacts_read entry.
    assert "dpo@nine.example" not in page
    assert await AuditLog(site.db).newest(kind="partner.contacts_read", limit=1) == []
    assert 'id="unregistered"' in page and 'id="nav-partners"' in page
    seeded = site.seeded.incident_id
    assert f'href="/admin/incidents/{seeded}"' in page.split('id="incidents"')[1]
    incident = await open_incident(
        site.db, "hs9.test", since_ms=None, dry_run=True, deny=False, actor="cli:t",
        organisation="hs1.test", contact_points=[], support=SupportLookup({}),
        mail_enabled=False,
    )  # fmt: skip
    page = await (await site.client.get("/admin/partners")).text()
    row = page.split('id="incidents"')[1].split("</table>", maxsplit=1)[0]
    assert f'href="/admin/incidents/{incident.incident}"' in row
    assert "(dry run)</td><td>hs9.test</td><td>0</td><td>0</td><td>0</td>" in row


async def test_a_decision_needs_the_csrf_token_is_audited_and_bad_input_changes_nothing(
    site: Site,
) -> None:
    csrf = await login(site.client)
    form = {"server": "hs7.test", "organisation": "Agency Seven", "basis": "public_task",
            "policy": "allow"}  # fmt: skip
    assert (await site.client.post("/admin/partners/decide", data=form)).status == 403
    assert await PartnerRegister(site.db).get("hs7.test") is None
    bad = form | {"csrf": csrf, "server": "hs7 .test"}
    resp = await site.client.post("/admin/partners/decide", data=bad)
    assert resp.status == 400 and "nothing changed" in await resp.text()
    assert await PartnerRegister(site.db).all() == []
    resp = await site.client.post(
        "/admin/partners/decide", data=form | {"csrf": csrf}, allow_redirects=False
    )
    assert resp.status == 303 and resp.headers["Location"].endswith("done=hs7.test")
    saved = await PartnerRegister(site.db).get("hs7.test")
    assert saved is not None and saved.organisation == "Agency Seven"
    entry = (await AuditLog(site.db).newest(limit=1, kind="partner.set"))[0]
    assert entry.actor == "web:admin-token" and entry.details["server"] == "hs7.test"
