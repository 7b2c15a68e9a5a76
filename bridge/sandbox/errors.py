"""Typed errors of the homeserver sandbox."""

from __future__ import annotations


class SandboxError(Exception):
    """Base class for errors of the local sandbox."""


class HomeserverStartError(SandboxError):
    """A homeserver exited during start-up or was not ready in time.

    The message ends with the tail of the server's log, which is where Synapse reports
    config errors and tracebacks.
    """

    def __init__(self, server_name: str, reason: str, log_tail: str) -> None:
        super().__init__(f"homeserver {server_name} {reason}; last log lines:\n{log_tail}")
        self.server_name = server_name
        self.reason = reason
        self.log_tail = log_tail


class HomeserverStateError(SandboxError):
    """An operation was asked of a homeserver in the wrong state (e.g. start twice)."""


class AdminApiError(SandboxError):
    """A Synapse admin API call failed."""

    def __init__(self, method: str, url: str, status: int, body: str) -> None:
        super().__init__(f"{method} {url} -> HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body
