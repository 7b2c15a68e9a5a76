"""After a whole-subject erasure: no table names the person, except by their pseudonym.

The ledger pseudonymises its subject (``DisclosureLedger.pseudonymise``); this module does
the same for everything else the bridge keeps: the request log (requester, actors, the
ghost that redacted), the ghost or shadow row, the message and reaction maps, the
``!privacy`` tables, open ledger memberships, and finished queue rows. The audit chain
needs nothing: it names people by pseudonym from the start (``bridge.privacy.pseudonyms``).

The pseudonym is the subject's (the hash of the account on the person's own side under
the person's own key), written ``pseudonym:<hex>``: the request log, the ledger and the
audit chain then all name the person alike, and an officer finds them from an id they are
given, until the person's keys are shredded (``privacy.pseudonym_retention_days`` later,
docs/retention.md); after that nothing links the pseudonym to them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bridge.privacy import pseudonyms
from bridge.storage.database import UnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Identity:
    """The person's ids as the finished request knew them (before they were cleared)."""

    matrix_user_id: str | None  # their Matrix id, or their ghost's
    rc_user_id: str | None  # their Rocket.Chat id, or their shadow's
    rc_username: str | None  # their Rocket.Chat username, or their shadow's


async def forget(uow: UnitOfWork, who: Identity, name: str, shred_after_ms: int) -> int:
    """Replace ``who``'s ids by ``name`` (``pseudonym:<hex>``) wherever they remain, or
    delete the rows that have no further use, and schedule the person's pseudonym keys
    to be destroyed at ``shred_after_ms``; returns the number of rows touched."""
    store = uow.forget
    traces = await store.traces(who.rc_user_id, who.matrix_user_id)
    ids = _present(who.matrix_user_id, who.rc_user_id, traces.ghost_matrix_id, traces.shadow_rc_id)
    names = _present(
        who.rc_username,
        traces.shadow_username,
        traces.ghost_display_name,
        traces.shadow_display_name,
    )
    persons = [f"matrix:{i}" for i in ids if i.startswith("@")] + [
        f"rocketchat:{i}" for i in ids if not i.startswith("@")
    ]
    hash_key = uow.pseudonym_key
    if hash_key is None:
        raise pseudonyms.PseudonymKeyError("forgetting a person needs privacy.hash_key")
    # An opt-out or a notice row may be stored by id (older versions) or under the
    # pseudonym an older version keyed with privacy.hash_key: all move to today's form.
    moves: dict[str, str] = {}
    for person in persons:
        qualifier_and_id = pseudonyms.account_of(person)
        assert qualifier_and_id is not None
        current = await pseudonyms.actor(uow.person_keys, person)
        moves[person] = current
        moves[pseudonyms.legacy_name(hash_key, qualifier_and_id[1])] = current
    members: dict[str, str] = {}
    for i in ids:
        if i.startswith("@"):
            tag = pseudonyms.member_tag(hash_key, i)
            members[i] = members[pseudonyms.legacy_name(hash_key, i)] = tag
    touched = await store.request_log(ids, name)
    usernames = _present(who.rc_username, traces.shadow_username)
    touched += await store.bridging(who.rc_user_id, who.matrix_user_id, ids, usernames, name)
    touched += await store.commands(ids, moves)
    touched += await store.ledger_members(members)
    touched += await store.queues(ids, names, name)
    # Every id the person's pseudonyms may have been computed from (audit actors, the
    # request log, the ledger subject): their keys go when the grace ends.
    await uow.person_keys.schedule_shred([*ids, *usernames], shred_after_ms)
    log.info("Forgot an erased person: %d row(s) now name them by pseudonym or are gone", touched)
    return touched


def _present(*values: str | None) -> list[str]:
    return sorted({v for v in values if v})
