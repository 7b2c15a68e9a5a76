"""Free loopback ports, picked at run time so parallel sandboxes don't clash."""

from __future__ import annotations

import socket
from contextlib import ExitStack


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Return ``count`` distinct ports the kernel just reported free on ``host``.

    All sockets stay bound until every port is chosen, so the ports are distinct. The
    kernel may still hand a port to someone else before the caller binds it; that race is
    accepted for a test sandbox.
    """
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports
