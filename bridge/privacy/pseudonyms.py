"""Pseudonyms: how the bridge names a person in records that outlive their erasure.

A pseudonym is the keyed hash (BLAKE2b-128) of one account id under *that person's own*
random key, written ``pseudonym:<32 hex digits>``. The keys live in ``pseudonym_key``
(``bridge.storage.pseudonym_keys``), found by a keyed hash of the id under
``privacy.hash_key`` and sealed with ``storage.encryption_key``; a key is made the first
time its person is named. Whoever runs the bridge can compute a person's pseudonym from an
id they are given (``bridge audit subject``) for as long as the key exists. When the
person's retention ends (their erasure finished, plus ``privacy.pseudonym_retention_days``)
the key is deleted, and from then on no key on the machine links the pseudonym to them
(crypto-shredding, docs/retention.md). The same id seen again gets a new key, so a new
pseudonym that nothing links to the old one.

The audit chain is written once and never rewritten, so it names people this way from
the start: :func:`actor` is applied to every actor :meth:`AuditLog.append` writes. A
person's audit name is the same string as their ledger subject's pseudonym (the hash of
the id of the account they use on their own side), so after an erasure the request log,
the ledger and the chain all name them alike.

Versions before the per-person keys computed pseudonyms with ``privacy.hash_key`` itself
(:func:`legacy_name`). Rows written then keep those names (the chain cannot change);
lookups still find them.
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING

from bridge.storage.commands import PersonName
from bridge.storage.pseudonym_keys import PersonKeys, PseudonymKeyError

if TYPE_CHECKING:
    from bridge.storage.database import Database, UnitOfWork

__all__ = ["PseudonymKeyError"]

PREFIX = "pseudonym:"
_PERSON = b"person-pseudonym"  # under the person's key
_LEGACY = b"ledger-pseudonym"  # under privacy.hash_key, before per-person keys
_MEMBER = b"ledger-member"  # the ledger's member rows, under privacy.hash_key
_NAME = re.compile(r"^pseudonym:[0-9a-f]{32}$")

# Actors that are not people: the bridge's own components and the operator's tools, and
# Rocket.Chat itself when it deleted an account (its announcement names no actor).
ROLE_WORDS = frozenset({"bridge", "engine", "cli", "rocketchat"})
ROLE_PREFIXES = ("policy:", "web:", "api:", "cli:", "metrics:", "webhook:", "appservice:")
# A role qualifying the person who acted ("moderator:<id>"): the id is pseudonymised.
QUALIFIERS = ("moderator:",)
# The commands' one-key form of a person (``matrix:@a:hs``, ``rocketchat:<id>``).
SIDES = ("matrix:", "rocketchat:")


def hashed(person_key: bytes, account_id: str) -> bytes:
    """The 16-byte pseudonym of one account id under its person's key."""
    return hashlib.blake2b(
        account_id.encode(), digest_size=16, key=person_key, person=_PERSON
    ).digest()


def legacy_digest(hash_key: bytes, account_id: str) -> bytes:
    """The pseudonym versions before per-person keys wrote (keyed with ``hash_key``)."""
    return hashlib.blake2b(
        account_id.encode(), digest_size=16, key=hash_key, person=_LEGACY
    ).digest()


def legacy_name(hash_key: bytes, account_id: str) -> str:
    return PREFIX + legacy_digest(hash_key, account_id).hex()


def member_tag(hash_key: bytes, user_id: str) -> str:
    """How the ledger stores a room member (``ledger_member.user_id``): only while the
    membership lasts, which every server in the room sees in its state anyway; so a
    deployment-keyed hash names nobody beyond what the room shows, and needs no key of
    the person's (their pseudonym never appears there)."""
    digest = hashlib.blake2b(user_id.encode(), digest_size=16, key=hash_key, person=_MEMBER)
    return "member:" + digest.hexdigest()


def digest_of(name: str) -> bytes:
    """The 16 bytes of a ``pseudonym:<hex>`` name (as the ledger subject stores them)."""
    return bytes.fromhex(name.removeprefix(PREFIX))


def is_audit_name(value: str) -> bool:
    return bool(_NAME.match(value))


def is_role(actor: str) -> bool:
    """True for actors that name no person (components, policies, the admin token)."""
    return actor in ROLE_WORDS or actor.startswith(ROLE_PREFIXES) or is_audit_name(actor)


async def digest(uow: UnitOfWork, account_id: str) -> bytes:
    """The 16-byte pseudonym of ``account_id``; its person's key is made if need be."""
    found = await _digest(uow.person_keys, account_id, create=True)
    assert found is not None  # made when missing
    return found


async def of(uow: UnitOfWork, account_id: str) -> str:
    """``pseudonym:<hex>`` of one account id (a Matrix id, a Rocket.Chat id or username)."""
    return PREFIX + (await digest(uow, account_id)).hex()


async def existing(keys: PersonKeys, account_id: str) -> str | None:
    """The pseudonym if the person has a key, without making one (reads and lookups):
    None when the id was never named, or its key was shredded."""
    found = await _digest(keys, account_id, create=False)
    return None if found is None else PREFIX + found.hex()


async def existing_in(db: Database, account_id: str) -> str | None:
    """:func:`existing`, read in a session of its own (``bridge audit subject``)."""
    async with db.sessions() as session:
        return await existing(db.person_keys(session), account_id)


async def _digest(keys: PersonKeys, account_id: str, *, create: bool) -> bytes | None:
    key = await keys.key(account_id, create=create)
    return None if key is None else hashed(key, account_id)


def account_of(actor: str) -> tuple[str, str] | None:
    """(qualifier, account id) of an actor that is a person, None for a role."""
    if is_role(actor):
        return None
    for qualifier in QUALIFIERS:
        if actor.startswith(qualifier):
            inner = account_of(actor.removeprefix(qualifier))
            return None if inner is None else (qualifier + inner[0], inner[1])
    for side in SIDES:
        if actor.startswith(side):
            return "", actor.removeprefix(side)
    return "", actor


async def actor(keys: PersonKeys, name: str) -> str:
    """The actor as the audit log writes it: roles as they are, people by pseudonym.

    Anything that is not a known role is taken for a person's account id (a Matrix user
    id, a Rocket.Chat user id, a name typed for ``--requester``): naming a role by
    pseudonym loses a little readability, naming a person by id would outlive their
    erasure. Without the keys a person cannot be named, so that is refused
    (:class:`PseudonymKeyError`).
    """
    person = account_of(name)
    if person is None:
        return name
    qualifier, account_id = person
    found = await _digest(keys, account_id, create=True)
    assert found is not None  # made when missing
    return qualifier + PREFIX + found.hex()


async def person_name(uow: UnitOfWork, person: str) -> PersonName:
    """``person`` (``matrix:@a:hs``, ``rocketchat:<id>``) as the commands' rows keyed by a
    person store it: by their pseudonym (their key made if need be), so the rows need no
    rewriting after an erasure; lookups also find the rows older versions stored by id or
    under a pseudonym keyed with ``privacy.hash_key``. Without the keys (tools), as is."""
    keys = uow.person_keys
    account = account_of(person)
    if keys.hash_key is None or account is None:
        return PersonName(person)
    qualifier, account_id = account
    earlier = qualifier + legacy_name(keys.hash_key, account_id)
    return PersonName(await actor(keys, person), older=(person, earlier))
