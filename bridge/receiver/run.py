"""``bridge receiver -c receiver.yaml``: answer erasure requests from configured peers.

Run by a partner's administrator beside their homeserver, with an admin account's token
(the account partners send requests to). It syncs as that account, joins DMs only when
a configured peer invites, applies each request from a peer in a DM with that peer
(bridge/receiver/apply.py), answers ``received`` then ``applied`` (or ``refused``), and
writes each decision to its audit log. A replayed request gets the stored answer again
and changes nothing (docs/erasure-protocol.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import aiohttp

from bridge.privacy.erasure_protocol import (
    REQUEST_EVENT,
    RESPONSE_EVENT,
    ProtocolError,
    Request,
    Response,
)
from bridge.receiver.apply import AdminError, HomeserverAdmin, apply
from bridge.receiver.config import ReceiverConfig
from bridge.receiver.journal import Journal
from bridge.storage.common import now_ms

log = logging.getLogger(__name__)

# A listed event not redacted here yet may have its redaction still on the way over
# federation: the answer waits this long after the request was sent before it says so.
SETTLE_MS = 120_000
INVITE_TRIES = 5
# Rounds are 2 s apart while something waits: a request is tried for several minutes.
REQUEST_TRIES = 150
SYNC_FILTER = json.dumps({"room": {"timeline": {"limit": 100}}, "presence": {"types": []}})


class Receiver:
    def __init__(self, config: ReceiverConfig, session: aiohttp.ClientSession) -> None:
        self._c = config
        self._session = session
        self._headers = {"Authorization": f"Bearer {config.access_token}"}
        self._admin = HomeserverAdmin(config.address, config.access_token, session)
        self._journal = Journal(config.audit_log, config.state_file)
        self.user_id = ""
        self._found: list[dict[str, Any]] = []  # requests read from rooms just joined

    async def _client(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        query: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        url = f"{self._c.address}/_matrix/client/v3{path}"
        async with self._session.request(
            method, url, headers=self._headers, json=body, params=query
        ) as resp:
            answer = await resp.json(content_type=None)
            if resp.status >= 400:
                errcode = answer.get("errcode") if isinstance(answer, dict) else None
                if isinstance(answer, dict) and answer.get("error"):
                    errcode = f"{errcode} ({str(answer['error'])[:200]})"
                what = path.split("?", maxsplit=1)[0].rsplit("/", 2)[-2:]
                raise AdminError(f"homeserver answered {resp.status} {errcode} to {'/'.join(what)}")
            return answer if isinstance(answer, dict) else {}

    async def run(self) -> None:
        self.user_id = str((await self._client("GET", "/account/whoami"))["user_id"])
        log.info("Receiver running as %s for %d peer(s)", self.user_id, len(self._c.peers))
        state = self._journal.load_state()
        while True:
            try:
                await self.round(state)
            except (AdminError, aiohttp.ClientError) as e:
                log.warning("Receiver round failed, retrying: %s", e)
                await asyncio.sleep(5)

    async def round(self, state: dict[str, Any], timeout_ms: int = 30_000) -> None:
        if state.get("pending") or state.get("invites"):
            timeout_ms = min(timeout_ms, 2_000)  # retry the waiting ones soon
        query: dict[str, str] = {"timeout": str(timeout_ms), "filter": SYNC_FILTER}
        if state.get("next_batch"):
            query["since"] = state["next_batch"]
        sync = await self._client("GET", "/sync", query=query)
        rooms = sync.get("rooms") or {}
        for room_id, room in (rooms.get("invite") or {}).items():
            state.setdefault("invites", []).append({"room_id": room_id, **room})
        for room_id, room in (rooms.get("join") or {}).items():
            for event in (room.get("timeline") or {}).get("events") or []:
                if event.get("type") == REQUEST_EVENT:
                    state.setdefault("pending", []).append({"room_id": room_id, **event})
        state["next_batch"] = sync.get("next_batch")
        self._journal.save_state(state)
        state["invites"] = await self._retry(
            state.get("invites", []), self._invited, INVITE_TRIES, "invite failed"
        )
        state.setdefault("pending", []).extend(self._found)
        self._found.clear()
        state["pending"] = await self._retry(
            state.get("pending", []), self._request, REQUEST_TRIES, "request failed"
        )
        self._journal.save_state(state)

    async def _retry(
        self,
        items: list[dict[str, Any]],
        handle: Callable[[dict[str, Any]], Awaitable[None]],
        limit: int,
        failed: str,
    ) -> list[dict[str, Any]]:
        """Handle each item; keep the ones that failed for the next round, up to ``limit``
        tries (an old invitation to a room that is gone must not hold up the rest)."""
        kept = []
        for item in items:
            try:
                await handle(item)
            except AdminError as e:
                tries = int(item.get("tries", 0)) + 1
                log.warning("%s (try %d): %s", failed, tries, e)
                if tries < limit:
                    kept.append({**item, "tries": tries})
                else:
                    self._journal.record(event=failed, room_id=item["room_id"], reason=str(e))
        return kept

    async def _invited(self, room: dict[str, Any]) -> None:
        room_id = str(room["room_id"])
        events = (room.get("invite_state") or {}).get("events") or []
        inviter = next(
            (
                e.get("sender")
                for e in events
                if e.get("type") == "m.room.member" and e.get("state_key") == self.user_id
            ),
            None,
        )
        if inviter in self._c.peers:
            # Through the inviter's server: a room id of room version 12 names none.
            via = {"server_name": str(inviter).split(":", 1)[1]}
            await self._client("POST", f"/join/{quote(room_id)}", {}, query=via)
            self._journal.record(event="joined", room_id=room_id, peer=inviter)
            await self._backlog(room_id)
        else:
            await self._client("POST", f"/rooms/{quote(room_id)}/leave", {})
            self._journal.record(event="declined invite", room_id=room_id, sender=inviter)

    async def _backlog(self, room_id: str) -> None:
        """Requests sent before we joined: a server that joins a room gets no earlier
        events by itself, and a sync shows only what it has; /messages backfills them
        from the room's other servers (history visibility "shared" lets a member read
        them)."""
        query = {"dir": "b", "limit": "50", "filter": json.dumps({"types": [REQUEST_EVENT]})}
        answer = await self._client("GET", f"/rooms/{quote(room_id)}/messages", query=query)
        for event in reversed(answer.get("chunk") or []):
            if event.get("type") == REQUEST_EVENT:
                self._found.append({"room_id": room_id, **event})

    async def _request(self, event: dict[str, Any]) -> None:
        room_id, sender = str(event["room_id"]), str(event.get("sender"))
        if sender == self.user_id:
            return
        why = await self._untrusted(room_id, sender)
        if why:
            # No answer: a forger learns nothing (docs/erasure-protocol.md).
            self._journal.record(event="ignored", room_id=room_id, sender=sender, reason=why)
            return
        content = event.get("content") or {}
        request_id = str(content.get("request_id") or "")[:64]
        stored = self._journal.answered().get(request_id)
        if stored is not None:
            await self._send(room_id, str(event["event_id"]), stored)
            self._journal.record(event="replayed", request_id=request_id, peer=sender)
            return
        try:
            request = Request.parse(content)
        except ProtocolError as e:
            answer = Response(request_id or "?", "refused", reason=str(e))
        else:
            await self._send(
                room_id, str(event["event_id"]), Response(request_id, "received").content()
            )
            answer = await apply(self._admin, request, self._c.domain, self._c.retention_ms)
            sent = int(event.get("origin_server_ts") or 0)
            if answer.purged.get("events_unredacted") and now_ms() - sent < SETTLE_MS:
                raise AdminError("listed events not redacted here yet; looking again shortly")
        await self._send(room_id, str(event["event_id"]), answer.content())
        self._journal.record(
            event="answered",
            request_id=answer.request_id,
            peer=sender,
            room_id=room_id,
            status=answer.status,
            response=answer.content(),
        )
        log.info("Erasure request %s from %s: %s", answer.request_id, sender, answer.status)

    async def _untrusted(self, room_id: str, sender: str) -> str:
        if sender not in self._c.peers:
            return "not a configured peer"
        members = await self._client("GET", f"/rooms/{quote(room_id)}/joined_members")
        if set(members.get("joined") or {}) != {sender, self.user_id}:
            return "not a direct room with that peer"
        return ""

    async def _send(self, room_id: str, cause: str, content: dict[str, Any]) -> None:
        # The txnId follows from what is answered: a repeat after a crash sends nothing new.
        seed = f"{cause}:{content['status']}:{json.dumps(content, sort_keys=True)}"
        txn = "rcv" + hashlib.sha256(seed.encode()).hexdigest()[:32]
        path = f"/rooms/{quote(room_id)}/send/{RESPONSE_EVENT}/{txn}"
        await self._client("PUT", path, content)
