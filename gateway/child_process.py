"""A child process of the service started afresh (spawn), with the service's end of a pipe to it."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any


class SpawnedChild:
    """Runs `target(conn, *args)` in a new interpreter: no copied threads, locks or event loop."""

    def __init__(self, target: Callable[..., None], args: tuple[Any, ...], name: str) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn: Connection
        self.conn, child_conn = context.Pipe()
        self.process: BaseProcess = context.Process(target=target, args=(child_conn, *args), name=name, daemon=True)
        self.process.start()
        child_conn.close()

    def kill(self) -> None:
        self.conn.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
