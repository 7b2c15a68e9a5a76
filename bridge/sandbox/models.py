"""Value types describing a running sandbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mautrix.types import UserID


@dataclass(frozen=True)
class Homeserver:
    """A snapshot of one sandbox homeserver.

    Everything but ``pid`` stays the same across restarts (the server name is baked into
    the database); ask the cluster again for the current pid.
    """

    server_name: str
    client_url: str  # plain HTTP: client API and /_synapse/admin
    tls_url: str  # TLS: client + federation, on the server-name port
    data_dir: Path
    pid: int | None  # None while stopped
    log_path: Path
    registration_shared_secret: str = field(repr=False)


@dataclass(frozen=True)
class MatrixUser:
    """A user registered on a sandbox homeserver, with a logged-in device."""

    user_id: UserID
    password: str
    access_token: str
    device_id: str
    homeserver: Homeserver

    def __repr__(self) -> str:
        # Keep credentials out of assertion messages and logs.
        return f"MatrixUser({self.user_id!r}, homeserver={self.homeserver.server_name!r})"
