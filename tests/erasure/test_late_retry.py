"""A retry after the homeserver's transaction cache may have expired (Synapse forgets a
txnId after 30 minutes) looks for the event the first attempt sent before sending again;
a fresh retry relies on the txnId alone."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from mautrix.api import Method
from mautrix.appservice import IntentAPI
from mautrix.types import RoomID

from bridge.bridging.identities import Identities
from bridge.matrix.erasure_executors import MatrixErasureExecutors
from bridge.matrix.late_retry import LATE_MS, TXN_FIELD, existing_send, is_late
from bridge.pipeline import keys
from bridge.privacy import erasure_kinds as kinds
from bridge.storage.common import now_ms
from bridge.storage.outbox import Action

ROOM = RoomID("!room:hs1.test")
BOT = "@bridge:hs1.test"


class ForgetfulHomeserver:
    """Answers like Synapse once its transaction cache forgot our txnId: every PUT makes
    a new event; GETs show what exists."""

    def __init__(self, redacted_by: str | None, chunk: list[dict[str, Any]]) -> None:
        self.redacted_by = redacted_by
        self.chunk = chunk
        self.puts: list[str] = []

    async def request(self, method: Method, path: object, **kwargs: Any) -> dict[str, Any]:
        if method == Method.PUT:
            self.puts.append(str(path))
            return {"event_id": f"$new{len(self.puts)}"}
        if str(path).endswith("/messages"):
            return {"chunk": self.chunk}
        unsigned = {"redacted_because": {"event_id": self.redacted_by}} if self.redacted_by else {}
        return {"event_id": "$msg", "content": {}, "unsigned": unsigned}


def intent(server: ForgetfulHomeserver, mxid: str = BOT) -> IntentAPI:
    return cast(IntentAPI, SimpleNamespace(api=server, mxid=mxid))


def redact_action(created_ms: int) -> Action:
    return Action(
        id=1,
        key=keys.erasure_redact_key("r1", 7),
        kind=kinds.REDACT,
        queue=keys.erasure_redact_queue(ROOM),
        payload={"request_id": "r1", "disclosure_id": 7, "room_id": ROOM, "event_id": "$msg"},
        attempts=1,
        created_ms=created_ms,
    )


def executors(server: ForgetfulHomeserver) -> MatrixErasureExecutors:
    ids = cast(Identities, SimpleNamespace(bot=BOT, matrix_txn_id=Identities.matrix_txn_id))
    config = cast(Any, SimpleNamespace(mail=SimpleNamespace(host=None)))
    found = MatrixErasureExecutors(
        cast(Any, None), cast(Any, None), ids, config, cast(Any, None), None
    )
    found._intent = lambda _user: intent(server)  # type: ignore[method-assign]  # noqa: SLF001
    return found


async def redact(server: ForgetfulHomeserver, action: Action) -> dict[str, Any] | None:
    """The redaction as the outbox runs it (the stored payload in, the stored result out)."""
    return await executors(server).table()[kinds.REDACT](action)


async def test_a_late_redaction_finds_the_one_already_applied() -> None:
    server = ForgetfulHomeserver(redacted_by="$first", chunk=[])
    result = await redact(server, redact_action(now_ms() - LATE_MS - 1))
    assert result == {"redaction_id": "$first"}
    assert server.puts == [], "no second redaction"


async def test_a_late_redaction_of_an_unredacted_event_is_sent() -> None:
    server = ForgetfulHomeserver(redacted_by=None, chunk=[])
    result = await redact(server, redact_action(now_ms() - LATE_MS - 1))
    assert result == {"redaction_id": "$new1"}
    assert len(server.puts) == 1


async def test_a_fresh_retry_relies_on_the_txn_id() -> None:
    server = ForgetfulHomeserver(redacted_by="$first", chunk=[])
    assert not is_late(redact_action(now_ms()))
    await redact(server, redact_action(now_ms()))
    assert len(server.puts) == 1, "the txnId makes the homeserver return the first one"


async def test_a_late_send_finds_its_event_by_the_txn_in_its_content() -> None:
    txn = Identities.matrix_txn_id("relay:42")
    server = ForgetfulHomeserver(
        redacted_by=None,
        chunk=[
            {"event_id": "$other", "content": {"body": "x", TXN_FIELD: "rcbsomethingelse"}},
            {"event_id": "$mine", "content": {"body": "y", TXN_FIELD: txn}},
        ],
    )
    assert await existing_send(intent(server, "@rc_carol:hs1.test"), ROOM, txn) == "$mine"
    assert await existing_send(intent(server), ROOM, Identities.matrix_txn_id("relay:43")) is None
