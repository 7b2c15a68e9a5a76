"""A local SMTP server that keeps every message it receives as a ``.eml`` file: the
demo's (and the tests') stand-in for the partners' mail systems, on loopback.

Built on ``aiosmtpd`` (the ``demo`` and ``test`` extras), which runs its server in a
thread of its own; every accepted message is written to ``directory/NNNN.eml``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from bridge.sandbox.ports import free_ports


class _Keeper:
    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._lock = threading.Lock()
        self._count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        with self._lock:
            self._count += 1
            path = self._directory / f"{self._count:04d}.eml"
        path.write_bytes(bytes(envelope.content))
        return "250 Message accepted"


class MailSink:
    def __init__(self, directory: Path, host: str = "127.0.0.1") -> None:
        self.directory = directory
        self.host = host
        self.port = free_ports(1, host)[0]
        self._controller: Any = None

    def start(self) -> None:
        # Imported here: aiosmtpd is only in the demo and test extras.
        from aiosmtpd.controller import Controller  # noqa: PLC0415

        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._controller = Controller(_Keeper(self.directory), hostname=self.host, port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def messages(self) -> list[Path]:
        return sorted(self.directory.glob("*.eml"))
