"""The service's listening sockets, bound with an error that says which listener could not listen, and where."""

from __future__ import annotations

import ipaddress
import os
import socket


class CannotListen(Exception):
    """A listener's address is in use, not this machine's, or needs privileges the service does not have."""


def cannot_listen(name: str, host: str, port: int, exc: OSError) -> CannotListen:
    # (asyncio's create_server puts the address into strerror: the errno's own words say it once)
    reason = (os.strerror(exc.errno) if exc.errno else str(exc)).lower()
    return CannotListen(f"{name}: cannot listen on {host}:{port}: {reason}")


def bind_tcp(name: str, host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port), not yet listening, as uvicorn binds one: IPv6 when the host has a colon,
    else IPv4 (a host name resolved by the socket module)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart need not wait out TIME_WAIT
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise cannot_listen(name, host, port, exc) from exc
    return sock


def is_ipv4_literal(host: str) -> bool:
    """An address one socket covers exactly: what a listener may have bound before the service is built (a host
    name may stand for several addresses, which the listener binds itself when it starts)."""
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True
