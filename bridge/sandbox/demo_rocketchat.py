"""Sample Rocket.Chat data for the demo, created through the simulator's REST API.

Everything goes through the API a real Rocket.Chat offers (``users.create``, ``login``,
``channels.create``) rather than the simulator's internals, so the simulator can run as
a separate process like a real server.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bridge.ids import RCRoomID
from bridge.rocketchat.rest import RCRestClient

# Seeded by the simulator itself (SimConfig defaults).
SIM_ADMIN_USERNAME = "admin"
SIM_ADMIN_PASSWORD = "admin-pass"  # noqa: S105 - the simulator's seed account

MINUTES_PER_DAY = 1440
# Set as an admin would: people may delete their own accounts (with their messages, the
# default Message_ErasureType "Delete"), and real names are shown and announced when
# changed (Users:NameChanged), so a rename reaches the ghosts at once.
DEMO_SETTINGS: dict[str, Any] = {
    "Accounts_AllowDeleteOwnAccount": True,
    "UI_Use_Real_Name": True,
}


@dataclass(frozen=True)
class RCAccount:
    """A logged-in Rocket.Chat account of the demo."""

    username: str
    password: str = field(repr=False)
    user_id: str
    auth_token: str = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "user_id": self.user_id,
            "auth_token": self.auth_token,
            "password": self.password,
        }


@dataclass(frozen=True)
class RCSeed:
    admin: RCAccount
    bridge: RCAccount  # the bridge's own account (roles admin + bot)
    users: tuple[RCAccount, ...]
    room_id: RCRoomID
    room_name: str


async def seed_rocketchat(
    url: str,
    *,
    bridge_username: str,
    bridge_password: str,
    usernames: Sequence[str],
    channel: str,
    retention_minutes: float | None = None,
) -> RCSeed:
    """Create the bridge's account, people with passwords, and a channel they are in;
    with ``retention_minutes``, the channel gets a retention policy of its own."""
    async with RCRestClient(url) as admin_client:
        admin = await _login(admin_client, SIM_ADMIN_USERNAME, SIM_ADMIN_PASSWORD)
        # The bridge creates shadow users and deletes messages on erasure: admin + bot.
        await _create(admin_client, bridge_username, bridge_password, ["admin", "bot"])
        passwords = {name: secrets.token_urlsafe(12) for name in usernames}
        for name, password in passwords.items():
            await _create(admin_client, name, password, ["user"])
        room = await admin_client.room_create("channels", channel, list(usernames))
        for setting, value in DEMO_SETTINGS.items():
            await admin_client.set_setting(setting, value)
        if retention_minutes is not None:
            await set_room_retention(admin_client, room.id, retention_minutes)
    bridge = await _login_once(url, bridge_username, bridge_password)
    users = [await _login_once(url, name, password) for name, password in passwords.items()]
    return RCSeed(admin, bridge, tuple(users), room.id, channel)


async def set_room_retention(client: RCRestClient, room_id: RCRoomID, minutes: float) -> None:
    """As a Rocket.Chat admin sets it: the global switch ``RetentionPolicy_Enabled`` (no
    room type is covered by default, so only this room is affected), then the room's own
    override through ``rooms.saveRoomSettings``, its max age in days (the simulator keeps
    a fraction, as the real server's ``Number(value)`` does)."""
    await client.set_setting("RetentionPolicy_Enabled", True)
    await client.save_room_settings(
        room_id,
        retentionEnabled=True,
        retentionOverrideGlobal=True,
        retentionMaxAge=minutes / MINUTES_PER_DAY,
    )


async def _create(client: RCRestClient, username: str, password: str, roles: list[str]) -> None:
    await client.users_create(
        username,
        username.capitalize(),
        f"{username}@demo.invalid",
        password,
        roles=roles,
        verified=True,
    )


async def _login(client: RCRestClient, username: str, password: str) -> RCAccount:
    login = await client.login(username, password)
    return RCAccount(username, password, login.user_id, login.auth_token)


async def _login_once(url: str, username: str, password: str) -> RCAccount:
    # A session of its own: the token stays valid after this client closes (no logout).
    async with RCRestClient(url) as client:
        return await _login(client, username, password)
