"""How a Rocket.Chat person appears in a room shared with partners under ``minimise``.

A person's ghost carries their username in its Matrix id and their name and avatar in its
global profile, which the homeserver copies into every room the ghost is in. Where a
room holds a partner under ``minimise`` (docs/partners.md), the person is shown instead
by a *persona*: a ghost of its own whose Matrix id and display name are derived from

- the person's pseudonym (the same one the ledger and the audit chain name them by), and
- the set of ``minimise`` servers in the room,

with a keyed hash. The same partners see one person under one persona in every room
they share; a different set of partners sees another, so partners cannot put their
views of one person together. Only the bridge, holding the key and the pseudonym, can
tell who a persona stands for, and the pseudonym is the one link: whatever makes a
pseudonym unlinkable (an erasure) makes the persona unlinkable too.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from bridge.privacy import pseudonyms
from bridge.storage.database import UnitOfWork

# The id's tag: 80 bits, so personas do not collide in any deployment's lifetime; the
# display name shows the first 6 hex digits of it, short enough to read out.
TAG_HEX = 20
NAME_HEX = 6
DISPLAY_PREFIX = "Participant "
_DOMAIN = b"minimise-persona\x00"


@dataclass(frozen=True)
class PersonaName:
    tag: str  # lower-case hex, part of the persona's Matrix id
    display_name: str


async def person_pseudonym(uow: UnitOfWork, rc_user_id: str) -> str:
    """The pseudonym a Rocket.Chat person is named by in the ledger and the audit chain
    (the hash of the account on their own side under the person's own key,
    ``bridge.privacy.pseudonyms``). The one place a persona learns who it stands for: once
    the person's key is shredded, the same account gets a new pseudonym, so a new persona."""
    return await pseudonyms.of(uow, rc_user_id)


def persona_name(key: bytes, pseudonym: str, servers: Iterable[str]) -> PersonaName:
    """The persona of the person named ``pseudonym`` in a room whose ``minimise`` servers
    are ``servers`` (order and repeats do not matter)."""
    chosen = sorted(set(servers))
    if not chosen:
        raise ValueError("a persona is for a room with at least one minimise server")
    message = _DOMAIN + "\n".join(chosen).encode() + b"\x00" + pseudonym.encode()
    digest = hmac.new(key, message, hashlib.sha256).hexdigest()
    return PersonaName(digest[:TAG_HEX], DISPLAY_PREFIX + digest[:NAME_HEX])
