"""Pseudonyms: how the bridge names a person in records that outlive their erasure.

A pseudonym is the keyed hash (BLAKE2b-128 with the deployment's ``privacy.hash_key``)
of one account id, written ``pseudonym:<32 hex digits>``. Whoever holds the key and an id
can compute it (a privacy officer typing the id they were given, ``bridge audit subject``);
whoever holds only the database cannot test guesses, since ids are few and guessable.

The audit chain is written once and never rewritten, so it names people this way from
the start: :func:`audit_actor` is applied to every actor :meth:`AuditLog.append` writes.
A person's audit name is the same string as their ledger subject's pseudonym
(``bridge.privacy.subjects.pseudonym``: the hash of the id of the account they use on
their own side), so after an erasure the request log, the ledger and the chain all name
them alike.
"""

from __future__ import annotations

import hashlib
import re

from bridge.storage.commands import PersonName

PREFIX = "pseudonym:"
_PERSON = b"ledger-pseudonym"  # the BLAKE2b personalisation the ledger has always used
_NAME = re.compile(r"^pseudonym:[0-9a-f]{32}$")

# Actors that are not people: the bridge's own components and the operator's tools, and
# Rocket.Chat itself when it deleted an account (its announcement names no actor).
ROLE_WORDS = frozenset({"bridge", "engine", "cli", "rocketchat"})
ROLE_PREFIXES = ("policy:", "web:", "api:", "cli:", "metrics:", "webhook:", "appservice:")
# A role qualifying the person who acted ("moderator:<id>"): the id is pseudonymised.
QUALIFIERS = ("moderator:",)
# The commands' one-key form of a person (``matrix:@a:hs``, ``rocketchat:<id>``).
SIDES = ("matrix:", "rocketchat:")


class PseudonymKeyError(ValueError):
    """A person had to be named but no pseudonym key was given."""


def pseudonym(key: bytes, account_id: str) -> bytes:
    """The 16-byte keyed hash of one account id."""
    return hashlib.blake2b(account_id.encode(), digest_size=16, key=key, person=_PERSON).digest()


def audit_name(key: bytes, account_id: str) -> str:
    """How records that must not hold ids name a person: ``pseudonym:<hex>``."""
    return PREFIX + pseudonym(key, account_id).hex()


def is_audit_name(value: str) -> bool:
    return bool(_NAME.match(value))


def is_role(actor: str) -> bool:
    """True for actors that name no person (components, policies, the admin token)."""
    return actor in ROLE_WORDS or actor.startswith(ROLE_PREFIXES) or is_audit_name(actor)


def audit_actor(key: bytes | None, actor: str) -> str:
    """The actor as the audit log writes it: roles as they are, people by pseudonym.

    Anything that is not a known role is taken for a person's account id (a Matrix user
    id, a Rocket.Chat user id, a name typed for ``--requester``): naming a role by
    pseudonym loses a little readability, naming a person by id would outlive their
    erasure. Without a key a person cannot be named, so that is refused.
    """
    if is_role(actor):
        return actor
    for qualifier in QUALIFIERS:
        if actor.startswith(qualifier):
            return qualifier + audit_actor(key, actor.removeprefix(qualifier))
    for side in SIDES:
        if actor.startswith(side):
            actor = actor.removeprefix(side)
            break
    if key is None:
        raise PseudonymKeyError("naming a person in the audit log needs privacy.hash_key")
    return audit_name(key, actor)


def person_name(key: bytes | None, person: str) -> PersonName:
    """``person`` (``matrix:@a:hs``, ``rocketchat:<id>``) as the commands' rows keyed by a
    person store it: by pseudonym when a key is given, so they need no rewriting after an
    erasure; lookups also find the rows an older version stored by id."""
    if key is None:
        return PersonName(person)
    return PersonName(audit_actor(key, person), older=person)
