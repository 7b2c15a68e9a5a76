"""A Matrix file is posted to Rocket.Chat once, whatever fails before, during or after.

The executor runs against the simulator, whose ``rooms.mediaConfirm`` posts a new message
on every call as Rocket.Chat does. A crash is the process dying at a named point: here an
exception that escapes everything (as SIGKILL would leave the database), then the outbox
running the same action again; ``tests/bridging/test_upload_crash.py`` does it with a
real SIGKILL.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bridge.bridging.identities import Identities
from bridge.config import load_config
from bridge.ids import RCRoomID, RCUserID
from bridge.media import FetchedFile
from bridge.pipeline.contracts import RetryLater
from bridge.pipeline.progress import Progress
from bridge.rocketchat import uploads
from bridge.rocketchat.executors import RocketChatExecutors
from bridge.rocketchat.rest import RCRestClient
from bridge.rocketchat.uploads import UploadNoted
from bridge.sandbox.rocketchat.app import SimulatorServer
from bridge.storage.bridging import Shadow
from bridge.storage.database import Database
from bridge.storage.outbox import Action, NewAction
from tests.fixtures.bridge_config import write_config
from tests.fixtures.rocketchat import sim_control

ALICE = "@alice:hs2.test"
DATA = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """Shadows' session tokens are sealed at rest: the store needs its key."""
    database = Database(db_url, encryption_key="upload-test-storage-key-0123456789abcdef")
    await database.upgrade()
    yield database
    await database.close()


class Crash(BaseException):
    """The process dies here: nothing after this point runs, nothing catches it."""


class Files:
    def __init__(self) -> None:
        self.fetches = 0

    async def __call__(self, mxc: str) -> FetchedFile:
        self.fetches += 1
        return FetchedFile(DATA, "image/png")


async def _name(user_id: str) -> str | None:
    return "Alice"


async def _setup(
    admin: RCRestClient, db: Database, tmp_path: Path
) -> tuple[RocketChatExecutors, Files, str]:
    ids = Identities(load_config(write_config(tmp_path / "c.yaml"), environ={}))
    files = Files()
    executors = RocketChatExecutors(admin, db, ids, files, _name, 10_000_000)
    shadow = await executors.table()["rc.ensure_shadow"](
        Action(0, "s", "rc.ensure_shadow", "q", {"user_id": ALICE}, 0)
    )
    assert shadow is not None
    async with db.unit_of_work() as uow:
        await uow.bridging.save_shadow(
            Shadow(
                ALICE, shadow["rc_user_id"], shadow["rc_username"], "Alice", shadow["auth_token"]
            )
        )
    room = await admin.room_create("channels", "files-room")
    await admin.room_invite("channels", RCRoomID(room.id), RCUserID(shadow["rc_user_id"]))
    return executors, files, room.id


async def _upload_action(db: Database, room_id: str) -> Action:
    payload: dict[str, Any] = {
        "portal_id": 1,
        "rc_room_id": room_id,
        "rc_message_id": "derivedmsgid00001",
        "sender": ALICE,
        "thread_id": None,
        "mxc": "mxc://hs2.test/abc",
        "filename": "pic.png",
        "mimetype": "image/png",
        "size": len(DATA),
        "record": {"matrix_event_id": "$file", "sent_ms": 1000, "rc_thread_id": None},
    }
    await db.outbox.add(NewAction("mx-msg:$file", "rc.upload", f"rc:{room_id}", payload))
    (action,) = await db.outbox.due(1)
    return action


def _file_messages(sim: SimulatorServer, room_id: str) -> list[dict[str, Any]]:
    return [m for m in sim.state.messages.values() if m["rid"] == room_id and m.get("file")]


def _assert_posted_once(sim: SimulatorServer, room_id: str, result: dict[str, Any] | None) -> None:
    (message,) = _file_messages(sim, room_id)
    assert result is not None and result["rc_message_id"] == message["_id"]
    assert sim.state.uploads[message["file"]["_id"]]["data"] == DATA
    assert message["file"]["name"] == "pic.png"


