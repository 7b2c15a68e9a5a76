"""Apply an erasure request with the Synapse admin API, and say what was observed.

- Events: the admin room-context API (``GET /_synapse/admin/v1/rooms/<room>/context/
  <event>``) shows whether this server holds each listed event and whether it is
  redacted. A server cannot redact another server's user's event without power in the
  room, so an event still unredacted here is reported as such, never as purged.
- Media: a listed local file is deleted (``DELETE /_synapse/admin/v1/media/<server>/
  <id>``). Synapse has no API deleting one *remote* file from its cache, so when a listed
  remote file is cached the receiver purges the remote-media cache up to now
  (``POST /_synapse/admin/v1/purge_media_cache?before_ts=``: every cached remote file,
  re-fetched on demand), then checks each listed one is gone (the media info API).
- Expunge time: Synapse removes a redacted event's original content
  ``redaction_retention_period`` after the redaction (docs/synapse-notes.md); the newest
  redaction's time plus that period is reported.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp

from bridge.privacy.erasure_protocol import Request, Response
from bridge.storage.common import now_ms

log = logging.getLogger(__name__)


class AdminError(Exception):
    """The homeserver refused or failed an admin call; the request is answered later."""


class HomeserverAdmin:
    def __init__(self, address: str, token: str, session: aiohttp.ClientSession) -> None:
        self._base = address + "/_synapse/admin"
        self._headers = {"Authorization": f"Bearer {token}"}
        self._session = session

    async def call(self, method: str, path: str) -> dict[str, Any] | None:
        """The JSON answer; None for 404 (not held here)."""
        try:
            async with self._session.request(
                method,
                self._base + path,
                headers=self._headers,
                json={} if method == "POST" else None,
            ) as resp:
                if resp.status == 404:
                    return None
                body = await resp.json(content_type=None)
                if resp.status >= 400:
                    raise AdminError(
                        f"admin API answered {resp.status} to {path.split('?', maxsplit=1)[0]}"
                    )
                return body if isinstance(body, dict) else {}
        except aiohttp.ClientError as e:
            raise AdminError(f"admin API unreachable: {type(e).__name__}") from e

    async def event(self, room_id: str, event_id: str) -> dict[str, Any] | None:
        answer = await self.call(
            "GET", f"/v1/rooms/{quote(room_id)}/context/{quote(event_id)}?limit=1"
        )
        return None if answer is None else answer.get("event")

    async def media_held(self, mxc: str) -> bool:
        server, media_id = mxc.removeprefix("mxc://").split("/", 1)
        return await self.call("GET", f"/v1/media/{quote(server)}/{quote(media_id)}") is not None


@dataclass
class Outcome:
    redacted: int = 0
    missing: int = 0
    unredacted: int = 0
    media_deleted: int = 0
    remote_purged: int = 0
    media_kept: int = 0
    last_redaction_ms: int = 0
    notes: list[str] = field(default_factory=list)


async def _events(admin: HomeserverAdmin, request: Request, out: Outcome) -> None:
    for room_id, event_id in request.events:
        event = await admin.event(room_id, event_id)
        if event is None:
            out.missing += 1
            continue
        because = (event.get("unsigned") or {}).get("redacted_because")
        if because or not event.get("content"):
            out.redacted += 1
            ts = int((because or {}).get("origin_server_ts") or 0)
            out.last_redaction_ms = max(out.last_redaction_ms, ts)
        else:
            out.unredacted += 1


async def _media(admin: HomeserverAdmin, request: Request, domain: str, out: Outcome) -> None:
    remote = []
    for mxc in request.media:
        server, media_id = mxc.removeprefix("mxc://").split("/", 1)
        if server == domain:
            if await admin.call("DELETE", f"/v1/media/{quote(server)}/{quote(media_id)}"):
                out.media_deleted += 1
        elif await admin.media_held(mxc):
            remote.append(mxc)
    if remote:
        await admin.call("POST", f"/v1/purge_media_cache?before_ts={now_ms() + 1}")
        for mxc in remote:
            if await admin.media_held(mxc):
                out.media_kept += 1
            else:
                out.remote_purged += 1


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


async def apply(
    admin: HomeserverAdmin, request: Request, domain: str, retention_ms: int | None
) -> Response:
    out = Outcome()
    await _events(admin, request, out)
    await _media(admin, request, domain, out)
    expunge = None
    if out.redacted and retention_ms is not None:
        expunge = (out.last_redaction_ms or now_ms()) + retention_ms
    parts = [f"{out.redacted} of {len(request.events)} event(s) redacted here"]
    if out.missing:
        parts.append(f"{out.missing} never held here")
    if out.unredacted:
        parts.append(f"{out.unredacted} still unredacted here (no power to redact them)")
    if out.media_deleted:
        parts.append(f"{out.media_deleted} local media file(s) deleted")
    if out.remote_purged:
        parts.append(
            f"{out.remote_purged} cached remote media file(s) purged (with the whole "
            "remote-media cache up to now)"
        )
    if request.media and not (out.media_deleted or out.remote_purged or out.media_kept):
        parts.append("none of the listed media was held here")
    if out.media_kept:
        parts.append(f"{out.media_kept} cached media file(s) still held")
    if expunge is not None:
        parts.append(f"redacted content expunged after {_when(expunge)}")
    elif out.redacted:
        parts.append("this server keeps redacted content (no redaction_retention_period)")
    return Response(
        request.request_id,
        "applied",
        detail="; ".join(parts),
        purged={
            "events_redacted": out.redacted,
            "events_missing": out.missing,
            "events_unredacted": out.unredacted,
            "media_deleted": out.media_deleted,
            "remote_media_purged": out.remote_purged,
        },
        expunge_after_ms=expunge,
    )
