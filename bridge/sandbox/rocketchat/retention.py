"""Retention policies: per-room settings (``rooms.saveRoomSettings``) and the pruning job.

The job is Rocket.Chat's apps/meteor/app/retention-policy/server/cronPruneMessages.ts: it runs
only while ``RetentionPolicy_Enabled`` is on. Rooms without an override of their own are
pruned by type (``RetentionPolicy_AppliesTo{Channels,Groups,DMs}``) with the global TTL
(``RetentionPolicy_TTL_*``, milliseconds) and global options; rooms with
``retention.enabled`` and ``retention.overrideGlobal`` use their own ``maxAge`` (days; a
fraction is kept, as ``Number(value)`` keeps it, so tests can use minutes) and their own
``filesOnly``/``excludePinned``/``ignoreThreads`` (unset: false, true, true, the defaults of
cleanRoomHistory.ts). Each prune is cleanRoomHistory's: everything older than the cut-off,
inclusive, and one ``deleteMessageBulk`` on ``stream-notify-room`` per room that lost messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from bridge.sandbox.rocketchat import ops
from bridge.sandbox.rocketchat.access import authed, has_permission, json_body, required_str
from bridge.sandbox.rocketchat.appkeys import STATE_KEY
from bridge.sandbox.rocketchat.responses import invalid_params, meteor_error, success
from bridge.sandbox.rocketchat.state import SimRoom, SimState

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
# cleanRoomHistory's default ``oldest``: new Date('0001-01-01T00:00:00Z').
OLDEST_MS = -62_135_596_800_000
_TTL_BY_TYPE = {"c": "Channels", "p": "Groups", "d": "DMs"}

# saveRoomSettings key -> the ``retention`` field it sets (Rooms.saveRetention*ById).
RETENTION_KEYS = {
    "retentionEnabled": "enabled",
    "retentionMaxAge": "maxAge",
    "retentionExcludePinned": "excludePinned",
    "retentionFilesOnly": "filesOnly",
    "retentionIgnoreThreads": "ignoreThreads",
    "retentionOverrideGlobal": "overrideGlobal",
}
OTHER_KEYS = ("roomName", "roomTopic", "readOnly")


def run(state: SimState, now_ms: int) -> int:
    """One run of the pruning job; returns how many messages went."""
    s = state.settings
    if not s["RetentionPolicy_Enabled"]:
        return 0
    ignore_discussion = bool(s["RetentionPolicy_DoNotPruneDiscussion"])
    removed = 0
    for room in list(state.rooms.values()):
        policy = room.retention or {}
        if policy.get("enabled") is True and policy.get("overrideGlobal") is True:
            max_age = float(policy.get("maxAge", 30))
            removed += _prune(
                state,
                room,
                latest=now_ms - int(max_age * DAY_MS),
                files_only=bool(policy.get("filesOnly", False)),
                exclude_pinned=bool(policy.get("excludePinned", True)),
                ignore_threads=bool(policy.get("ignoreThreads", True)),
                ignore_discussion=ignore_discussion,
            )
        elif policy.get("enabled", True) is not False and policy.get("overrideGlobal") is not True:
            kind = _TTL_BY_TYPE.get(room.t)
            if kind is None or not s[f"RetentionPolicy_AppliesTo{kind}"]:
                continue
            removed += _prune(
                state,
                room,
                latest=now_ms - int(s[f"RetentionPolicy_TTL_{kind}"]),
                files_only=bool(s["RetentionPolicy_FilesOnly"]),
                exclude_pinned=bool(s["RetentionPolicy_DoNotPrunePinned"]),
                ignore_threads=bool(s["RetentionPolicy_DoNotPruneThreads"]),
                ignore_discussion=ignore_discussion,
            )
    return removed


def _prune(
    state: SimState,
    room: SimRoom,
    *,
    latest: int,
    files_only: bool,
    exclude_pinned: bool,
    ignore_threads: bool,
    ignore_discussion: bool,
) -> int:
    prune = ops.Prune(
        oldest=OLDEST_MS,
        latest=latest,
        inclusive=True,
        exclude_pinned=exclude_pinned,
        files_only=files_only,
        ignore_discussion=ignore_discussion,
        ignore_threads=ignore_threads,
    )
    return ops.clean_history(state, room, prune)


async def save_room_settings(request: web.Request) -> web.Response:
    """rooms.saveRoomSettings (apps/meteor/server/methods/saveRoomSettings.ts): ``edit-room``
    on the room; a retention change also needs ``edit-room-retention-policy``."""
    state = request.app[STATE_KEY]
    user = await authed(request)
    body = await json_body(request)
    rid = required_str(body, "rid")
    settings = {k: v for k, v in body.items() if k != "rid"}
    if any(k not in RETENTION_KEYS and k not in OTHER_KEYS for k in settings):
        raise meteor_error("error-invalid-settings", "Invalid settings provided")
    room = state.rooms.get(rid)
    if room is None or not has_permission(state, user, "edit-room", room):
        if room is None:
            raise meteor_error("error-invalid-room", "Invalid room")
        raise meteor_error("error-action-not-allowed", "Editing room is not allowed")
    current = room.retention or {}
    for key, value in settings.items():
        field = RETENTION_KEYS.get(key)
        if field not in (None, "maxAge") and not isinstance(value, bool):
            raise invalid_params(f"/{key} must be boolean")
        if (
            field is not None
            and value != current.get(field)
            and not has_permission(state, user, "edit-room-retention-policy", room)
        ):
            raise meteor_error(
                "error-action-not-allowed", "Editing room retention policy is not allowed"
            )
    _apply(room, settings)
    room.updated_at = state.now_ms()
    state.emit("room", {"rid": room.id})
    return success({"rid": room.id})


def _apply(room: SimRoom, settings: dict[str, Any]) -> None:
    retention = dict(room.retention or {})
    for key, value in settings.items():
        field = RETENTION_KEYS.get(key)
        if field == "maxAge":
            retention[field] = _days(value)
        elif field is not None:
            retention[field] = value
        elif key == "roomTopic":
            room.topic = str(value)
        elif key == "roomName":
            room.name = str(value)
        elif key == "readOnly":
            room.ro = bool(value)
    room.retention = retention or None


def _days(value: Any) -> float:
    """``Number(value)``, and 30 when that is not a positive number (saveRetentionMaxAgeById)."""
    try:
        days = float(value)
    except (TypeError, ValueError):
        days = 0.0
    return days if days > 0 else 30.0


async def run_now(request: web.Request) -> web.Response:
    """Test control: ``POST /_sim/retention`` runs the job once and says how many went."""
    state = request.app[STATE_KEY]
    return web.json_response({"success": True, "removed": run(state, state.now_ms())})


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/rooms.saveRoomSettings", save_room_settings)
    app.router.add_post("/_sim/retention", run_now)


@contextlib.asynccontextmanager
async def scheduled(state: SimState, interval: float) -> AsyncIterator[None]:
    """Run the job every ``interval`` seconds (the real default precision is every 30
    minutes, RetentionPolicy_Precision "0"); ``interval <= 0`` never runs it."""
    task = asyncio.create_task(_every(state, interval)) if interval > 0 else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _every(state: SimState, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        removed = run(state, state.now_ms())
        if removed:
            log.info("Retention policy pruned %d messages", removed)
