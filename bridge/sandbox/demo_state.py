"""The demo's state (every endpoint and credential), its file, and its printed summary.

The summary is rendered from the same value that goes into the file, so what a developer
reads and what a script reads cannot disagree. The file's keys are the fields' names, in
their order (``examples/demo_roundtrip.py`` and scripts read it).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

# The standalone round-trip script, in the source checkout beside the package.
ROUNDTRIP_SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "demo_roundtrip.py"


@attrs.frozen
class MatrixAdmin:
    user_id: str
    access_token: str


@attrs.frozen
class MatrixLogin:
    user_id: str
    password: str
    access_token: str


@attrs.frozen
class HomeserverState:
    server_name: str
    client_url: str
    admin: MatrixAdmin
    users: tuple[MatrixLogin, ...]
    tls_url: str
    pid: int | None
    log_path: str


@attrs.frozen
class RCLoginState:
    username: str
    user_id: str
    auth_token: str
    password: str


@attrs.frozen
class RocketChatState:
    url: str
    admin: RCLoginState
    bot_username: str
    users: tuple[RCLoginState, ...]
    log_path: str
    pid: int | None


@attrs.frozen
class DashboardState:
    url: str
    admin_token: str | None


@attrs.frozen
class MetricsState:
    url: str
    bearer_token: str | None


@attrs.frozen
class BridgeState:
    url: str
    bot_user_id: str
    config_path: str
    registration_path: str
    database_url: str
    log_path: str
    pid: int | None
    dashboard: DashboardState
    metrics: MetricsState


@attrs.frozen
class MailSinkState:
    smtp: str
    directory: str


@attrs.frozen
class RoomState:
    rocketchat_room_id: str
    rocketchat_room_name: str
    matrix_room_id: str
    retention_minutes: float | None


@attrs.frozen
class DemoState:
    homeservers: tuple[HomeserverState, ...]
    bridge: BridgeState
    rocketchat: RocketChatState
    mail_sink: MailSinkState
    rooms: tuple[RoomState, ...]
    directory: str
    ca_path: str
    pids: tuple[int, ...]
    startup_seconds: float | None  # None until the demo is up
    keep: bool

    def to_json(self) -> dict[str, Any]:
        """The state file's document."""
        return attrs.asdict(self, value_serializer=_lists)


def _lists(_inst: object, _field: object, value: object) -> object:
    return list(value) if isinstance(value, tuple) else value  # JSON arrays


def write_state_file(path: Path, document: Mapping[str, object]) -> None:
    """Write atomically with mode 0600: a script polling for the file never sees half of it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(document, f, indent=2)
        f.write("\n")
    tmp.replace(path)


def summary(state: DemoState, state_file: Path) -> str:
    """What to open and how to log in, for a human at the terminal."""
    lines = [
        f"Demo running (started in {state.startup_seconds:.1f} s).",
        "Throwaway sandbox credentials below; they die with the demo.",
        "",
        "Matrix homeservers (log in with a Matrix client, e.g. Element desktop, custom server):",
    ]
    for index, hs in enumerate(state.homeservers):
        role = "the organisation's, bridge appservice" if index == 0 else "another agency"
        lines.append(f"  {hs.server_name}  {hs.client_url}  ({role})")
        lines.append(f"    admin  {hs.admin.user_id}  (access token in the state file)")
        lines.extend(f"    user   {user.user_id}  password {user.password}" for user in hs.users)
    rc = state.rocketchat
    lines += ["", f"Rocket.Chat (simulated, REST API only): {rc.url}"]
    lines.append(f"    admin  {rc.admin.username}  password {rc.admin.password}")
    lines.extend(f"    user   {user.username}  password {user.password}" for user in rc.users)
    lines.append(f"    the bridge's account: {rc.bot_username}")
    bridge = state.bridge
    lines += [
        "",
        f"Bridge: {bridge.url} (health: {bridge.url}/_bridge/health/live), "
        f"bot {bridge.bot_user_id}",
        f"    config {bridge.config_path}",
        f"    log    {bridge.log_path}",
        f"Privacy dashboard: {bridge.dashboard.url}  "
        f"(log in with token {bridge.dashboard.admin_token})",
        f"Metrics: {bridge.metrics.url}  (Authorization: Bearer {bridge.metrics.bearer_token})",
        f"Mail sink (partners' mail, e.g. erasure notices): {state.mail_sink.smtp}; "
        f"each message saved as a .eml file in {state.mail_sink.directory}",
        "Partners: every other homeserver is in the partner register with its admin as "
        f"contact (bridge partner list -c {bridge.config_path})",
        "",
        "Bridged rooms:",
    ]
    lines.extend(
        f"  Rocket.Chat #{room.rocketchat_room_name} ({room.rocketchat_room_id})"
        f"  <->  Matrix {room.matrix_room_id}"
        for room in state.rooms
    )
    lines.extend(
        f"    retention: messages older than {room.retention_minutes:g} min are redacted "
        "on every homeserver (bridge privacy list shows the expiries, ex-…)"
        for room in state.rooms
        if room.retention_minutes is not None
    )
    lines += [
        "",
        f"State file (every endpoint, token and password as JSON): {state_file}",
        f"Try a round trip:  {sys.executable} {ROUNDTRIP_SCRIPT} {state_file}",
        f"Data and logs in {state.directory}",
        "Stop with Ctrl-C (or SIGTERM): every process started here is stopped"
        + (", and its data kept." if state.keep else " and its data removed."),
    ]
    return "\n".join(lines)
