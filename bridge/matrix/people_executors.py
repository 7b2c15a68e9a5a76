"""The ghost of a person whose Rocket.Chat account was deleted (bridge.bridging.rc_people).

Shows what Rocket.Chat now shows for their messages: a name, and the avatar of the account
the messages now belong to (rocket.cat under ``Unlink``) or none; then leaves every room,
as the person left every room of Rocket.Chat (their subscriptions were deleted). Each
step can be repeated without harm.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import cast

from mautrix.appservice import AppServiceAPI, IntentAPI
from mautrix.types import ContentURI, UserID

from bridge.bridging.action_values import GhostScrubbed, ScrubGhost
from bridge.media import FetchedFile, FileRefused
from bridge.pipeline.actions import Run
from bridge.rctypes.links import avatar_path

log = logging.getLogger(__name__)

FileFetcher = Callable[[str], Awaitable[FetchedFile]]


class GhostScrub:
    def __init__(self, api: AppServiceAPI, fetch_file: FileFetcher) -> None:
        self._api = api
        self._fetch_file = fetch_file

    async def __call__(self, run: Run[ScrubGhost]) -> GhostScrubbed:
        p = run.payload
        intent = cast(IntentAPI, self._api.intent(UserID(p.user_id)))
        await intent.ensure_registered()
        await intent.set_displayname(p.display_name, check_current=False)
        avatar = ContentURI("")
        if p.avatar_of:
            try:
                image = await self._fetch_file(avatar_path(p.avatar_of))
            except FileRefused as e:  # no avatar rather than the person's
                log.info("Replacement avatar not copied: %s", e)
            else:
                avatar = await intent.upload_media(image.data, mime_type=image.mimetype)
        await intent.set_avatar_url(avatar, check_current=False)
        rooms = await intent.get_joined_rooms()
        for room in rooms:
            await intent.leave_room(room)
        left = len(rooms)
        for persona in p.personas:
            # A persona (a room under policy minimise) keeps its pseudonymous name and
            # never had an avatar: it only leaves, as the person left every room.
            other = cast(IntentAPI, self._api.intent(UserID(persona)))
            for room in await other.get_joined_rooms():
                await other.leave_room(room)
                left += 1
        return GhostScrubbed(left, bool(str(avatar)))
