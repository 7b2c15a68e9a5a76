"""What crypto-shredding is checked against: every key stored on the machine, and every
pseudonym-like value the database holds.

A pseudonym, a lookup or a member tag is a 16-byte keyed BLAKE2b written as 32 hex digits.
:func:`reproduced` computes, with every key given, under every personalisation the bridge
uses (and none), the value each of a person's ids gives; :func:`stored_values` is every
standalone 32-hex-digit value in any column of any table (bytes read as hex). Their
intersection is what still links the person to a stored record.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from sqlalchemy import MetaData, select

from bridge.config import Config
from bridge.storage.database import Database
from bridge.storage.pseudonym_keys import PseudonymKeyRow

# Every personalisation a keyed hash of an id is made with in the bridge, and none.
PERSONALISATIONS = (
    b"person-pseudonym",
    b"ledger-pseudonym",
    b"pseudonym-lookup",
    b"ledger-member",
    b"",
)
_HEX32 = re.compile(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")


async def keys_on_machine(db: Database, config: Config) -> list[bytes]:
    """The config's keys and every per-person key the database holds, opened."""
    keys = [config.privacy.hash_key.encode()]
    if config.storage.encryption_key is not None:
        keys.append(config.storage.encryption_key.encode())
    async with db.sessions() as session:
        sealed = list(await session.scalars(select(PseudonymKeyRow.sealed_key)))
        opener = db.person_keys(session)
        keys += [opener.open(s) for s in sealed]
    assert all(len(k) <= 64 for k in keys), "BLAKE2b takes keys up to 64 bytes"
    return keys


def reproduced(keys: Iterable[bytes], ids: Iterable[str]) -> set[str]:
    """Every 32-hex value any of ``keys`` computes from any of ``ids``."""
    return {
        hashlib.blake2b(i.encode(), digest_size=16, key=k, person=p).hexdigest()
        for k in keys
        for i in ids
        for p in PERSONALISATIONS
    }


async def stored_values(db: Database) -> set[str]:
    """Every standalone 32-hex-digit value in the database (reflected, so every table)."""
    found: set[str] = set()
    schema = MetaData()
    async with db.engine.connect() as conn:
        await conn.run_sync(schema.reflect)
        for table in schema.sorted_tables:
            for row in (await conn.execute(select(table))).all():
                for value in row:
                    if value is None:
                        continue
                    text = value.hex() if isinstance(value, bytes) else str(value)
                    found.update(_HEX32.findall(text))
    return found
