"""The dashboard in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright,
no browser download): log in, open every page, check the figures against the database,
approve and deny, verify and tamper, export. Screenshots go to test-artifacts/dashboard/.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import BrowserContext, Page, async_playwright, expect
from sqlalchemy import text

from bridge.privacy import audit
from bridge.privacy.audit import AuditLog
from bridge.privacy.exports import RequestLog
from bridge.privacy.queries import LedgerQueries
from tests.web.conftest import Site
from tests.web.seed import ADMIN_TOKEN, HOSTILE_SERVER

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
# Without these, Chromium reaches for the network (component updates, field trials).
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


@pytest_asyncio.fixture
async def browser(tmp_path: Path) -> AsyncIterator[BrowserContext]:
    assert Path(CHROMIUM).exists(), "scripts/test.sh installs Debian's chromium"
    async with async_playwright() as p:
        context = await p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, args=FLAGS, headless=True,
            accept_downloads=True, viewport={"width": 1280, "height": 900},
        )  # fmt: skip
        yield context
        await context.close()


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def log_in(page: Page, base: str) -> None:
    await page.goto(f"{base}/admin/")
    await expect(page).to_have_url(re.compile(r"/admin/login\?next="))
    await page.fill("#token", "wrong-token-wrong-token-wrong")
    await page.click("#token-submit")
    await expect(page.locator("#login-error")).to_have_text("Login refused.")
    await shot(page, "01-login-refused")
    await page.fill("#token", ADMIN_TOKEN)
    await page.click("#token-submit")
    await expect(page).to_have_url(f"{base}/admin/")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_dashboard_in_chromium(site: Site, browser: BrowserContext) -> None:
    page = browser.pages[0] if browser.pages else await browser.new_page()
    base = str(site.client.make_url("")).rstrip("/")
    seen_html: list[str] = []
    ledger = LedgerQueries(site.db)

    await log_in(page, base)

    # Overview: the cards and tables show what the ledger and the request log say.
    counts = await RequestLog(site.db).counts()
    await expect(page.locator("#requests-pending")).to_have_text(str(counts.pending))
    await expect(page.locator("#requests-overdue")).to_have_text(str(counts.overdue))
    assert (counts.pending, counts.overdue) == (3, 1)
    rows = page.locator("#top-items tbody tr")
    assert await rows.count() == 4  # hs1, hs2, the hostile server, Rocket.Chat
    for n in range(await rows.count()):
        row = rows.nth(n)
        name = await row.get_attribute("data-recipient")
        assert name is not None
        summary = await ledger.server_summary(name)
        assert summary is not None
        assert await row.locator(".items").inner_text() == str(summary.items)
        assert await row.locator(".subjects").inner_text() == str(summary.subjects)
    flows = await ledger.flows()
    for chart in await page.locator(".flow").all():
        name = await chart.get_attribute("data-recipient")
        expected = sum(f.items for f in flows if f.recipient == name)
        assert await chart.get_attribute("data-total") == str(expected)
        bars = [
            int(await b.get_attribute("data-value") or -1)
            for b in await chart.locator("rect.bar").all()
        ]
        assert sum(bars) == expected and len(bars) == 30
    # A server name with markup is shown as text, never as markup.
    assert (
        await page.locator(f'.flow[data-recipient="{HOSTILE_SERVER}"] h3 a').inner_text()
        == HOSTILE_SERVER
    )
    assert await page.locator(".flow h3 a b").count() == 0
    await expect(page.locator("tr.overdue")).to_have_count(1)
    seen_html.append(await page.content())
    await shot(page, "02-overview")

    # Server detail.
    await page.click('#top-items a:text-is("hs2.test")')
    hs2 = await ledger.server_summary("hs2.test")
    assert hs2 is not None
    await expect(page.locator("#server-items")).to_have_text(str(hs2.items))
    await expect(page.locator("#server-subjects")).to_have_text(str(hs2.subjects))
    await expect(page.locator("#disclosures tbody tr")).to_have_count(hs2.items)
    seen_html.append(await page.content())
    await shot(page, "03-server")

    # Subject lookup: the figures, and the lookup itself on record.
    await page.click("#nav-subjects")
    await page.fill("#subject", "alice")
    await page.click("#lookup-submit")
    report = await ledger.recipients_of_subject(await ledger.find_subject("alice"))
    table = page.locator("#subject-recipients tbody tr")
    await expect(table).to_have_count(len(report.recipients))
    for r in report.recipients:
        cell = page.locator(f'#subject-recipients tr[data-recipient="{r.recipient}"] .items')
        await expect(cell).to_have_text(str(r.items))
    await expect(page.locator("#requests-table tbody tr")).to_have_count(1)
    lookups = await AuditLog(site.db).newest(kind=audit.SUBJECT_LOOKUP)
    assert lookups[0].actor == "web:admin-token" and lookups[0].subject_ref == report.subject.id
    seen_html.append(await page.content())
    await shot(page, "04-subject")

    # Requests, then approve one and deny another (CSRF tokens come from the forms).
    await page.click("#nav-requests")
    await expect(page.locator("#requests-table tbody tr")).to_have_count(3)
    await shot(page, "05-requests")
    await page.click(f'a:text-is("{site.seeded.approve_id}")')
    await page.click("#approve-submit")
    await expect(page.locator("#done")).to_have_text("Request approved.")
    await expect(page.locator("#request-state")).to_contain_text("approved")
    assert (await site.engine.status(site.seeded.approve_id)).state.value == "approved"
    await shot(page, "06-approved")

    await page.goto(f"{base}/admin/requests/{site.seeded.deny_id}")
    await expect(page.locator("#approve-submit")).to_have_count(0)  # not verified yet
    await page.fill("#deny-reason", "Identity could not be verified")
    await page.click("#deny-submit")
    await expect(page.locator("#done")).to_have_text("Request denied.")
    assert (await site.engine.status(site.seeded.deny_id)).state.value == "denied"
    seen_html.append(await page.content())
    await shot(page, "07-denied")

    # The audit log shows the decisions; verify passes, then fails after tampering.
    await page.click("#nav-audit")
    kinds = await page.locator("#audit-entries .kind").all_inner_texts()
    # Each page that named a person was a recorded read (subject.lookup) in between.
    decisions = [k for k in kinds if k != "subject.lookup"]
    assert decisions[:2] == ["request.denied", "request.approved"]
    assert "subject.lookup" in kinds
    await page.click("#verify")
    await expect(page.locator("#verify-result")).to_contain_text("The chain verifies")
    await shot(page, "08-audit-verified")
    approved = (await AuditLog(site.db).newest(kind=audit.REQUEST_APPROVED))[0]
    async with site.db.engine.begin() as conn:
        await conn.execute(
            text("UPDATE audit_entry SET actor = 'someone else' WHERE seq = :seq"),
            {"seq": approved.seq},
        )
    await page.reload()
    await expect(page.locator("#verify-result")).to_contain_text(
        f"does NOT verify: entry {approved.seq} (request.approved)"
    )
    await shot(page, "09-audit-tampered")

    # Export the flows as CSV: a download, with the same figures, recorded in the log.
    await page.click("#nav-exports")
    async with page.expect_download() as info:
        await page.click("#export-flows-csv")
    download = await info.value
    content = Path(await download.path()).read_text()
    exported = {
        (r["day"], r["recipient"]): int(r["items"]) for r in csv.DictReader(io.StringIO(content))
    }
    assert exported == {(f.day.isoformat(), f.recipient): f.items for f in flows}
    assert (await AuditLog(site.db).newest(kind=audit.EXPORT_PRODUCED))[0].details["rows"] == len(
        flows
    )
    await shot(page, "10-exports")

    # No page showed message content (the seeded messages all said "hello").
    assert not any("hello" in html for html in seen_html)

    # Logging out locks every page again.
    await page.click("#logout")
    await page.goto(f"{base}/admin/requests")
    await expect(page).to_have_url(re.compile(r"/admin/login"))
