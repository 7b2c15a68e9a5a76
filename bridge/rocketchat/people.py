"""The people check: account deletions the realtime stream did not deliver.

``Users:Deleted`` is sent once, to whoever is connected at that moment: a bridge that was
down or reconnecting misses it, and under ``Message_ErasureType: Keep`` Rocket.Chat sends
none at all (apps/meteor/app/lib/server/functions/deleteUser.ts). So after each
(re)connect and every ``interval`` seconds the connector asks ``users.info`` about the
people the bridge has ghosts for, at most ``batch`` of them per round; each round goes on
where the last one stopped, so every ghost is looked at within ``ceil(ghosts / batch)``
rounds. A person Rocket.Chat no longer knows is reported as deleted, with the
``Message_ErasureType`` read from the server at that moment (the consumer handles a
repeated report as one).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bridge.ids import RCUserID, RCUsername
from bridge.rctypes.events import ERASURE_TYPES, EventSink, EventSource, UserDeleted
from bridge.rocketchat.errors import RCAPIError
from bridge.rocketchat.rest import RCRestClient

log = logging.getLogger(__name__)

# (Rocket.Chat id, username) of the ghosts after the given id, in id order.
GhostPage = Callable[[str, int], Awaitable[list[tuple[str, str]]]]


def is_unknown_user(error: RCAPIError) -> bool:
    """``users.info`` about an account that is gone: "User not found." on current servers,
    ``error-invalid-user`` on older ones (apps/meteor/app/api/server/v1/users.ts)."""
    text = f"{error.error} {error.error_type or ''}".lower()
    return error.status in (400, 404) and ("not found" in text or "invalid-user" in text)


class PeopleCheck:
    def __init__(
        self, rest: RCRestClient, sink: EventSink, ghosts: GhostPage, *, batch: int = 50
    ) -> None:
        self._rest = rest
        self._sink = sink
        self._ghosts = ghosts
        self._batch = batch
        self._after = ""

    async def round(self) -> int:
        """Look at the next ``batch`` ghosts; returns how many were found deleted."""
        page = await self._ghosts(self._after, self._batch)
        if not page and self._after:
            self._after = ""
            page = await self._ghosts("", self._batch)
        erasure: str | None = None
        gone = 0
        for rc_user_id, username in page:
            try:
                await self._rest.users_info(user_id=rc_user_id)
            except RCAPIError as e:
                if not is_unknown_user(e):
                    raise
                erasure = erasure or await self.erasure_type()
                await self._sink(
                    UserDeleted(
                        RCUserID(rc_user_id),
                        erasure,
                        EventSource.CATCHUP,
                        username=RCUsername(username),
                    )
                )
                gone += 1
            self._after = rc_user_id
        if gone:
            log.info("People check: %d deleted Rocket.Chat account(s) found", gone)
        return gone

    async def erasure_type(self) -> str:
        """``Message_ErasureType`` now; a value the bridge does not know stops the round
        (it would guess between erasing copies and keeping them)."""
        value = await self._rest.setting("Message_ErasureType")
        if value not in ERASURE_TYPES:
            raise ValueError(f"unknown Message_ErasureType {value!r}")
        return str(value)
