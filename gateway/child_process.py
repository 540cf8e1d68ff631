"""A child process of the service started afresh (spawn), with the service's end of a pipe to it."""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import signal
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

PR_SET_NAME = 15  # prctl(2): the thread's name, which ps, top and /proc/PID/comm show (15 bytes at most)


def set_process_name(name: str) -> None:
    """Name this process for the operating system, so `ps`/`top` tell the service's children apart (every spawned
    child is otherwise `python`). Best effort: only where libc has prctl (Linux)."""
    try:
        ctypes.CDLL(None).prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)  # the process's own symbols: libc's
    except (OSError, AttributeError):
        pass


def _run_named(conn: Connection, name: str, target: Callable[..., None], *args: Any) -> None:
    set_process_name(name)
    # Ctrl-C reaches the whole process group, and so does SIGTERM from systemd (KillMode=control-group), docker or
    # `timeout`. The service stops its children itself once its work in hand is done, which needs them until then;
    # a child whose service is gone ends on its own at the end of the pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    target(conn, *args)


class ChildLost(Exception):
    """The child died, or did not answer in time, and was stopped."""


class SpawnedChild:
    """Runs `target(conn, *args)` in a new interpreter: no copied threads, locks or event loop. `name` is the
    process's name for multiprocessing and for the operating system."""

    def __init__(self, target: Callable[..., None], args: tuple[Any, ...], name: str) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn: Connection
        self.conn, child_conn = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=_run_named, args=(child_conn, name, target, *args), name=name, daemon=True
        )
        self.process.start()
        child_conn.close()

    def kill(self) -> None:
        self.conn.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)

    async def receive(self, within: float) -> Any:
        """The child's next message, waiting for it on the event loop; ChildLost after `within` s or on its end."""
        loop = asyncio.get_running_loop()
        readable = loop.create_future()
        fd = self.conn.fileno()
        loop.add_reader(fd, lambda: readable.done() or readable.set_result(None))
        try:
            await asyncio.wait_for(readable, within)
        except TimeoutError:
            raise ChildLost(f"no answer within {within:g} s") from None
        finally:
            loop.remove_reader(fd)
        try:
            return self.conn.recv()
        except (EOFError, OSError) as exc:
            raise ChildLost(f"the process ended (exit code {self.process.exitcode})") from exc

    async def ready(self, within: float) -> None:
        """Wait for the child's "ready", sent once it has loaded what it needs."""
        if await self.receive(within) != "ready":
            raise ChildLost("unexpected greeting")
