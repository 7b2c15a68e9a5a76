"""The dashboard's partner page (docs/partners.md): the register, the servers that
received data without being registered (held when ``privacy.unknown_servers`` is
``hold``), and the admin's decision as a POST form (CSRF-checked by the dashboard's
middleware; written to the audit chain as ``partner.set`` with the logged-in actor).
Contacts are shown only as counts: the page is about terms, not people."""

from __future__ import annotations

from aiohttp import web

from bridge.privacy.incident_view import incident_list
from bridge.privacy.partner_values import LAWFUL_BASES, POLICIES, PartnerError
from bridge.privacy.partners import PartnerChanges, PartnerRegister
from bridge.privacy.processing import processing_rows
from bridge.storage.database import Database
from bridge.web.deps import ACTOR, Deps
from bridge.web.responses import DashboardError, redirect

INCIDENTS_SHOWN = 5  # the newest; the incidents page has the rest


class PartnerPages:
    def __init__(self, deps: Deps, db: Database, unknown_servers: str) -> None:
        self.d = deps
        self._db = db
        self._register = PartnerRegister(db)
        self._unknown = unknown_servers

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/partners", self.page)
        router.add_post("/partners/decide", self.decide)

    async def page(self, request: web.Request) -> web.Response:
        rows = await processing_rows(self._db)
        partners = [p.as_json() | {"contacts": len(p.contacts)} for p in await self._register.all()]
        unregistered = [r for r in rows if not r.registered and r.kind == "remote"]
        return self.d.render(
            request,
            "partners.html",
            partners=partners,
            unregistered=unregistered,
            held=self._unknown == "hold",
            unknown=self._unknown,
            policies=POLICIES,
            bases=LAWFUL_BASES,
            version=await self._register.version(),
            done=request.query.get("done"),
            incidents=(await incident_list(self._db, INCIDENTS_SHOWN)).incidents,
        )

    async def decide(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        server = str(form.get("server", ""))
        changes = PartnerChanges(
            organisation=str(form["organisation"]) if form.get("organisation") else None,
            lawful_basis=str(form["basis"]) if form.get("basis") else None,
            policy=str(form.get("policy", "")),
        )
        try:
            partner, _ = await self._register.set(server, changes, request[ACTOR])
        except PartnerError as e:
            raise DashboardError(400, f"Refused, nothing changed: {e}") from e
        return redirect(f"{self.d.prefix}/partners?done={partner.server}")
