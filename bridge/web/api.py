"""The dashboard's JSON API (``<web.path>/api/…``), described by ``openapi.yaml`` and
served at ``<web.path>/api/openapi.json``. Same auth as the pages, plus
``Authorization: Bearer <web.admin_token>`` for scripts."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from aiohttp import web
from ruamel.yaml import YAML

from bridge.privacy.queries import AmbiguousSubjectError, SubjectNotFoundError
from bridge.web.deps import ACTOR, Deps
from bridge.web.pages import STATES, export_response
from bridge.web.responses import DashboardError

SPEC = Path(__file__).parent / "openapi.yaml"


@cache
def openapi_spec() -> dict[str, Any]:
    spec: dict[str, Any] = YAML(typ="safe").load(SPEC.read_text(encoding="utf-8"))
    return spec


def _int(request: web.Request, name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise DashboardError(400, f"{name} must be a whole number") from None
    if not lo <= value <= hi:
        raise DashboardError(400, f"{name} must be between {lo} and {hi}")
    return value


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise DashboardError(400, "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise DashboardError(400, "the body must be a JSON object")
    return body


class ApiRoutes:
    def __init__(self, deps: Deps) -> None:
        self.d = deps

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/api/openapi.json", self.openapi)
        router.add_get("/api/overview", self.overview)
        router.add_get("/api/servers", self.servers)
        router.add_get("/api/servers/{name}", self.server)
        router.add_post("/api/subjects/lookup", self.subject)
        router.add_get("/api/requests", self.requests)
        router.add_get("/api/requests/{id}", self.request)
        router.add_post("/api/requests/{id}/approve", self.approve)
        router.add_post("/api/requests/{id}/deny", self.deny)
        router.add_get("/api/audit", self.audit)
        router.add_get("/api/audit/verify", self.verify)
        router.add_post("/api/exports/{what}", self.export)

    async def openapi(self, _request: web.Request) -> web.Response:
        return web.Response(text=json.dumps(openapi_spec()), content_type="application/json")

    async def overview(self, request: web.Request) -> web.Response:
        days = _int(request, "days", 30, 1, 366)
        assert days is not None
        return web.json_response(await self.d.data.overview(request[ACTOR], "api overview", days))

    async def servers(self, _request: web.Request) -> web.Response:
        return web.json_response({"servers": await self.d.data.servers()})

    async def server(self, request: web.Request) -> web.Response:
        limit = _int(request, "limit", 100, 1, 1000)
        assert limit is not None
        name = request.match_info["name"]
        return web.json_response(await self.d.data.server(name, request.query.get("after"), limit))

    async def subject(self, request: web.Request) -> web.Response:
        identifier = (await _json_body(request)).get("subject")
        if not isinstance(identifier, str) or not identifier.strip():
            raise DashboardError(
                400, "subject must be a Matrix user id, Rocket.Chat id or username"
            )
        try:
            data = await self.d.data.subject(identifier.strip(), request[ACTOR], "api")
        except (SubjectNotFoundError, AmbiguousSubjectError) as e:
            raise DashboardError(404, str(e.args[0])) from None
        return web.json_response(data)

    async def requests(self, request: web.Request) -> web.Response:
        state = request.query.get("state") or None
        if state is not None and state not in STATES:
            raise DashboardError(400, f"state must be one of {', '.join(STATES)}")
        return web.json_response(await self.d.data.requests(state, request[ACTOR], "api requests"))

    async def request(self, request: web.Request) -> web.Response:
        data = await self.d.data.request(request.match_info["id"], request[ACTOR], "api request")
        return web.json_response(data)

    async def approve(self, request: web.Request) -> web.Response:
        request_id = request.match_info["id"]
        await self.d.data.decide(request_id, request[ACTOR], True, "")
        return web.json_response(await self.d.data.request(request_id, request[ACTOR], "api"))

    async def deny(self, request: web.Request) -> web.Response:
        request_id = request.match_info["id"]
        reason = (await _json_body(request)).get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise DashboardError(400, "reason is required (the person is told why)")
        await self.d.data.decide(request_id, request[ACTOR], False, reason.strip()[:500])
        return web.json_response(await self.d.data.request(request_id, request[ACTOR], "api"))

    async def audit(self, request: web.Request) -> web.Response:
        before = _int(request, "before", None, 1, 2**62)
        limit = _int(request, "limit", 100, 1, 1000)
        assert limit is not None
        kind = request.query.get("kind") or None
        return web.json_response(await self.d.data.audit_entries(before, limit, kind))

    async def verify(self, _request: web.Request) -> web.Response:
        return web.json_response(await self.d.data.verify())

    async def export(self, request: web.Request) -> web.Response:
        fmt = request.query.get("format", "csv")
        return await export_response(self.d, request[ACTOR], request.match_info["what"], fmt)
