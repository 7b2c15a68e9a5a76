"""Per-person pseudonym keys: the random key each person's pseudonym is computed with.

A row is found by a *lookup*, the keyed hash of one account id under ``privacy.hash_key``
with a personalisation of its own (so a lookup never equals a pseudonym, which is keyed
with the person's key). The person's key is 32 random bytes, sealed with
``storage.encryption_key`` like the shadows' session tokens (``bridge.storage.sealed``):
a copy of the database alone cannot open them and so cannot try guessed ids against the
pseudonyms it holds. Deleting the row destroys the key (crypto-shredding,
docs/retention.md): once it is gone, nothing on the machine computes that person's
pseudonym from their ids any more.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterable

from sqlalchemy import BigInteger, String, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from bridge.storage.cache import PSEUDONYM_KEY, UnitCache
from bridge.storage.common import insert_ignoring_conflicts, now_ms, rowcount
from bridge.storage.models import Base
from bridge.storage.sealed import SealError, SecretBox, is_sealed

KEY_BYTES = 32
# BLAKE2b personalisation of the lookup; pseudonyms use another one (and another key).
_LOOKUP = b"pseudonym-lookup"


class PseudonymKeyError(ValueError):
    """A person had to be named but the keys for it are missing or do not open."""


class PseudonymKeyRow(Base):
    __tablename__ = "pseudonym_key"

    lookup: Mapped[str] = mapped_column(String(32), primary_key=True)
    sealed_key: Mapped[str] = mapped_column(String(255))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    # Set when the person's retention ends (their erasure finished, plus the grace of
    # privacy.pseudonym_retention_days); the shred job deletes the row from then on.
    shred_after_ms: Mapped[int | None] = mapped_column(BigInteger, index=True)


def lookup_of(hash_key: bytes, account_id: str) -> str:
    digest = hashlib.blake2b(account_id.encode(), digest_size=16, key=hash_key, person=_LOOKUP)
    return digest.hexdigest()


class PersonKeys:
    """The key rows, in the caller's transaction (``uow.person_keys``)."""

    def __init__(
        self,
        session: AsyncSession,
        hash_key: bytes | None,
        box: SecretBox | None,
        cache: UnitCache | None = None,
    ) -> None:
        self._s = session
        self.hash_key = hash_key
        self._box = box
        # Keys read in this unit of work (storage.cache): never longer, since a key that
        # is shredded must not be served from anywhere.
        self._cache = cache or UnitCache()

    def _lookup(self, account_id: str) -> str:
        if self.hash_key is None:
            raise PseudonymKeyError("naming a person needs privacy.hash_key")
        return lookup_of(self.hash_key, account_id)

    def _sealer(self) -> SecretBox:
        if self._box is None:
            raise PseudonymKeyError("naming a person needs storage.encryption_key")
        return self._box

    async def key(self, account_id: str, *, create: bool = False) -> bytes | None:
        """The person's key; with ``create``, made now if there is none yet.

        Made race-free: insert-or-ignore, then read whichever row won (two transactions
        naming a new person at once both end up with the first one's key)."""
        lookup = self._lookup(account_id)
        stored = await self._read(lookup)
        if stored is None and create:
            self._cache.drop(PSEUDONYM_KEY)
            await self._s.execute(
                insert_ignoring_conflicts(self._s, PseudonymKeyRow).values(
                    lookup=lookup, sealed_key=self._fresh(), created_ms=now_ms()
                )
            )
            stored = await self._read(lookup)
            if stored is None:  # shredded between the insert and the read: try again
                raise PseudonymKeyError("a pseudonym key went while it was being made")
        return None if stored is None else self.open(stored)

    async def read_many(self, account_ids: Iterable[str]) -> None:
        """Read the keys of these ids in one statement, for this unit of work's later
        :meth:`key` calls (the people of an inbox batch)."""
        if self.hash_key is None:
            return
        wanted = {self._lookup(i) for i in account_ids}
        wanted = {w for w in wanted if not self._cache.has(PSEUDONYM_KEY, w)}
        if not wanted:
            return
        rows = await self._s.execute(
            select(PseudonymKeyRow.lookup, PseudonymKeyRow.sealed_key).where(
                PseudonymKeyRow.lookup.in_(sorted(wanted))
            )
        )
        found = {lookup: sealed for lookup, sealed in rows}
        for lookup in wanted:
            self._cache.put(PSEUDONYM_KEY, lookup, found.get(lookup))

    def _fresh(self) -> str:
        """A new random key, sealed."""
        return self._sealer().seal(base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode())

    async def _read(self, lookup: str) -> str | None:
        async def load() -> str | None:
            return await self._s.scalar(
                select(PseudonymKeyRow.sealed_key).where(PseudonymKeyRow.lookup == lookup)
            )

        return await self._cache.read(PSEUDONYM_KEY, lookup, load)

    def open(self, sealed: str) -> bytes:
        if not is_sealed(sealed):
            raise PseudonymKeyError("a pseudonym key is stored unsealed")
        try:
            return base64.b64decode(self._sealer().open(sealed))
        except SealError:
            raise PseudonymKeyError(
                "a pseudonym key does not open with storage.encryption_key (was it changed?)"
            ) from None

    async def schedule_shred(self, account_ids: Iterable[str], at_ms: int) -> int:
        """The keys of these ids are to be destroyed from ``at_ms`` on; returns how many.

        An id without a key gets one now, already due: a pseudonym first computed during
        the grace (a late event about the person) goes with the others. A later erasure of
        the same person moves the date."""
        lookups = sorted({self._lookup(i) for i in account_ids})
        if not lookups:
            return 0
        self._cache.drop(PSEUDONYM_KEY)
        for lookup in lookups:
            await self._s.execute(
                insert_ignoring_conflicts(self._s, PseudonymKeyRow).values(
                    lookup=lookup, sealed_key=self._fresh(), created_ms=now_ms()
                )
            )
        result = await self._s.execute(
            update(PseudonymKeyRow)
            .where(PseudonymKeyRow.lookup.in_(lookups))
            .values(shred_after_ms=at_ms)
        )
        return rowcount(result)

    async def shred_due(self, now_ms: int) -> int:
        """Delete every key whose time has come; returns how many went."""
        self._cache.drop(PSEUDONYM_KEY)
        result = await self._s.execute(
            delete(PseudonymKeyRow).where(PseudonymKeyRow.shred_after_ms <= now_ms)
        )
        return rowcount(result)

    async def check_opens(self) -> None:
        """Raise :class:`PseudonymKeyError` when a stored key does not open (the storage
        key was changed): at start-up, rather than on the first person named."""
        sealed = await self._s.scalar(select(PseudonymKeyRow.sealed_key).limit(1))
        if sealed is not None:
            self.open(sealed)
