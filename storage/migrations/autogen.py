"""Developer tool: write a new revision with the differences between `storage.models` and the migrations.

python -m storage.migrations.autogen "add ticket.foo"
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

from storage.db import alembic_config, upgrade_sync


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m storage.migrations.autogen MESSAGE", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'autogen.db'}"
        upgrade_sync(url)
        command.revision(alembic_config(url), message=argv[0], autogenerate=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