@pytest.mark.parametrize(
    "point", ["rc.upload.after_media", "rc.upload.after_note", "rc.upload.after_confirm"]
)
async def test_a_crash_at_any_step_posts_the_file_once(
    point: str,
    rc_admin: RCRestClient,
    rc_sim: SimulatorServer,
    db: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    executors, files, room_id = await _setup(rc_admin, db, tmp_path)
    action = await _upload_action(db, room_id)
    upload = executors.table()["rc.upload"]

    crashed: list[str] = []

    def crash_point(name: str) -> None:
        if name == point:
            crashed.append(name)
            raise Crash(name)

    monkeypatch.setattr(uploads, "crash_point", crash_point)
    with contextlib.suppress(Crash):
        await upload(action)
    monkeypatch.undo()

    result = await upload(action)  # the restarted process runs the action again
    _assert_posted_once(rc_sim, room_id, result)
    assert crashed == [point]
    assert result is not None and result["existing"] is (point == "rc.upload.after_confirm")
    # The file is fetched again only when its upload was not noted before the crash.
    assert files.fetches == (2 if point == "rc.upload.after_media" else 1)


@pytest.mark.parametrize("route", ["rooms.media", "rooms.mediaConfirm"])
async def test_an_answer_lost_after_the_server_acted_posts_the_file_once(
    route: str,
    rc_admin: RCRestClient,
    rc_sim: SimulatorServer,
    db: Database,
    tmp_path: Path,
) -> None:
    executors, _files, room_id = await _setup(rc_admin, db, tmp_path)
    action = await _upload_action(db, room_id)
    upload = executors.table()["rc.upload"]
    # The server stores (or posts) the file, then the answer is lost: a 500 instead.
    await sim_control(
        rc_sim,
        "faults",
        {"status": 500, "count": 1, "path": f"/api/v1/{route}/", "after_effect": True},
    )
    lost: RetryLater | None = None
    try:
        result = await upload(action)
    except RetryLater as e:  # the answer was lost: the outbox runs the action again
        lost = e
        result = await upload(action)
    _assert_posted_once(rc_sim, room_id, result)
    assert lost is not None, "a lost answer is not retried blindly inside one attempt"
    if route == "rooms.mediaConfirm":
        # Looked for only once a confirmation still at work on the server has finished.
        assert lost.retry_after == uploads.CONFIRM_SETTLE


async def test_an_upload_that_expired_before_its_confirmation_is_uploaded_again(
    rc_admin: RCRestClient, rc_sim: SimulatorServer, db: Database, tmp_path: Path
) -> None:
    executors, files, room_id = await _setup(rc_admin, db, tmp_path)
    action = await _upload_action(db, room_id)
    # Noted before a long outage; Rocket.Chat discarded the unconfirmed upload since.
    await db.outbox.save_progress(action.id, {"rc_file_id": "gone", "uploaded_ms": 1})
    result = await executors.table()["rc.upload"](action)
    _assert_posted_once(rc_sim, room_id, result)
    assert files.fetches == 1


async def test_rooms_media_confirm_posts_again_on_every_call_like_rocket_chat(
    rc_bot: RCRestClient,
) -> None:
    room = await rc_bot.room_create("channels", "confirm-twice")
    upload = await rc_bot.media_upload(room.id, b"x", "x.txt", "text/plain")
    first = await rc_bot.media_confirm(room.id, upload.file_id)
    second = await rc_bot.media_confirm(room.id, upload.file_id)
    assert first.id != second.id
    assert [f.id for f in first.files] == [f.id for f in second.files] == [upload.file_id]


async def test_an_operators_retry_of_a_dead_upload_that_was_posted_posts_nothing_more(
    rc_admin: RCRestClient,
    rc_sim: SimulatorServer,
    db: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The confirmation went through but its answer never came back, and the action ran
    out of budget before it could look: `bridge outbox retry` must find the posted file,
    not upload and post it a second time."""
    executors, files, room_id = await _setup(rc_admin, db, tmp_path)
    action = await _upload_action(db, room_id)
    upload = executors.table()["rc.upload"]

    def crash_point(name: str) -> None:
        if name == "rc.upload.after_confirm":
            raise Crash(name)

    monkeypatch.setattr(uploads, "crash_point", crash_point)
    with contextlib.suppress(Crash):
        await upload(action)
    monkeypatch.undo()
    assert len(_file_messages(rc_sim, room_id)) == 1
    async with db.unit_of_work() as uow:
        assert await uow.outbox_dead(action.id, "answer lost", "age", uses_attempt=True, now=1)
    async with db.unit_of_work() as uow:
        _letter, new_id = await uow.dead_letters.revive(action.id, now=2)
    (revived,) = await db.outbox.due(1, now=3)
    assert revived.id == new_id and revived.key == action.key

    result = await upload(revived)
    _assert_posted_once(rc_sim, room_id, result)
    assert files.fetches == 1  # found, not fetched and uploaded again


async def test_the_upload_note_is_stored_under_the_keys_it_always_had(db: Database) -> None:
    """Typed (UploadNoted) above the storage boundary, the same JSON in the row; a note
    that does not fit (another shape) reads as none, so the upload starts over."""
    await db.outbox.add(NewAction("up", "rc.upload", "rc:room", {}))
    row = await db.outbox.get("up")
    assert row is not None
    notes = Progress(db.outbox, UploadNoted)
    await notes.note(row["id"], UploadNoted("f1", 1_800_000_000_000))
    assert await db.outbox.progress(row["id"]) == {
        "rc_file_id": "f1",
        "uploaded_ms": 1_800_000_000_000,
    }
    assert await notes.read(row["id"]) == UploadNoted("f1", 1_800_000_000_000)
    await db.outbox.save_progress(row["id"], {"rc_file_id": "f1"})
    assert await notes.read(row["id"]) is None
