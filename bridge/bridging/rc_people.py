"""People changed on Rocket.Chat: renames, new avatars and deleted accounts reach the ghosts.

* ``Users:NameChanged`` and ``updateAvatar``: the ghost's profile is set again at once, by
  the same ``matrix.profile`` action as the compare made when a ghost speaks; its
  completion records the profile disclosure in the ledger (``Records.ghost_profile_set``).
* A deleted account (``Users:Deleted``, or found gone by ``bridge.rocketchat.people``),
  by Rocket.Chat's ``Message_ErasureType`` (apps/meteor/app/lib/server/functions/
  deleteUser.ts), so that the copies end up showing what Rocket.Chat shows:

  - ``Delete``: the messages are gone there, so an erasure request is opened for the
    person on the organisation's behalf (``rc.account_deleted``, run by
    ``bridge.privacy.rc_deletions``): it runs like any other request.
  - ``Unlink``: the messages stay under the name "Removed User" with rocket.cat's
    avatar. The ghost takes that name and avatar, and the person is pseudonymised in the
    ledger and forgotten elsewhere, as after an erasure (``bridge.privacy.forget``).
  - ``Keep``: the messages stay as they were, and the account's avatar is gone (Rocket.Chat
    shows a default one): the ghost's avatar is removed, its name stays.

  In every case the person's ghost row goes (and their personas' rows, after the
  personas left every room): nothing will arrive from that account again, and the people
  check does not report it twice.
"""

from __future__ import annotations

import logging

from bridge.bridging.action_values import GhostProfile, ScrubGhost
from bridge.ids import RCUserID
from bridge.pipeline import keys
from bridge.pipeline.actions import Queued, new_action
from bridge.pipeline.contracts import Inbound
from bridge.privacy import pseudonyms
from bridge.privacy.forget import Identity, forget
from bridge.privacy.ledger import DisclosureLedger
from bridge.privacy.rc_deletions import AccountDeleted
from bridge.privacy.subjects import RCPerson, identity
from bridge.rctypes.events import AvatarChanged, RCEvent, UserDeleted, UserRenamed
from bridge.storage.bridging import Ghost
from bridge.storage.common import now_ms
from bridge.storage.database import UnitOfWork

log = logging.getLogger(__name__)

# The avatar Rocket.Chat shows on unlinked messages: their author is now rocket.cat
# (Messages.unlinkUserId in apps/meteor/app/lib/server/functions/deleteUser.ts).
UNLINKED_AUTHOR = "rocket.cat"
UNLINKED_NAME = "Removed User"


class RocketChatPeople:
    """The inbox handler of ``type: person`` payloads (bridge.rocketchat.inbox_events)."""

    def __init__(self, ledger: DisclosureLedger, pseudonym_retention_ms: int) -> None:
        self._ledger = ledger
        # The person's pseudonym keys are shredded this long after they are forgotten.
        self._retention_ms = pseudonym_retention_ms

    async def __call__(self, uow: UnitOfWork, inbound: Inbound[RCEvent]) -> None:
        event = inbound.event
        if isinstance(event, UserRenamed):
            await self._renamed(uow, event, inbound.inbox_key)
        elif isinstance(event, AvatarChanged):
            ghost = await uow.bridging.ghost_by_username(event.username)
            if ghost is not None and not await self._silenced(uow, ghost):
                name = ghost.display_name or ghost.rc_username
                await uow.enqueue(_profile(ghost, ghost.rc_username, name, inbound.inbox_key))
        elif isinstance(event, UserDeleted):
            await self._deleted(uow, event)

    async def _silenced(self, uow: UnitOfWork, ghost: Ghost) -> bool:
        # Opted-out people's profiles never cross (bridge.commands.optout.RelayGate).
        return await uow.commands.opted_out(
            await pseudonyms.person_name(uow, f"rocketchat:{ghost.rc_user_id}")
        )

    async def _renamed(self, uow: UnitOfWork, event: UserRenamed, key: str | None) -> None:
        ghost = await uow.bridging.ghost(event.user_id)
        if ghost is None or await self._silenced(uow, ghost):
            return  # never bridged: their profile reaches Matrix with their first message
        await uow.bridging.upsert_ghost(event.user_id, event.username, ghost.matrix_user_id)
        name = event.name or event.username
        await uow.enqueue(_profile(ghost, event.username, name, key))

    async def _deleted(self, uow: UnitOfWork, event: UserDeleted) -> None:
        ghost = await uow.bridging.ghost(event.user_id)
        if event.erasure_type == "Delete":
            # The request itself is opened by the action (the engine keeps its own
            # transactions); the key makes a repeated announcement open nothing more.
            await uow.enqueue(
                new_action(
                    AccountDeleted(event.user_id),
                    key=keys.account_deleted_key(event.user_id),
                    queue=keys.profile_queue(event.user_id),
                )
            )
            return
        if ghost is None:
            return  # never bridged, or already handled
        if event.erasure_type == "Unlink":
            name, avatar_of = event.alias or UNLINKED_NAME, UNLINKED_AUTHOR
        else:
            name, avatar_of = ghost.display_name or ghost.rc_username, None
        # Their personas (rooms under policy minimise) leave every room too.
        personas = [
            p.matrix_user_id for p in await uow.personas.of_person(ghost.rc_user_id) if p.named_ms
        ]
        await uow.enqueue(
            new_action(
                ScrubGhost(ghost.matrix_user_id, name, avatar_of, tuple(personas)),
                key=keys.profile_scrub_key(event.user_id),
                queue=keys.profile_queue(event.user_id),
            )
        )
        if event.erasure_type == "Unlink":
            await self._pseudonymise(uow, ghost)
        else:
            await uow.bridging.drop_ghost(ghost.rc_user_id)
            await uow.personas.drop_person(ghost.rc_user_id)
        log.info("A Rocket.Chat account was deleted (%s); its ghost follows", event.erasure_type)

    async def _pseudonymise(self, uow: UnitOfWork, ghost: Ghost) -> None:
        """As after an erasure: the ledger keeps its evidence under the pseudonym, every
        other table forgets the ids (and the ghost row goes)."""
        found = await uow.ledger.find_subject(rc_user_id=ghost.rc_user_id)
        await self._ledger.pseudonymise(uow, RCPerson(RCUserID(ghost.rc_user_id)))
        if found:
            name = await pseudonyms.of(uow, identity(found[0]))
            who = Identity(ghost.matrix_user_id, ghost.rc_user_id, ghost.rc_username)
            await forget(uow, who, name, now_ms() + self._retention_ms)
        else:
            await uow.bridging.drop_ghost(ghost.rc_user_id)


def _profile(ghost: Ghost, username: str, name: str, key: str | None) -> Queued:
    profile = GhostProfile(
        user_id=ghost.matrix_user_id,
        rc_user_id=ghost.rc_user_id,
        rc_username=username,
        display_name=name,
        avatar_url=ghost.avatar_url,
        avatar_hash=ghost.avatar_hash,
    )
    return new_action(
        profile,
        key=keys.ghost_profile_change_key(key),
        queue=keys.profile_queue(ghost.rc_user_id),
    )
