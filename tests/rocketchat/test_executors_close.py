"""Stopping the bridge while an action still logs a shadow in closes every client."""

from __future__ import annotations

from typing import Any

from bridge.rocketchat.executors import RocketChatExecutors

CREATED: list[FakeClient] = []


class FakeClient:
    def __init__(self, owner: RocketChatExecutors, name: str, logs_in: str | None) -> None:
        self.owner, self.name, self.logs_in, self.closed = owner, name, logs_in, False

    async def close(self) -> None:
        # Another action logs a shadow in while this one closes (the await yields).
        if self.logs_in is not None:
            late = FakeClient(self.owner, self.logs_in, None)
            CREATED.append(late)
            self.owner._clients[self.logs_in] = late  # type: ignore[assignment]
        self.closed = True


async def test_a_client_logged_in_during_close_is_closed_too() -> None:
    executors = object.__new__(RocketChatExecutors)
    first = FakeClient(executors, "a", logs_in="b")
    clients: dict[str, Any] = {"a": first}
    executors._clients = clients
    await executors.close()
    assert first.closed
    assert [c.name for c in CREATED] == ["b"] and CREATED[0].closed
    assert executors._clients == {}
