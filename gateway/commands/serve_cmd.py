"""`inbox311 serve`: run everything (SMTP, HTTP, pipeline, outbox) until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from gateway.settings import Settings


def register(sub: argparse._SubParsersAction, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser("serve", help="run the service")
    add_config(p)
    p.set_defaults(func=_serve)


async def _serve(_args: argparse.Namespace, settings: Settings) -> int:
    # heavy imports here, not at module level: every `inbox311` verb imports every command module
    from gateway.app import serve

    return await serve(settings)
