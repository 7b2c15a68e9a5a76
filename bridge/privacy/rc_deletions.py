"""An account deleted in Rocket.Chat with its messages becomes an erasure request.

Rocket.Chat's own deletion (``users.delete`` by an admin, ``users.deleteOwnAccount`` by
the person, with ``Message_ErasureType: Delete``) removes the person's messages there; the
copies on other homeservers must follow. The ``rc.account_deleted`` action (enqueued by
``bridge.bridging.rc_people``) opens a request for the whole person on the organisation's
behalf, under ``privacy.jurisdiction``, and lets it run like any other: redactions on every
server, notices, statuses, the request log and the audit chain (docs/erasure.md,
"Deletions made in Rocket.Chat").

The requester is recorded as ``rocketchat``: the announcement (``Users:Deleted``) names
only the deleted person, not who deleted the account, and nothing else the bridge can read
does (Rocket.Chat apps/meteor/app/lib/server/functions/deleteUser.ts). The organisation
decided the deletion there, so the request is approved by that policy
(``policy:rocketchat-deletion``) even in ``admin-approval`` mode.

Repeating the action (a crash, a second announcement) opens nothing new: an open request
about the person is found and moved on from where it stands.
"""

from __future__ import annotations

import logging

import attrs

from bridge.pipeline.actions import Executes, Run, action, executor, omit_defaults
from bridge.privacy.deadlines import Jurisdiction
from bridge.privacy.erasure import ErasureEngine
from bridge.privacy.erasure_model import (
    OPEN,
    ErasureScope,
    Requester,
    RequesterSide,
    RequestState,
)
from bridge.privacy.queries import SubjectNotFoundError
from bridge.storage.database import Database

log = logging.getLogger(__name__)

ACCOUNT_DELETED = "rc.account_deleted"
REQUESTER = Requester("rocketchat", RequesterSide.ROCKETCHAT)
APPROVER = "policy:rocketchat-deletion"


@action(ACCOUNT_DELETED)
@attrs.frozen
class AccountDeleted:
    """Rocket.Chat deleted the account with its messages (``Message_ErasureType: Delete``)."""

    rc_user_id: str


@omit_defaults
@attrs.frozen
class DeletionHandled:
    request_id: str | None = None  # the erasure request opened or moved on
    detail: str | None = None  # why there is none


class RocketChatDeletions:
    def __init__(self, engine: ErasureEngine, db: Database, jurisdiction: Jurisdiction) -> None:
        self._engine = engine
        self._db = db
        self._jurisdiction = jurisdiction

    def executor(self) -> Executes[AccountDeleted, DeletionHandled]:
        return executor(AccountDeleted, self.run)

    async def run(self, run: Run[AccountDeleted]) -> DeletionHandled:
        rc_user_id = run.payload.rc_user_id
        request_id = await self._open_request(rc_user_id)
        if request_id is None:
            try:
                request_id = await self._engine.request(
                    rc_user_id, REQUESTER, ErasureScope(), self._jurisdiction
                )
            except SubjectNotFoundError:
                # Nothing of the person ever crossed: there is no copy to erase.
                return DeletionHandled(detail="nothing of this person was bridged")
            log.info("Rocket.Chat account deletion: erasure request %s opened", request_id)
        state = (await self._engine.status(request_id)).state
        if state is RequestState.RECEIVED:
            # The deletion came from Rocket.Chat's own admin or the person's own account.
            await self._engine.verify(request_id, REQUESTER.id)
            state = (await self._engine.status(request_id)).state
        if state is RequestState.VERIFIED:
            await self._engine.approve(request_id, APPROVER)
        return DeletionHandled(request_id=request_id)

    async def _open_request(self, rc_user_id: str) -> str | None:
        async with self._db.unit_of_work() as uow:
            for request in await uow.erasure.requests_in(OPEN, limit=1000):
                if request.subject_rc_id == rc_user_id and request.requester == REQUESTER.id:
                    return request.id
        return None
