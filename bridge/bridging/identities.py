"""Names on each side for the people and messages of the other, all derived, never random.

Deriving ids from the source id is what makes sends idempotent: a retry after a crash
reuses the Matrix ``txnId`` and the Rocket.Chat ``_id`` of the first attempt, so the
receiving server deduplicates it (docs/architecture.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from mautrix.types import UserID

from bridge.config import Config
from bridge.privacy.personas import TAG_HEX

# Meteor's Random.id() alphabet (no 0/1/I/O/l); Rocket.Chat accepts any _id in
# chat.sendMessage, but ids that look native keep clients and tools happy.
_RC_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz"
# Rocket.Chat's default UTF8_User_Names_Validation is [0-9a-zA-Z-_.]+.
_RC_USERNAME_UNSAFE = re.compile(r"[^0-9a-zA-Z_.-]")
_LOCALPART_UNSAFE = re.compile(r"[^a-z0-9._=/+-]")
# Shadow usernames: a fixed prefix admins can recognise, at most this much of the Matrix id
# (Rocket.Chat usernames are shown everywhere), and 10 base32 characters (50 bits) of tag.
SHADOW_PREFIX = "mx."
_SHADOW_READABLE = 40
_SHADOW_TAG = 10
# Room for the template, the suffix and the server name within 255 bytes.
_MAX_LOCALPART = 120
# A persona's part of the template (bridge.privacy.personas): "=p" and hex. A ghost of a
# username gets it only from a username holding "=p": escapes are "=" and hex digits, and
# Rocket.Chat's default username rule ([0-9a-zA-Z-_.]+, UTF8_User_Names_Validation)
# allows no "="; where a looser rule allows it, such a ghost gets the clash suffix.
PERSONA_MARK = "=p"


class Identities:
    def __init__(self, config: Config) -> None:
        self.domain = config.homeserver.domain
        self.bot = UserID(config.bot_mxid)
        self._ghost_template = config.appservice.ghost_localpart_template
        prefix, _, suffix = self._ghost_template.partition("{username}")
        self._ghost_re = re.compile(
            f"^@{re.escape(prefix)}(.+){re.escape(suffix)}:{re.escape(self.domain)}$"
        )
        self._persona_re = re.compile(
            f"^@{re.escape(prefix)}{PERSONA_MARK}[0-9a-f]{{{TAG_HEX}}}{re.escape(suffix)}"
            f":{re.escape(self.domain)}$"
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

    def persona_user_id(self, tag: str) -> UserID:
        """The Matrix id of a persona (bridge.privacy.personas): inside the ghosts'
        namespace, so the appservice owns it and its events are the bridge's own."""
        return UserID(f"@{self._ghost_template.format(username=PERSONA_MARK + tag)}:{self.domain}")

    def is_ghost(self, user_id: str) -> bool:
        """A ghost of a Rocket.Chat person, or one of their personas."""
        return self._ghost_re.match(user_id) is not None

    def is_persona(self, user_id: str) -> bool:
        return self._persona_re.match(user_id) is not None

    def is_bridge_user(self, user_id: str) -> bool:
        """The bot or a ghost: their events are the bridge's own and never relayed back."""
        return user_id == self.bot or self.is_ghost(user_id)

    def is_local(self, user_id: str) -> bool:
        return user_id.endswith(f":{self.domain}")

    def shadow_username(self, user_id: str, attempt: int = 0) -> str:
        """The ``attempt``-th candidate Rocket.Chat username for ``user_id``'s shadow.

        ``@alice:hs2.example`` → ``mx.alice.hs2.example.<tag>``: the readable part lets
        admins and people recognise a bridged account, the tag is a keyed hash (HMAC with
        the bridge's secret), so nobody outside the bridge can compute the name and
        register it first. A taken name moves on to the next ``attempt``. Only new shadows
        get such a name: the stored username of an existing shadow stays authoritative.
        """
        localpart, _, server = user_id[1:].partition(":")
        readable = _RC_USERNAME_UNSAFE.sub("_", f"{localpart}.{server}")[:_SHADOW_READABLE]
        mac = hmac.new(
            self._secret, f"shadow-username:{attempt}:{user_id}".encode(), hashlib.sha256
        ).digest()
        tag = base64.b32encode(mac).decode().lower()[:_SHADOW_TAG]
        return f"{SHADOW_PREFIX}{readable}.{tag}"

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
