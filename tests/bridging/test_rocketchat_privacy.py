"""Rocket.Chat's own privacy actions reach the copies on every homeserver.

An account deleted there (by ``Message_ErasureType``), a rename, a new avatar, and a
prune with each of its filters: what the remote homeservers show ends up what Rocket.Chat
shows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from mautrix.types import RoomID, UserID

from bridge.ids import RCRoomID, RCUserID
from bridge.privacy.categories import Category
from bridge.privacy.erasure_model import RequestState
from bridge.privacy.queries import LedgerQueries, SubjectNotFoundError
from bridge.rocketchat.rest import RCRestClient
from bridge.sandbox.models import MatrixUser
from bridge.storage.erasure import RequestRecord
from tests.bridging.helpers import MatrixView
from tests.erasure.helpers import content_of, finished, ledger_items, say
from tests.fixtures.bridge_stack import BridgeStack, Portal, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


@dataclass
class Room:
    stack: BridgeStack
    portal: Portal
    carol: RCRestClient
    dave: RCRestClient
    views: tuple[MatrixView, MatrixView]  # on hs2 and hs3

    @property
    def rid(self) -> RoomID:
        return RoomID(self.portal.matrix_room_id)

    @property
    def admin(self) -> RCRestClient:
        assert self.stack.app.rocketchat is not None
        return self.stack.app.rocketchat.admin

    async def ghost_of(self, client: RCRestClient) -> UserID:
        async with self.stack.app.db.unit_of_work() as uow:
            ghost = await uow.bridging.ghost((await client.me()).id)
        assert ghost is not None
        return UserID(ghost.matrix_user_id)

    async def barrier(self) -> None:
        """Dave speaks and every view sees it: what Rocket.Chat did before is handled
        (one inbox, one queue per room, in order)."""
        for view in self.views:
            await say(self.dave, self.portal, view, f"barrier {id(view)} {await _now(self)}")


async def _now(room: Room) -> int:
    return int(room.stack.sim.state.now_ms())


@pytest_asyncio.fixture(loop_scope="session")
async def room(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> AsyncIterator[Room]:
    carol, dave = await bridge_stack.rc_user(), await bridge_stack.rc_user()
    alice, bob = await make_user(1), await make_user(2)
    made = await portal([carol, dave], [alice, bob])
    views = MatrixView(alice), MatrixView(bob)
    settings = bridge_stack.sim.state.settings
    saved = dict(settings)
    try:
        yield Room(bridge_stack, made, carol, dave, views)
    finally:
        settings.clear()
        settings.update(saved)
        for view in views:
            await view.close()


async def _requests_by_rocketchat(stack: BridgeStack) -> list[RequestRecord]:
    async with stack.app.db.unit_of_work() as uow:
        every = await uow.erasure.requests_in([s.value for s in RequestState], limit=10_000)
    return [r for r in every if r.requester == "rocketchat"]


async def test_an_account_deleted_by_an_admin_with_its_messages_is_erased_everywhere(
    room: Room,
) -> None:
    carol_id = (await room.carol.me()).id
    said = [await say(room.carol, room.portal, room.views[0], f"carol's {i}") for i in range(2)]
    kept = await say(room.dave, room.portal, room.views[0], "dave's stays")
    await ledger_items(room.stack, carol_id, 2)
    before = {r.id for r in await _requests_by_rocketchat(room.stack)}
    room.stack.sim.state.settings["Message_ErasureType"] = "Delete"

    await room.admin.users_delete(RCUserID(carol_id))

    async def opened() -> RequestRecord | None:
        new = [r for r in await _requests_by_rocketchat(room.stack) if r.id not in before]
        return new[0] if new else None

    request = await wait_for(opened, 30)
    assert request.requester_side == "rocketchat" and request.jurisdiction == "gdpr"
    status = await finished(room.stack, request.id)
    assert status.state is RequestState.DONE, status
    for view in room.views:
        for _, event_id in said:
            assert await content_of(view, room.rid, event_id) == {}
        assert (await content_of(view, room.rid, kept[1]))["body"] == "dave's stays"
    assert [e.event for e in status.log][:3] == ["received", "verified", "approved"]

    # Announced again (a second session, a reconnect) and found again by the people
    # check: still one request.
    room.stack.sim.state.emit("user.deleted", {"userId": carol_id, "messageErasureType": "Delete"})
    await room.barrier()
    assert room.stack.app.rocketchat is not None
    await room.stack.app.rocketchat.people.round()
    await room.barrier()
    assert {r.id for r in await _requests_by_rocketchat(room.stack)} - before == {request.id}


async def test_an_unlinked_account_shows_as_removed_user_and_is_pseudonymised(
    room: Room,
) -> None:
    carol_id = (await room.carol.me()).id
    _, event_id = await say(room.carol, room.portal, room.views[0], "carol's unlinked")
    ghost = await room.ghost_of(room.carol)
    await ledger_items(room.stack, carol_id, 1)
    room.stack.sim.state.settings["Message_ErasureType"] = "Unlink"

    await room.admin.users_delete(RCUserID(carol_id))

    for view in room.views:

        async def renamed(v: MatrixView = view) -> bool:
            return await _displayname(v, ghost) == "Removed User"

        assert await wait_for(renamed)
        # The message stays, as on Rocket.Chat.
        assert (await content_of(view, room.rid, event_id))["body"] == "carol's unlinked"
    with pytest.raises(SubjectNotFoundError):
        await LedgerQueries(room.stack.app.db).find_subject(carol_id)
    assert not await _requests_for(room.stack, carol_id)


async def test_an_account_deleted_unannounced_under_keep_is_found_and_scrubbed(
    room: Room,
) -> None:
    carol_id = (await room.carol.me()).id
    _, event_id = await say(room.carol, room.portal, room.views[0], "carol's kept")
    ghost = await room.ghost_of(room.carol)
    assert await wait_for(lambda: _avatar(room.views[1], ghost))
    room.stack.sim.state.settings["Message_ErasureType"] = "Keep"

    await room.admin.users_delete(RCUserID(carol_id))  # Keep: Rocket.Chat announces nothing
    side = room.stack.app.rocketchat
    assert side is not None

    async def found() -> bool:
        await side.people.round()
        async with room.stack.app.db.unit_of_work() as uow:
            return await uow.bridging.ghost(carol_id) is None

    assert await wait_for(found, 30)
    for view in room.views:

        async def scrubbed(v: MatrixView = view) -> bool:
            return not await _avatar(v, ghost)

        assert await wait_for(scrubbed)
        assert (await content_of(view, room.rid, event_id))["body"] == "carol's kept"
    assert not await _requests_for(room.stack, carol_id)


async def test_a_rename_and_a_new_avatar_reach_every_homeserver_at_once(room: Room) -> None:
    carol = await room.carol.me()
    await say(room.carol, room.portal, room.views[0], "before the rename")
    ghost = await room.ghost_of(room.carol)
    first_avatar = await wait_for(lambda: _avatar(room.views[1], ghost))
    names_before = await _profile_items(room.stack, carol.id)
    room.stack.sim.state.settings["UI_Use_Real_Name"] = True

    await room.admin.users_update(carol.id, name="Carol Renamed", username=f"{carol.username}x")

    for view in room.views:

        async def renamed(v: MatrixView = view) -> bool:
            return await _displayname(v, ghost) == "Carol Renamed"

        assert await wait_for(renamed, 10)

    async def recorded() -> bool:
        return await _profile_items(room.stack, carol.id) > names_before

    assert await wait_for(recorded, 10)

    await room.admin.users_set_avatar("https://pictures.invalid/new.png", user_id=carol.id)

    async def new_avatar() -> bool:
        now = await _avatar(room.views[1], ghost)
        return bool(now) and now != first_avatar

    assert await wait_for(new_avatar, 10)


async def _requests_for(stack: BridgeStack, rc_user_id: str) -> list[RequestRecord]:
    return [r for r in await _requests_by_rocketchat(stack) if r.subject_rc_id == rc_user_id]


async def _displayname(view: MatrixView, user_id: UserID) -> str | None:
    profile: dict[str, Any] = await view.api.request("GET", f"/_matrix/client/v3/profile/{user_id}")
    name = profile.get("displayname")
    return name if isinstance(name, str) else None


async def _avatar(view: MatrixView, user_id: UserID) -> str | None:
    profile: dict[str, Any] = await view.api.request("GET", f"/_matrix/client/v3/profile/{user_id}")
    url = profile.get("avatar_url")
    return url if isinstance(url, str) and url else None


async def _profile_items(stack: BridgeStack, rc_user_id: str) -> int:
    queries = LedgerQueries(stack.app.db)
    page = await queries.erasure_plan(await queries.find_subject(rc_user_id), limit=1000)
    return sum(1 for i in page.items if i.categories & Category.DISPLAY_NAME)


# --- prunes ---------------------------------------------------------------------------


async def test_a_prune_redacts_exactly_what_rocketchat_removed_for_each_filter(
    room: Room,
) -> None:
    rid = RCRoomID(room.portal.rc_room_id)
    view = room.views[1]
    normal = await say(room.carol, room.portal, view, "normal one")
    pinned = await say(room.carol, room.portal, view, "pinned one")
    root = await say(room.carol, room.portal, view, "thread root")
    reply_rc = await room.carol.post_message(rid, "thread reply", tmid=root[0])
    reply = (reply_rc.id, await _seen(view, room, "thread reply"))
    await room.carol.upload(rid, b"file bytes", "notes.txt", "text/plain")
    file_event = await _seen(view, room, "notes.txt")
    room.stack.sim.state.messages[pinned[0]]["pinned"] = True
    copies = {
        "normal": normal[1],
        "pinned": pinned[1],
        "root": root[1],
        "reply": reply[1],
        "file": file_event,
    }
    oldest = room.stack.sim.state.messages[normal[0]]["ts"]

    async def prune(**options: Any) -> None:
        latest = room.stack.sim.state.now_ms()
        body = {"roomId": rid, "oldest": _iso(oldest - 1), "latest": _iso(latest), **options}
        await room.admin._post("rooms.cleanHistory", body)  # noqa: SLF001
        await room.barrier()

    async def gone() -> set[str]:
        return {k for k, e in copies.items() if await content_of(view, room.rid, e) == {}}

    # Files only: the file's copy goes, its message and all else stay.
    await prune(filesOnly=True, users=[(await room.carol.me()).username])
    assert await gone() == {"file"}
    # The defaults keep pinned messages out when asked, and threads out by default.
    await prune(excludePinned=True, users=[(await room.carol.me()).username])
    assert await gone() == {"file", "normal"}
    # ignoreThreads false: thread root and reply go too; pinned ones are pruned now.
    await prune(ignoreThreads=False, users=[(await room.carol.me()).username])
    assert await gone() == set(copies)


async def _seen(view: MatrixView, room: Room, body: str) -> str:
    async def seen() -> str | None:
        for e in await view.messages(room.portal.matrix_room_id):
            if e["content"].get("body") == body:
                return str(e["event_id"])
        return None

    return await wait_for(seen, 30)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")
