"""After a whole-subject erasure: no table names the person, except by their pseudonym.

The ledger pseudonymises its subject (``DisclosureLedger.pseudonymise``); this module does
the same for everything else the bridge keeps: the request log (requester, actors, the
ghost that redacted), the ghost or shadow row, the message and reaction maps, the
``!privacy`` tables, open ledger memberships, and finished queue rows. The audit chain
needs nothing: it names people by pseudonym from the start (``bridge.privacy.pseudonyms``).

The pseudonym is the subject's (the keyed hash of the account on the person's own side),
written ``pseudonym:<hex>``: the request log, the ledger and the audit chain then all name
the person alike, and an officer holding the key finds them from an id they are given.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bridge.privacy.pseudonyms import audit_actor
from bridge.storage.database import UnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Identity:
    """The person's ids as the finished request knew them (before they were cleared)."""

    matrix_user_id: str | None  # their Matrix id, or their ghost's
    rc_user_id: str | None  # their Rocket.Chat id, or their shadow's
    rc_username: str | None  # their Rocket.Chat username, or their shadow's


async def forget(uow: UnitOfWork, key: bytes, who: Identity, name: str) -> int:
    """Replace ``who``'s ids by ``name`` (``pseudonym:<hex>``) wherever they remain, or
    delete the rows that have no further use; returns the number of rows touched."""
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
    stored = {p: audit_actor(key, p) for p in persons}
    touched = await store.request_log(ids, name)
    usernames = _present(who.rc_username, traces.shadow_username)
    touched += await store.bridging(who.rc_user_id, who.matrix_user_id, ids, usernames, name)
    touched += await store.commands(ids, persons, stored)
    touched += await store.ledger_members(ids, name)
    touched += await store.queues(ids, names, name)
    log.info("Forgot an erased person: %d row(s) now name them by pseudonym or are gone", touched)
    return touched


def _present(*values: str | None) -> list[str]:
    return sorted({v for v in values if v})
