"""The verbs of `inbox311`. Each module has `register(subparsers, add_config)` and sets `func=` on its parser.

`func(args, settings)` returns an exit code, or a coroutine that does (the CLI runs it).
"""

from __future__ import annotations

from types import ModuleType

from gateway.commands import (
    apikey_cmd,
    check_config_cmd,
    classify_cmd,
    db_cmd,
    eval_cmd,
    imap_cmd,
    ingest_cmd,
    queue_cmd,
    serve_cmd,
    tickets_cmd,
    train_cmd,
    user_cmd,
)

COMMAND_MODULES: tuple[ModuleType, ...] = (
    apikey_cmd,
    db_cmd,
    serve_cmd,
    tickets_cmd,
    ingest_cmd,
    queue_cmd,
    train_cmd,
    eval_cmd,
    user_cmd,
    classify_cmd,
    imap_cmd,
    check_config_cmd,
)
