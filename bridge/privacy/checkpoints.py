"""Signed checkpoints of the audit chain's head, kept outside the database.

The chain (``bridge.privacy.audit``) shows that no row was changed *after* a head you
know. Someone who can write the database can still rewrite the whole chain and
recompute every hash: it verifies again. A checkpoint is that known head, written where
the database's administrator cannot rewrite it: a line ``{"v", "seq", "hash", "at_ms",
"key", "sig"}`` appended to a file on another volume (append-only: ``chattr +a``, a
WORM mount, a log shipper). The line is signed with an Ed25519 key from the config, so a
forged file does not verify either. ``verify_against`` then checks that the chain in the
database still holds, at every checkpoint's entry, the hash that checkpoint recorded
(docs/audit.md, Checkpoints).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bridge.config import Config
from bridge.config.signing_key import CheckpointError, load_signing_key
from bridge.storage.common import now_ms
from bridge.storage.database import Database

log = logging.getLogger(__name__)

VERSION = 1
# Prefixed to the signed bytes, so a checkpoint signature means nothing anywhere else.
CONTEXT = b"rc-matrix-privacy-bridge audit checkpoint v1\n"


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    at_ms: int
    key: str  # key_id of the signing key
    sig: str  # base64 Ed25519 signature of signed_bytes()

    def signed_bytes(self) -> bytes:
        body = {"v": VERSION, "seq": self.seq, "hash": self.hash, "at_ms": self.at_ms}
        return CONTEXT + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def line(self) -> str:
        body = {
            "v": VERSION,
            "seq": self.seq,
            "hash": self.hash,
            "at_ms": self.at_ms,
            "key": self.key,
            "sig": self.sig,
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")) + "\n"

    def name(self, line_no: int) -> str:
        return f"checkpoint at line {line_no} (entry {self.seq}, {_when(self.at_ms)})"

    @classmethod
    def parse(cls, line: str) -> Checkpoint:
        try:
            data = json.loads(line)
            if data.get("v") != VERSION:
                raise CheckpointError(f"unknown checkpoint version {data.get('v')!r}")
            seq, digest, at = data["seq"], data["hash"], data["at_ms"]
            if not (isinstance(seq, int) and isinstance(at, int) and isinstance(digest, str)):
                raise CheckpointError("seq, hash and at_ms have the wrong types")
            return cls(seq, digest, at, str(data["key"]), str(data["sig"]))
        except (ValueError, KeyError, AttributeError) as e:
            if isinstance(e, CheckpointError):
                raise
            raise CheckpointError("not a checkpoint line") from None


def sign(key: Ed25519PrivateKey, seq: int, digest: str, at_ms: int) -> Checkpoint:
    unsigned = Checkpoint(seq, digest, at_ms, key_id(key.public_key()), "")
    signature = key.sign(unsigned.signed_bytes())
    return Checkpoint(seq, digest, at_ms, unsigned.key, base64.b64encode(signature).decode())


def signature_ok(checkpoint: Checkpoint, public: Ed25519PublicKey) -> bool:
    try:
        public.verify(base64.b64decode(checkpoint.sig, validate=True), checkpoint.signed_bytes())
    except (InvalidSignature, ValueError):
        return False
    return True


def read_file(path: Path) -> list[tuple[int, Checkpoint]]:
    """Every checkpoint with its line number; a line that cannot be read is an error."""
    found = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                found.append((number, Checkpoint.parse(line)))
            except CheckpointError as e:
                raise CheckpointError(f"{path} line {number}: {e}") from None
    return found


def _append(path: Path, line: str) -> None:
    # O_APPEND: each line lands at the end even on a file only appendable (chattr +a).
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


class CheckpointPublisher:
    """Appends a signed checkpoint of the chain head whenever the head moved."""

    def __init__(self, db: Database, key: Ed25519PrivateKey, path: Path) -> None:
        self._db = db
        self._key = key
        self._path = path
        self._last: tuple[int, str] | None = None
        self._lock = asyncio.Lock()

    async def publish(self) -> Checkpoint | None:
        async with self._lock:
            async with self._db.unit_of_work() as uow:
                head = await uow.audit.head()
            if head == self._last or head[0] == 0:
                return None
            checkpoint = sign(self._key, head[0], head[1], now_ms())
            await asyncio.to_thread(_append, self._path, checkpoint.line())
            self._last = head
        log.info("Audit checkpoint published: entry %d", checkpoint.seq)
        return checkpoint

    async def publish_quietly(self) -> None:
        """For callers that must not fail because the checkpoint file is away."""
        try:
            await self.publish()
        except OSError as e:
            log.error("Audit checkpoint not written to %s: %s", self._path, e.strerror)

    async def run(self, interval_s: float) -> None:
        while True:
            await self.publish_quietly()
            await asyncio.sleep(interval_s)


def checkpoint_publisher(config: Config, db: Database) -> CheckpointPublisher | None:
    audit = config.audit
    if audit.signing_key is None or audit.checkpoint_file is None:
        return None
    return CheckpointPublisher(db, load_signing_key(audit.signing_key), Path(audit.checkpoint_file))


@dataclass(frozen=True)
class CheckpointFault:
    line_no: int
    checkpoint: Checkpoint
    problem: str

    def __str__(self) -> str:
        return f"{self.checkpoint.name(self.line_no)}: {self.problem}"


async def verify_against(
    db: Database, checkpoints: Sequence[tuple[int, Checkpoint]], public: Ed25519PublicKey
) -> CheckpointFault | None:
    """The first checkpoint the database's chain contradicts, or None.

    Run after ``AuditLog.verify`` passed: the chain is then consistent in itself, and a
    different hash at a checkpoint's entry means its history was rewritten.
    """
    for line_no, checkpoint in checkpoints:
        if checkpoint.key != key_id(public) or not signature_ok(checkpoint, public):
            return CheckpointFault(line_no, checkpoint, "its signature does not verify")
        async with db.unit_of_work() as uow:
            records = await uow.audit.entries_after(checkpoint.seq - 1, 1)
        if not records or records[0].seq != checkpoint.seq:
            problem = f"the chain has no entry {checkpoint.seq} (entries were removed)"
            return CheckpointFault(line_no, checkpoint, problem)
        if records[0].hash != checkpoint.hash:
            problem = (
                f"entry {checkpoint.seq} now has hash {records[0].hash[:16]}…, the checkpoint"
                f" recorded {checkpoint.hash[:16]}…: the chain was rewritten"
            )
            return CheckpointFault(line_no, checkpoint, problem)
    return None
