"""The dashboard's incident pages (docs/partners.md, Incident response): the incidents
opened with ``bridge incident open``, and one page per incident with what it found and
how far its notices, requests and deny got.

The pages name nobody (people and contacts are counted; rooms and days are not personal),
so reading them is not audited, like the partners page. The report for the supervisory
authority lists the people affected: its download is recorded in the audit chain as
``export.produced`` with its SHA-256, like every export.
"""

from __future__ import annotations

import hashlib
import json
import re

from aiohttp import web

from bridge.privacy import audit
from bridge.privacy.incident import markdown
from bridge.privacy.incident_view import incident_detail, incident_list, incident_report
from bridge.storage.database import Database
from bridge.web.deps import ACTOR, Deps
from bridge.web.responses import DashboardError

INCIDENT_ID = re.compile(r"^in-[0-9a-f]{16}$")
REPORT_FORMATS = {"json": "application/json", "md": "text/markdown"}


def _incident_id(request: web.Request) -> str:
    incident_id = request.match_info["incident"]
    if not INCIDENT_ID.match(incident_id):
        raise DashboardError(404, "no such incident")
    return incident_id


class IncidentPages:
    def __init__(self, deps: Deps, db: Database) -> None:
        self.d = deps
        self._db = db

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/incidents", self.list_page)
        router.add_get("/incidents/{incident}", self.page)
        router.add_get("/incidents/{incident}/report.{fmt}", self.report)

    async def list_page(self, request: web.Request) -> web.Response:
        data = await incident_list(self._db)
        return self.d.render(request, "incidents.html", data=data)

    async def page(self, request: web.Request) -> web.Response:
        data = await incident_detail(self._db, _incident_id(request))
        if data is None:
            raise DashboardError(404, "no such incident")
        return self.d.render(request, "incident.html", data=data)

    async def report(self, request: web.Request) -> web.Response:
        """The Art. 33(3) report as a download; it names people, so it is audited."""
        fmt = request.match_info["fmt"]
        if fmt not in REPORT_FORMATS:
            raise DashboardError(404, "the report is report.json or report.md")
        incident_id = _incident_id(request)
        data = await incident_report(self._db, incident_id)
        if data is None:
            raise DashboardError(404, "no such incident")
        text = (
            json.dumps(data.document(), indent=2, ensure_ascii=False) + "\n"
            if fmt == "json"
            else markdown(data)
        )
        details: audit.Details = {
            "what": "incident_report",
            "format": fmt,
            "incident": incident_id,
            "rows": len(data.people),
            "sha256": hashlib.sha256(text.encode()).hexdigest(),
        }
        await self.d.audit.record(audit.EXPORT_PRODUCED, request[ACTOR], None, details)
        name = f"incident-{incident_id}.{fmt}"
        return web.Response(
            text=text,
            content_type=REPORT_FORMATS[fmt],
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
