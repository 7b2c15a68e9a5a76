"""The JSON API: every answer matches the OpenAPI description the bridge serves, the
figures match the database, decisions go through the erasure engine, metrics."""

from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import replace
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate as validate_spec

from bridge.metrics import REGISTRY
from bridge.privacy import audit
from bridge.privacy.audit import AuditLog
from bridge.privacy.ledger import DisclosureLedger
from bridge.privacy.queries import LedgerQueries
from bridge.web.dashboard import build_dashboard
from bridge.web.deps import DEPS
from tests.privacy.helpers import ALICE, BOB, SETTINGS, member, message
from tests.web.conftest import Site
from tests.web.seed import ADMIN_TOKEN, DAY, METRICS_TOKEN
from tests.web.test_auth import login

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def spec_of(site: Site) -> dict[str, Any]:
    resp = await site.client.get("/admin/api/openapi.json", headers=BEARER)
    assert resp.status == 200
    spec: dict[str, Any] = await resp.json()
    validate_spec(spec)  # type: ignore[arg-type]
    return spec


def check(spec: dict[str, Any], method: str, path: str, status: int, body: Any) -> None:
    """Validate ``body`` against the response the spec documents for this route."""
    path = path.split("?", maxsplit=1)[0]
    for template, item in spec["paths"].items():
        pattern = "^/admin" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method.lower() in item:
            response = item[method.lower()]["responses"][str(status)]
            if "$ref" in response:
                response = spec["components"]["responses"][response["$ref"].split("/")[-1]]
            schema = response["content"]["application/json"]["schema"]
            jsonschema.validate(body, {**schema, "components": spec["components"]})
            return
    raise AssertionError(f"{method} {path} is not in the OpenAPI description")


async def call(
    site: Site, spec: dict[str, Any], method: str, path: str, status: int = 200, **kw: Any
) -> Any:
    resp = await site.client.request(method, path, headers=BEARER, **kw)
    assert resp.status == status, (path, await resp.text())
    body = await resp.json()
    check(spec, method, path, status, body)
    return body


async def test_every_api_answer_matches_the_openapi_description(site: Site) -> None:
    spec = await spec_of(site)
    s = site.seeded
    await call(site, spec, "GET", "/admin/api/overview?days=7")
    await call(site, spec, "GET", "/admin/api/servers")
    await call(site, spec, "GET", "/admin/api/servers/hs2.test?limit=2")
    await call(site, spec, "GET", "/admin/api/servers/nowhere.test", 404)
    await call(site, spec, "POST", "/admin/api/subjects/lookup", json={"subject": "alice"})
    await call(site, spec, "POST", "/admin/api/subjects/lookup", 404, json={"subject": "nobody"})
    await call(site, spec, "POST", "/admin/api/subjects/lookup", 400, json=["alice"])
    await call(site, spec, "GET", "/admin/api/requests")
    await call(site, spec, "GET", "/admin/api/requests?state=verified")
    await call(site, spec, "GET", "/admin/api/requests?state=bogus", 400)
    await call(site, spec, "GET", f"/admin/api/requests/{s.approve_id}")
    await call(site, spec, "GET", "/admin/api/requests/er-nope", 404)
    await call(site, spec, "POST", f"/admin/api/requests/{s.deny_id}/approve", 409)
    await call(site, spec, "POST", f"/admin/api/requests/{s.deny_id}/deny", 400, json={})
    await call(site, spec, "GET", "/admin/api/audit?limit=5")
    await call(site, spec, "GET", "/admin/api/audit/verify")
    await call(site, spec, "GET", "/admin/api/overview?days=0", 400)
    resp = await site.client.get("/admin/api/overview")
    check(spec, "GET", "/admin/api/overview", 401, await resp.json())


async def test_figures_match_the_ledger(site: Site) -> None:
    spec = await spec_of(site)
    ledger = LedgerQueries(site.db)
    servers = (await call(site, spec, "GET", "/admin/api/servers"))["servers"]
    for server in servers:
        summary = await ledger.server_summary(server["recipient"])
        assert summary is not None
        assert (server["items"], server["subjects"]) == (summary.items, summary.subjects)
    overview = await call(site, spec, "GET", "/admin/api/overview")
    flows = await ledger.flows()
    for series in overview["flows"]:
        by_day = dict(zip(overview["days"], series["items"], strict=True))
        for f in flows:
            if f.recipient == series["recipient"]:
                assert by_day[f.day.isoformat()] == f.items
    assert overview["requests"]["pending"] == 3 and overview["requests"]["overdue"] == 1
    overdue = [r["id"] for r in overview["requests"]["open"] if r["overdue"]]
    assert overdue == [site.seeded.overdue_id]


