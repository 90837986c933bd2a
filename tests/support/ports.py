"""Free loopback ports for servers the tests start themselves."""

from __future__ import annotations

import socket

HOST = "127.0.0.1"


def free_ports(count: int) -> list[int]:
    """`count` distinct ports the kernel just handed out on 127.0.0.1 (all bound at once).

    Another process may take one before the caller binds it: callers that start a subprocess
    retry on "already in use" (see tests.support.process.start_xmppd)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind((HOST, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def accepts(port: int, host: str = HOST) -> bool:
    """True when something listens on host:port (a TCP connection is accepted)."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
