"""Hostile input on the full stack: real homeservers, the Rocket.Chat simulator, the bridge.

- Log hygiene: a bridged conversation and the erasure of one of its people, at INFO,
  leave no body, display name, token or password in any log record.
- SQL-looking names and bodies arrive intact on the other side; every table is intact.
- Resource limits: bodies over ``bridge.max_body_chars`` and files over
  ``bridge.max_media_bytes`` are refused with a reason, not relayed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select, text

from bridge.ids import RCRoomID
from bridge.rocketchat.rest import RCRestClient
from bridge.sandbox.models import MatrixUser
from bridge.storage.models import Base, OutboxAction
from tests.bridging.helpers import MatrixView, rc_history
from tests.erasure.helpers import erase
from tests.fixtures.bridge_stack import BRIDGE_RC_PASSWORD, FAST, BridgeStack, Portal, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

Action = Callable[[], Awaitable[None]]


@dataclass
class Chat:
    stack: BridgeStack
    room: Portal
    rc: RCRestClient
    rc_username: str
    matrix: MatrixView

    @property
    def ghost_prefix(self) -> str:
        return "@" + self.stack.registration.user_prefix

    async def rc_to_matrix(self, body: str) -> dict[str, object]:
        await self.rc.post_message(RCRoomID(self.room.rc_room_id), body)

        async def arrived() -> dict[str, object] | None:
            for event in await self.matrix.messages(self.room.matrix_room_id, self.ghost_prefix):
                if event["content"].get("body") == body:
                    return dict(event)
            return None

        return await wait_for(arrived, 30)

    async def matrix_to_rc(self, body: str) -> str:
        await self.matrix.send(self.room.matrix_room_id, {"msgtype": "m.text", "body": body})

        async def arrived() -> str | None:
            found = [m for m in await rc_history(self.rc, self.room.rc_room_id) if m.text == body]
            return found[0].user.username if found else None

        return await wait_for(arrived, 30)


async def chat_with(
    stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
    *,
    rc_name: str,
    rc_password: str,
    matrix_name: str,
) -> Chat:
    username = f"h{uuid.uuid4().hex[:8]}"
    stack.sim.state.add_user(username, rc_password, ["user"], name=rc_name)
    rc = RCRestClient(stack.sim.url, retry=FAST)
    await rc.login(username, rc_password)
    stack.rc_clients.append(rc)
    user = await make_user(1)
    view = MatrixView(user)
    await view.client.set_displayname(matrix_name)
    room = await portal([rc], [user])
    return Chat(stack, room, rc, username, view)


def leaks(records: Iterable[logging.LogRecord], secrets: dict[str, str]) -> list[str]:
    """Which secrets appear in a record at INFO or above (its message, args or traceback)."""
    found = []
    for record in records:
        if record.levelno < logging.INFO:
            continue
        text = record.getMessage() + repr(record.args)
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        for what, secret in secrets.items():
            if secret in text:
                found.append(
                    f"{what} in {record.name}:{record.lineno}: {record.getMessage()[:200]}"
                )
    return found


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def captured_logs() -> Iterator[Capture]:
    """Every record at INFO and above, from "bridge", "mau", aiohttp and the rest alike."""
    root, capture = logging.getLogger(), Capture()
    level = root.level
    root.setLevel(logging.INFO)  # what `bridge run` configures by default
    root.addHandler(capture)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(level)


async def run_and_scan_logs(
    capture: Capture, actions: Sequence[Action], secrets: dict[str, str]
) -> list[str]:
    """Run ``actions`` in order; return which secrets any INFO+ record captured so far holds."""
    for action in actions:
        await action()
    assert capture.records, "nothing captured: the capture is broken, not the bridge clean"
    return leaks(capture.records, secrets)


async def test_a_conversation_and_its_erasure_log_no_bodies_names_tokens_or_passwords(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    tag = uuid.uuid4().hex[:6]
    secrets = {
        "rc body": f"rc-secret-body-{tag}",
        "matrix body": f"matrix-secret-body-{tag}",
        "rc display name": f"Rhea Confidential {tag}",
        "matrix display name": f"Mona Private {tag}",
        "rc password": f"rc-password-{tag}",
        "as_token": bridge_stack.registration.as_token,
        "hs_token": bridge_stack.registration.hs_token,
        "bridge rc password": BRIDGE_RC_PASSWORD,
    }
    with captured_logs() as capture:
        found = await _conversation(bridge_stack, portal, make_user, capture, secrets)
    assert found == []


async def _conversation(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
    capture: Capture,
    secrets: dict[str, str],
) -> list[str]:
    chat = await chat_with(
        bridge_stack,
        portal,
        make_user,
        rc_name=secrets["rc display name"],
        rc_password=secrets["rc password"],
        matrix_name=secrets["matrix display name"],
    )
    try:
        assert chat.rc.login_info is not None and bridge_stack.app.rocketchat is not None
        secrets["rc user token"] = chat.rc.login_info.auth_token
        bridge_login = bridge_stack.app.rocketchat.admin.login_info
        assert bridge_login is not None
        secrets["bridge rc token"] = bridge_login.auth_token

        async def rc_says() -> None:
            await chat.rc_to_matrix(secrets["rc body"])

        async def matrix_says() -> None:
            await chat.matrix_to_rc(secrets["matrix body"])

        async def names_crossed() -> None:
            # The ghost's display name reached Matrix, the shadow's reached Rocket.Chat.
            async def ghost_named() -> bool:
                return any(
                    e["type"] == "m.room.member"
                    and e["content"].get("displayname") == secrets["rc display name"]
                    for e in await chat.matrix.timeline(chat.room.matrix_room_id)
                )

            await wait_for(ghost_named, 30)

        async def rhea_erased() -> None:
            # The whole erasure (redactions, deletions, scrubs, notices) logs no secret either.
            me = await chat.rc.me()
            status = await erase(bridge_stack, me.id)
            assert status.state.finished

        return await run_and_scan_logs(
            capture, [rc_says, matrix_says, names_crossed, rhea_erased], secrets
        )
    finally:
        await chat.matrix.close()


SQLISH_RC_NAME = "Robert'); DROP TABLE ghost;--"
SQLISH_MATRIX_NAME = "Eve\"; DELETE FROM shadow WHERE '1'='1'; --"
SQLISH_BODIES = [
    "x'; DROP TABLE outbox; --",
    "1; UPDATE inbox_event SET status='done' WHERE 1=1 --",
    "\\'; SELECT pg_sleep(10); --",
]


async def table_counts(stack: BridgeStack) -> dict[str, int]:
    async with stack.app.db.sessions() as session:
        return {
            name: int(
                await session.scalar(select(func.count()).select_from(text(f'"{name}"'))) or 0
            )
            for name in Base.metadata.tables
        }


async def test_sql_looking_names_and_bodies_arrive_intact_and_break_nothing(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    before = await table_counts(bridge_stack)
    chat = await chat_with(
        bridge_stack,
        portal,
        make_user,
        rc_name=SQLISH_RC_NAME,
        rc_password=f"pw-{uuid.uuid4().hex}",
        matrix_name=SQLISH_MATRIX_NAME,
    )
    try:
        for body in SQLISH_BODIES:
            event = await chat.rc_to_matrix(body + " (rc)")
            assert event["content"]["body"] == body + " (rc)"  # type: ignore[index]
            shadow_username = await chat.matrix_to_rc(body + " (matrix)")

        async def ghost_name() -> str | None:
            for e in await chat.matrix.timeline(chat.room.matrix_room_id):
                name = e["content"].get("displayname") if e["type"] == "m.room.member" else None
                if name == SQLISH_RC_NAME:
                    return str(name)
            return None

        assert await wait_for(ghost_name, 30) == SQLISH_RC_NAME
        shadow = await chat.rc.users_info(username=shadow_username)
        assert shadow.name == SQLISH_MATRIX_NAME
    finally:
        await chat.matrix.close()
    after = await table_counts(bridge_stack)
    assert set(after) == set(before)  # every table still there
    assert after["inbox_event"] > before["inbox_event"]
    assert after["outbox"] > before["outbox"]


async def test_bodies_over_the_limit_are_refused_with_a_notice_both_ways(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    limit = bridge_stack.config.bridge.max_body_chars
    chat = await chat_with(
        bridge_stack,
        portal,
        make_user,
        rc_name="Long Talker",
        rc_password=f"pw-{uuid.uuid4().hex}",
        matrix_name="Long Writer",
    )
    settings = bridge_stack.sim.state.settings
    rc_own_limit = settings["Message_MaxAllowedSize"]
    settings["Message_MaxAllowedSize"] = limit * 2  # else Rocket.Chat itself refuses first
    try:
        at_limit = "a" * (limit - 3) + "end"
        assert (await chat.rc_to_matrix(at_limit))["content"]["body"] == at_limit  # type: ignore[index]
        too_long_mx, too_long_rc = "m" * (limit + 1), "r" * (limit + 1)
        await chat.matrix.send(chat.room.matrix_room_id, {"msgtype": "m.text", "body": too_long_mx})
        await chat.rc.post_message(RCRoomID(chat.room.rc_room_id), too_long_rc)

        async def matrix_notice() -> bool:
            return any(
                e["content"].get("msgtype") == "m.notice"
                and str(limit) in e["content"].get("body", "")
                for e in await chat.matrix.messages(chat.room.matrix_room_id)
            )

        async def rc_notice() -> bool:
            return any(
                str(limit) in m.text and m.user.username != chat.rc_username
                for m in await rc_history(chat.rc, chat.room.rc_room_id)
            )

        assert await wait_for(matrix_notice, 30)
        assert await wait_for(rc_notice, 30)
        rc_texts = [m.text for m in await rc_history(chat.rc, chat.room.rc_room_id)]
        matrix_bodies = [
            e["content"].get("body") for e in await chat.matrix.messages(chat.room.matrix_room_id)
        ]
    finally:
        settings["Message_MaxAllowedSize"] = rc_own_limit
        await chat.matrix.close()
    assert too_long_mx not in rc_texts
    assert too_long_rc not in matrix_bodies


async def test_a_matrix_file_over_the_media_limit_is_not_copied_and_a_notice_names_the_limit(
    bridge_stack: BridgeStack,
    portal: Callable[..., Awaitable[Portal]],
    make_user: Callable[..., Awaitable[MatrixUser]],
) -> None:
    limit = bridge_stack.config.bridge.max_media_bytes
    assert limit < 5_000_000, "the session bridge should run with a small media limit"
    chat = await chat_with(
        bridge_stack,
        portal,
        make_user,
        rc_name="File Sender",
        rc_password=f"pw-{uuid.uuid4().hex}",
        matrix_name="Big Filer",
    )
    try:
        data = b"\x00big" * ((limit // 4) + 10)
        mxc = await chat.matrix.client.upload_media(data, mime_type="application/octet-stream")
        # The sender's client may omit or understate the size; the bridge must check anyway.
        event_id = await chat.matrix.send(
            chat.room.matrix_room_id,
            {"msgtype": "m.file", "body": "big.bin", "url": mxc, "info": {"size": 10}},
        )

        async def finished() -> str | None:
            async with bridge_stack.app.db.sessions() as session:
                row = await session.scalar(
                    select(OutboxAction).where(OutboxAction.key == f"mx-msg:{event_id}")
                )
            return row.status if row is not None and row.status != "pending" else None

        async def notice() -> str | None:
            for m in await rc_history(chat.rc, chat.room.rc_room_id):
                if "could not be bridged" in m.text:
                    return m.text
            return None

        status = await wait_for(finished, 30)
        text = await wait_for(notice, 30)
        history = await rc_history(chat.rc, chat.room.rc_room_id)
    finally:
        await chat.matrix.close()
    # Refused for good (the queue moves on), said so in the room, and never copied.
    assert status == "done"
    assert f"larger than the limit of {limit} bytes" in text and "big.bin" not in text
    assert not any(m.files for m in history)


async def test_the_log_scan_finds_a_planted_secret() -> None:
    with captured_logs() as capture:
        logging.getLogger("bridge.somewhere").info("relayed %r", {"body": "planted-secret"})
        logging.getLogger("bridge.somewhere").debug("debug may hold %s", "debug-secret")
    found = leaks(capture.records, {"body": "planted-secret", "debug": "debug-secret"})
    assert len(found) == 1 and found[0].startswith("body in bridge.somewhere")
