"""One-time confirmation codes for ``!privacy delete``.

A code is random (40 bits from :mod:`secrets`, Crockford-style base32 without look-alike
letters), stored only as a SHA-256, expires after :data:`VALID_MS`, is used at most once,
is compared with :func:`hmac.compare_digest`, and burns after :data:`MAX_ATTEMPTS` wrong
guesses: a guesser then needs a fresh code, which the per-person command rate limits.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Any

from bridge.privacy.pseudonyms import person_name
from bridge.storage.common import now_ms
from bridge.storage.database import UnitOfWork

VALID_MS = 10 * 60 * 1000
MAX_ATTEMPTS = 5
CODE_CHARS = "ABCDEFGHJKMNPQRSTVWXYZ23456789"  # no 0/O, 1/I/L, U
CODE_LENGTH = 8  # 30**8 ≈ 6.6e11 codes


class Outcome(enum.StrEnum):
    OK = "ok"
    WRONG = "wrong"
    EXPIRED = "expired"
    NONE = "none"  # no live code: never asked, already used, or burnt
    BURNT = "burnt"  # this wrong guess was the last one allowed


@dataclass(frozen=True)
class Checked:
    outcome: Outcome
    payload: dict[str, Any] | None = None


def _digest(code: str) -> str:
    return hashlib.sha256(code.strip().upper().encode("utf-8", "replace")).hexdigest()


def new_code() -> str:
    return "".join(secrets.choice(CODE_CHARS) for _ in range(CODE_LENGTH))


async def issue(uow: UnitOfWork, person: str, purpose: str, payload: dict[str, Any]) -> str:
    """A fresh code for ``person``; any earlier live code of the same purpose stops working."""
    code = new_code()
    await uow.commands.add_confirmation(
        await person_name(uow, person),
        _digest(code),
        purpose,
        json.dumps(payload),
        now_ms() + VALID_MS,
    )
    return code


async def check(uow: UnitOfWork, person: str, purpose: str, code: str) -> Checked:
    """Consume ``code`` if it is ``person``'s live one; count a wrong guess otherwise."""
    live = await uow.commands.live_confirmation(await person_name(uow, person), purpose)
    if live is None:
        return Checked(Outcome.NONE)
    if live.expires_ms <= now_ms():
        await uow.commands.use_confirmation(live.id)  # retire it
        return Checked(Outcome.EXPIRED)
    # Constant time: how much of a guess matched must not show in the answer's timing.
    if not hmac.compare_digest(_digest(code), live.code_hash):
        await uow.commands.count_attempt(live.id)
        if live.attempts + 1 >= MAX_ATTEMPTS:
            await uow.commands.use_confirmation(live.id)
            return Checked(Outcome.BURNT)
        return Checked(Outcome.WRONG)
    if not await uow.commands.use_confirmation(live.id):
        return Checked(Outcome.NONE)
    payload = json.loads(live.payload)
    return Checked(Outcome.OK, payload if isinstance(payload, dict) else {})
