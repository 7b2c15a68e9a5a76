"""Names on each side for the people and messages of the other, all derived, never random.

Deriving ids from the source id is what makes sends idempotent: a retry after a crash
reuses the Matrix ``txnId`` and the Rocket.Chat ``_id`` of the first attempt, so the
receiving server deduplicates it (design.md §4).
"""

from __future__ import annotations

import hashlib
import hmac
import re

from mautrix.types import UserID

from bridge.config import Config

# Meteor's Random.id() alphabet (no 0/1/I/O/l); Rocket.Chat accepts any _id in
# chat.sendMessage, but ids that look native keep clients and tools happy.
_RC_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz"
# Rocket.Chat's default UTF8_User_Names_Validation is [0-9a-zA-Z-_.]+.
_RC_USERNAME_UNSAFE = re.compile(r"[^0-9a-zA-Z_.-]")
_LOCALPART_UNSAFE = re.compile(r"[^a-z0-9._=/+-]")
# Room for the template, the suffix and the server name within 255 bytes.
_MAX_LOCALPART = 120


class Identities:
    def __init__(self, config: Config) -> None:
        self.domain = config.homeserver.domain
        self.bot = UserID(config.bot_mxid)
        self._ghost_template = config.appservice.ghost_localpart_template
        prefix, _, suffix = self._ghost_template.partition("{username}")
        self._ghost_re = re.compile(
            f"^@{re.escape(prefix)}(.+){re.escape(suffix)}:{re.escape(self.domain)}$"
        )
        self._secret = config.appservice.as_token.encode()

    def ghost_user_id(self, rc_username: str, rc_user_id: str | None = None) -> UserID:
        """The ghost of a Rocket.Chat user; ``rc_user_id`` disambiguates a clash.

        Rocket.Chat usernames may differ only in case, or be renamed and reused, so two
        people can map to one localpart: the second gets a suffix derived from its
        (immutable) user id. User ids are capped at 255 bytes by the spec ("Identifier
        Grammar"), so very long names are shortened the same way.
        """
        localpart = _LOCALPART_UNSAFE.sub(lambda m: f"={ord(m.group()):02x}", rc_username.lower())
        if rc_user_id is not None or len(localpart) > _MAX_LOCALPART:
            tag = hashlib.sha256((rc_user_id or rc_username).encode()).hexdigest()[:8]
            localpart = f"{localpart[:_MAX_LOCALPART]}_{tag}"
        return UserID(f"@{self._ghost_template.format(username=localpart)}:{self.domain}")

    def is_ghost(self, user_id: str) -> bool:
        return self._ghost_re.match(user_id) is not None

    def is_bridge_user(self, user_id: str) -> bool:
        """The bot or a ghost: their events are the bridge's own and never relayed back."""
        return user_id == self.bot or self.is_ghost(user_id)

    def is_local(self, user_id: str) -> bool:
        return user_id.endswith(f":{self.domain}")

    @staticmethod
    def shadow_username(user_id: str) -> str:
        """``@alice:hs2.example`` → ``alice.hs2.example``; readable and stable."""
        localpart, _, server = user_id[1:].partition(":")
        name = _RC_USERNAME_UNSAFE.sub("_", f"{localpart}.{server}")
        if name != f"{localpart}.{server}":
            # Two ids that sanitise alike must not share an account.
            name += "." + hashlib.sha256(user_id.encode()).hexdigest()[:6]
        return name

    def shadow_password(self, user_id: str) -> str:
        """Derived, so a shadow can always log in again, even after a crash mid-creation."""
        return hmac.new(self._secret, f"shadow:{user_id}".encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def rc_message_id(matrix_event_id: str, part: int = 0) -> str:
        digest = hashlib.sha256(f"{matrix_event_id}/{part}".encode()).digest()
        number = int.from_bytes(digest, "big")
        chars = []
        for _ in range(17):
            number, index = divmod(number, len(_RC_ALPHABET))
            chars.append(_RC_ALPHABET[index])
        return "".join(chars)

    @staticmethod
    def matrix_txn_id(key: str) -> str:
        return "rcb" + hashlib.sha256(key.encode()).hexdigest()[:40]
