"""Typed identifiers for both sides of the bridge.

Matrix ids come from :mod:`mautrix.types`; Rocket.Chat has no typed ids of its own, so
these ``NewType`` wrappers keep a room id from being passed where a user id belongs.
"""

from __future__ import annotations

from typing import NewType

from mautrix.types import EventID, RoomAlias, RoomID, UserID

# Rocket.Chat ids are 17-character Meteor random ids ("Random.id()"), but the bridge never
# relies on the shape: chat.sendMessage accepts any client-chosen _id (docs/rocketchat-notes.md).
RCUserID = NewType("RCUserID", str)
RCUsername = NewType("RCUsername", str)
RCRoomID = NewType("RCRoomID", str)
RCMessageID = NewType("RCMessageID", str)

# A homeserver's server name as it appears after the colon in a user id, e.g.
# "127.0.0.1:8482"; the unit of recipient in the disclosure ledger.
ServerName = NewType("ServerName", str)

__all__ = [
    "EventID",
    "RCMessageID",
    "RCRoomID",
    "RCUserID",
    "RCUsername",
    "RoomAlias",
    "RoomID",
    "ServerName",
    "UserID",
]
