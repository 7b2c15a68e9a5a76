"""Content hashes: evidence of *what* was disclosed without keeping it.

A bare hash of a short message ("ok", "yes", a phone number) is guessable by hashing
candidates, so it would leak the content it stands for. The hash is therefore keyed
(BLAKE2b-128 with a per-deployment secret key): whoever holds the key and the content
can show that this content was disclosed; whoever holds only the database cannot test
guesses. Keep the key outside the database (intended config: ``privacy.ledger_hash_key``,
a secret like the tokens). 16 bytes keep collisions negligible at billions of items and
the row small.
"""

from __future__ import annotations

import hashlib

DIGEST_BYTES = 16
MIN_KEY_BYTES = 16


class HashKeyError(ValueError):
    """The content-hash key is missing or too short to resist guessing."""


def check_key(key: bytes) -> bytes:
    if not MIN_KEY_BYTES <= len(key) <= hashlib.blake2b.MAX_KEY_SIZE:
        raise HashKeyError(
            f"the ledger hash key must be {MIN_KEY_BYTES}–{hashlib.blake2b.MAX_KEY_SIZE} bytes"
        )
    return key


def content_hash(key: bytes, content: bytes | str) -> bytes:
    data = content.encode() if isinstance(content, str) else content
    return hashlib.blake2b(
        data, digest_size=DIGEST_BYTES, key=key, person=b"ledger-content"
    ).digest()
