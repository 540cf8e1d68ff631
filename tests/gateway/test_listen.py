"""Binding the listeners' addresses before the service is built: all of them or none."""

from __future__ import annotations

import socket

import pytest

from gateway.app import bind_listeners
from gateway.listen import CannotListen
from gateway.settings import Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_addresses_are_bound_and_one_in_use_leaves_none_bound(settings: Settings) -> None:
    smtp_port, http_port = _free_port(), _free_port()
    both = settings.replace(
        smtp={"host": "127.0.0.1", "port": smtp_port}, http={"host": "127.0.0.1", "port": http_port}
    )
    bound = bind_listeners(both)
    assert {name: sock.getsockname() for name, sock in bound.items()} == {
        "smtp": ("127.0.0.1", smtp_port),
        "http": ("127.0.0.1", http_port),
    }
    for sock in bound.values():
        sock.close()

    with socket.create_server(("127.0.0.1", http_port)), pytest.raises(CannotListen) as refused:
        bind_listeners(both)
    assert str(refused.value) == f"http: cannot listen on 127.0.0.1:{http_port}: address already in use"
    with socket.socket() as again:  # the SMTP address was let go again (no SO_REUSEADDR: any holder would refuse)
        again.bind(("127.0.0.1", smtp_port))


def test_a_host_name_is_left_to_its_listener_and_a_disabled_listener_is_not_bound(settings: Settings) -> None:
    named = settings.replace(smtp={"host": "localhost", "port": _free_port()}, http={"enabled": False})
    assert bind_listeners(named) == {}
