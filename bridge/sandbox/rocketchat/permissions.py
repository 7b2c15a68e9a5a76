"""Default permissions and settings of the simulated server.

Role lists are Rocket.Chat's defaults as read for docs/rocketchat-notes.md
(permissions upsert list, code-search hits). ``owner``/``moderator`` are room-scoped roles.
"""

from __future__ import annotations

from typing import Any

DEFAULT_PERMISSIONS: dict[str, list[str]] = {
    "api-bypass-rate-limit": ["admin", "bot", "app"],
    "message-impersonate": ["bot", "app"],
    "delete-message": ["admin", "owner", "moderator"],
    "delete-own-message": ["admin", "user"],
    "edit-message": ["admin", "owner", "moderator"],
    "force-delete-message": ["admin", "owner"],
    "bypass-time-limit-edit-and-delete": ["bot", "app"],
    "clean-channel-history": ["admin"],
    "create-user": ["admin"],
    "delete-user": ["admin"],
    "view-other-user-channels": ["admin"],
    "edit-other-user-avatar": ["admin"],
    "create-c": ["admin", "user", "bot", "app"],
    "create-p": ["admin", "user", "bot", "app"],
    "create-d": ["admin", "user", "bot", "app"],
    "add-user-to-joined-room": ["admin", "owner", "moderator"],
    "add-user-to-any-c-room": ["admin"],
    "add-user-to-any-p-room": [],
    "remove-user": ["admin", "owner", "moderator"],
    "kick-user-from-any-c-room": ["admin"],
    "kick-user-from-any-p-room": ["admin"],
    "post-readonly": ["admin", "owner", "moderator"],
    "set-owner": ["admin", "owner"],
    "set-moderator": ["admin", "owner"],
    "send-many-messages": ["admin", "bot", "app"],
    "view-room-administration": ["admin"],
    "manage-outgoing-integrations": ["admin"],
    # permissions upsert list (apps/meteor/app/authorization/server/constant/permissions.ts)
    "view-c-room": ["admin", "user", "bot", "app", "anonymous"],
    "view-joined-room": ["guest", "bot", "app", "admin", "user"],
    "join-without-join-code": ["admin", "bot", "app"],
    "edit-privileged-setting": ["admin"],
    "view-privileged-setting": ["admin"],
    "view-statistics": ["admin"],
    "edit-room": ["admin", "owner", "moderator"],
    "edit-room-retention-policy": ["admin"],
    "edit-other-user-info": ["admin"],
    "assign-roles": ["admin"],
}

# Settings that change observable behaviour, with the server's defaults.
DEFAULT_SETTINGS: dict[str, Any] = {
    "Message_ShowDeletedStatus": False,
    "Message_KeepHistory": False,
    "Message_AllowEditing": True,
    "Message_AllowDeleting": True,
    "Message_MaxAllowedSize": 5000,
    "Threads_enabled": True,
    "AllowUserAvatarChange": True,
    "API_Enable_Rate_Limiter": True,
    "API_Enable_Rate_Limiter_Limit_Calls_Default": 10,
    "API_Enable_Rate_Limiter_Limit_Time_Default": 60000,
    # What users.delete does to the person's messages: Delete | Unlink | Keep
    # (apps/meteor/server/settings/message.ts; default Delete).
    "Message_ErasureType": "Delete",
    "Accounts_AllowDeleteOwnAccount": False,
    # Show real names instead of usernames; only then is a real-name change announced
    # (apps/meteor/app/lib/server/functions/setRealName.ts).
    "UI_Use_Real_Name": False,
    # Retention policy (apps/meteor/app/retention-policy/server/startup/settings.ts). Current
    # servers keep the ages as TTLs in milliseconds; the default is 30 days.
    "RetentionPolicy_Enabled": False,
    "RetentionPolicy_AppliesToChannels": False,
    "RetentionPolicy_AppliesToGroups": False,
    "RetentionPolicy_AppliesToDMs": False,
    "RetentionPolicy_TTL_Channels": 30 * 86_400_000,
    "RetentionPolicy_TTL_Groups": 30 * 86_400_000,
    "RetentionPolicy_TTL_DMs": 30 * 86_400_000,
    "RetentionPolicy_DoNotPrunePinned": False,
    "RetentionPolicy_FilesOnly": False,
    "RetentionPolicy_DoNotPruneDiscussion": True,
    "RetentionPolicy_DoNotPruneThreads": True,
}

# Settings registered with ``public: true``: their changes go to every client on
# stream-notify-all ``public-settings-changed`` (apps/meteor/server/modules/listeners).
PUBLIC_SETTINGS: frozenset[str] = frozenset(
    {
        "Message_ShowDeletedStatus",
        "Message_KeepHistory",
        "Message_AllowEditing",
        "Message_AllowDeleting",
        "Message_MaxAllowedSize",
        "Threads_enabled",
        "AllowUserAvatarChange",
        "Accounts_AllowDeleteOwnAccount",
        "UI_Use_Real_Name",
        *(k for k in DEFAULT_SETTINGS if k.startswith("RetentionPolicy_")),
    }
)
