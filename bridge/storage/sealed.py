"""Secrets the bridge must store, sealed with ``storage.encryption_key``.

The only such secrets are the Rocket.Chat session tokens of the shadow users: the bridge
posts as each of them, and logging in again for every message would create a new session
on Rocket.Chat each time. A copy of the database (a backup, a curious local admin) must
not hand out those sessions, so the token column holds Fernet tokens (AES-128-CBC with an
HMAC-SHA256, from the ``cryptography`` library) under a key derived from the config's.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# Marks a sealed value, so a plain one left by an older version is recognised (and sealed).
PREFIX = "sealed:v1:"


class SealError(Exception):
    """A sealed value cannot be opened: another key sealed it, or it was altered."""


class SecretBox:
    def __init__(self, key: str) -> None:
        # HKDF turns any long random string (the config's) into the 32 bytes Fernet wants,
        # bound to this one use, so the same key used elsewhere would give another one.
        derived = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=None,
            info=b"rc-matrix-privacy-bridge stored secrets v1",
        ).derive(key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, secret: str) -> str:
        return PREFIX + self._fernet.encrypt(secret.encode()).decode("ascii")

    def open(self, stored: str) -> str:
        if not is_sealed(stored):
            return stored  # written in plain text by an older version; sealed at start-up
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode("ascii")).decode()
        except InvalidToken:
            raise SealError(
                "a stored secret does not open with storage.encryption_key (was the key changed?)"
            ) from None


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)
