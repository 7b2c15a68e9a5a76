"""The Ed25519 key that signs audit checkpoints (docs/audit.md): read and checked with
the rest of the config, so a bad key is refused at start-up naming `audit.signing_key`."""

from __future__ import annotations

import re

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

_HEX_SEED = re.compile(r"[0-9a-fA-F]{64}")


class CheckpointError(ValueError):
    """A signing key or a checkpoint line that cannot be read."""


def load_signing_key(text: str) -> Ed25519PrivateKey:
    """64 hex digits (the key's 32-byte seed) or a PKCS#8 PEM private key."""
    text = text.strip()
    if _HEX_SEED.fullmatch(text):
        return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(text))
    try:
        key = serialization.load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError):
        raise CheckpointError(
            "must be an Ed25519 key: 64 hex digits or a PEM private key"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError("must be an Ed25519 key, not another kind of key")
    return key
