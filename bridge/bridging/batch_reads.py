"""What an inbox batch's handlers will read about the people who sent its events, read
for the whole batch at once (``Route.prefetch``, bridge.bridging.dispatch).

Every relayed message asks, for its sender, for their pseudonym key (to name them),
whether they opted out, whether they were shown the privacy notice and, for a Matrix
sender, their Rocket.Chat shadow. Asked event by event that is a statement each per
sender and batch; read here, one statement each per batch (benchmark 2 in
BENCHMARKS.md). The handlers then find the answers in the unit of work's cache
(bridge.storage.cache) and read whatever this left out.

Nothing is created here: a person without a key yet is named (and the key made) by the
handler that needs it, as before, so an event that is dropped (an echo, a refused
event) makes no key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mautrix.types import Event

from bridge.privacy.pseudonyms import person_name
from bridge.rctypes.events import MessageEdited, MessagePosted, RCEvent
from bridge.storage.commands import PersonName
from bridge.storage.database import UnitOfWork


async def matrix_senders(uow: UnitOfWork, events: Sequence[Event]) -> None:
    senders = sorted({str(e.sender) for e in events if getattr(e, "sender", None)})
    await _people(uow, "matrix", senders)
    await uow.bridging.read_shadows(senders)


async def rocketchat_senders(uow: UnitOfWork, events: Sequence[RCEvent]) -> None:
    senders = sorted(
        {
            str(e.message.user.id)
            for e in events
            if isinstance(e, MessagePosted | MessageEdited) and e.message.user.id
        }
    )
    await _people(uow, "rocketchat", senders)


async def _people(uow: UnitOfWork, side: str, account_ids: Iterable[str]) -> None:
    keys = uow.person_keys
    if keys.hash_key is None:
        return
    ids = list(account_ids)
    await keys.read_many(ids)
    names: list[PersonName] = []
    for account_id in ids:
        if await keys.key(account_id) is not None:  # served from what read_many found
            names.append(await person_name(uow, f"{side}:{account_id}"))
    await uow.commands.read_people(names)
