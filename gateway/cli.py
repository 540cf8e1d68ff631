"""The `inbox311` command: parse arguments, load settings, dispatch to a verb in `gateway.commands`.

Every verb accepts `--config FILE`, before or after its own arguments. Exit codes: 0 ok, 1 failure,
2 usage or configuration error (one line naming the key).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import logging
import os
import signal
import sys
from collections.abc import Sequence

from gateway.commands import COMMAND_MODULES
from gateway.log_lines import configure_logging
from gateway.settings import ConfigError, Settings, load_settings
from storage.unavailable import DatabaseUnavailable, database_problem


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="TOML configuration file (default: built-in defaults, see config.example.toml)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inbox311", description="Every 311 email, text and web report, one inbox.")
    _add_config(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub, _add_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings: Settings = load_settings(getattr(args, "config", None))
    except ConfigError as exc:
        print(f"inbox311: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.logging.level)
    # aiosmtpd logs every SMTP command with the addresses in it at INFO; we log one redacted line per message.
    logging.getLogger("mail.log").setLevel(max(logging.WARNING, logging.getLogger().level))
    # Alembic announces each of its plugins at INFO whenever a verb brings the schema up to date; the migrations it
    # runs are still logged.
    logging.getLogger("alembic.runtime.plugins").setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        result = args.func(args, settings)
        if inspect.isawaitable(result):
            result = asyncio.run(result)
        sys.stdout.flush()  # here, so that a reader gone away is met below rather than at the interpreter's exit
    except BrokenPipeError:
        # The output's reader stopped early (`inbox311 outbox list | head`): end quietly, as a shell tool killed by
        # SIGPIPE would, and leave nothing for the interpreter to fail to flush.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except ConfigError as exc:
        print(f"inbox311: {exc}", file=sys.stderr)
        return 2
    except DatabaseUnavailable as exc:
        print(f"inbox311: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        problem = database_problem(exc, settings.database.url)
        if problem is None:
            raise
        print(f"inbox311: {problem}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
