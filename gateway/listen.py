"""The service's listening sockets, bound with an error that says which listener could not listen, and where."""

from __future__ import annotations

import os
import socket


class CannotListen(Exception):
    """A listener's address is in use, not this machine's, or needs privileges the service does not have."""


def cannot_listen(name: str, host: str, port: int, exc: OSError) -> CannotListen:
    # (asyncio's create_server puts the address into strerror: the errno's own words say it once)
    reason = (os.strerror(exc.errno) if exc.errno else str(exc)).lower()
    return CannotListen(f"{name}: cannot listen on {host}:{port}: {reason}")


def bind_tcp(name: str, host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port), not yet listening; the first address `host` resolves to, as a server
    given a host name binds."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise cannot_listen(name, host, port, exc) from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart need not wait out TIME_WAIT
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise cannot_listen(name, host, port, exc) from exc
    return sock