async def test_approve_and_deny_through_the_api_are_recorded(site: Site) -> None:
    spec = await spec_of(site)
    s = site.seeded
    approved = await call(site, spec, "POST", f"/admin/api/requests/{s.approve_id}/approve")
    assert approved["state"] == "approved"
    await call(site, spec, "POST", f"/admin/api/requests/{s.approve_id}/approve", 409)
    denied = await call(
        site,
        spec,
        "POST",
        f"/admin/api/requests/{s.deny_id}/deny",
        json={"reason": "not the account holder"},
    )
    assert denied["state"] == "denied"
    assert denied["log"][-1]["detail"] == "not the account holder"
    # Reading the request back is on record too (subject.lookup); the decisions:
    entries = [e for e in await AuditLog(site.db).newest() if e.kind != audit.SUBJECT_LOOKUP]
    assert [e.kind for e in entries[:2]] == [audit.REQUEST_DENIED, audit.REQUEST_APPROVED]
    # Recorded by the engine, in the transaction that moved the request.
    assert entries[0].details["note"] == "not the account holder"
    assert entries[1].actor == "api:admin-token"
    assert (await AuditLog(site.db).verify()).ok


async def test_exports_from_the_api_are_downloads_on_record(site: Site) -> None:
    resp = await site.client.post("/admin/api/exports/requests?format=json", headers=BEARER)
    assert resp.status == 200
    assert resp.headers["Content-Disposition"] == 'attachment; filename="requests.json"'
    body = await resp.json()
    assert {r["id"] for r in body["requests"]} == {
        site.seeded.approve_id, site.seeded.deny_id, site.seeded.overdue_id
    }  # fmt: skip
    entry = (await AuditLog(site.db).newest(kind=audit.EXPORT_PRODUCED))[0]
    assert entry.details["what"] == "requests" and entry.details["rows"] == 3
    bad = await site.client.post("/admin/api/exports/everything", headers=BEARER)
    assert bad.status == 400


async def test_pages_need_a_session_and_everything_carries_security_headers(site: Site) -> None:
    resp = await site.client.get("/admin/servers/evil%3Cb%3Ex%3C%2Fb%3E.test", headers=BEARER)
    # The Bearer token opens the API only; a page without a session goes to the login.
    assert resp.status == 200 and "/admin/login" in str(resp.url)
    assert "script-src" not in resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    api = await site.client.get("/admin/api/servers", headers=BEARER)
    assert api.headers["X-Frame-Options"] == "DENY"


def sample(name: str, labels: dict[str, str] | None = None) -> float | None:
    return REGISTRY.get_sample_value(name, labels or {})


async def test_metrics_report_requests_recipients_and_flows(site: Site) -> None:
    resp = await site.client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert resp.status == 200
    assert sample("bridge_erasure_requests", {"state": "verified"}) == 2
    assert sample("bridge_erasure_requests", {"state": "received"}) == 1
    hs2 = await LedgerQueries(site.db).server_summary("hs2.test")
    assert hs2 is not None
    assert (
        sample("bridge_ledger_disclosures", {"recipient": "hs2.test", "kind": "remote"})
        == hs2.items
    )
    assert sample("bridge_erasure_recipient_actions", {"status": "failed"}) == 0
    assert sample("bridge_outbox_lag_seconds") == 0
    assert sample("bridge_bridged_messages", {"direction": "rocketchat_to_matrix"}) == 0


@pytest.mark.parametrize("secure", [True, False])
async def test_cookie_secure_follows_the_config(site: Site, secure: bool) -> None:
    config = replace(site.config, web=replace(site.config.web, cookie_secure=secure))
    assert build_dashboard(config, site.db, None)[DEPS].cookie_secure is secure


async def test_a_servers_pruned_items_show_as_day_counts(site: Site) -> None:
    """Items pruned after the ledger's retention are still counted on the server's page
    and in its API answer, per category and naming no one."""
    spec = await spec_of(site)
    ledger = DisclosureLedger(SETTINGS)
    old = int(time.time() * 1000) - 800 * DAY
    await member(site.db, ledger, BOB.user_id, "join", old - 1)
    await message(site.db, ledger, ALICE, old)
    async with site.db.unit_of_work() as uow:
        assert await ledger.prune_older_than(uow, old + 1) == 1
    body = await call(site, spec, "GET", "/admin/api/servers/hs2.test")
    day = dt.datetime.fromtimestamp(old / 1000, dt.UTC).date()
    assert body["aggregated"] == {
        "before": (day + dt.timedelta(days=1)).isoformat(),
        "first_day": day.isoformat(),
        "last_day": day.isoformat(),
        "items": 1,
        "categories": {"message_text": 1},
    }
    await login(site.client)
    page = await (await site.client.get("/admin/servers/hs2.test")).text()
    assert "aggregated, subjects no longer recorded" in page
    assert '<span id="aggregated-items">1</span>' in page
