"""`inbox311 apikey add NAME` prints the key once and stores only its hash; revoked keys stop working."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.cli import main
from storage.apikeys import find_api_key, hash_api_key
from storage.db import Database
from storage.models import ApiKey


async def stored(url: str, secret: str) -> tuple[list[ApiKey], int | None]:
    """The key rows, and the id of the active key with this secret."""
    db = Database(url)
    try:
        async with db.read() as session:
            rows = list((await session.execute(select(ApiKey))).scalars())
            found = await find_api_key(session=session, secret=secret)
    finally:
        await db.dispose()
    return rows, found.id if found else None


def test_add_list_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A sync test: the command runs its own event loop, as it does from the shell.
    url = f"sqlite+aiosqlite:///{tmp_path}/fresh.db"  # a new install: `apikey add` may be the first command
    config = tmp_path / "inbox311.toml"
    config.write_text(f'[database]\nurl = "{url}"\n')

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["apikey", *args, "--config", str(config)])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, err = run("add", "seeclickfix")
    secret = out.strip()
    assert code == 0 and secret.startswith("i311_") and len(secret) > 40
    assert "shown only this once" in err

    [row], found = asyncio.run(stored(url, secret))
    assert row.name == "seeclickfix" and row.key_hash == hash_api_key(secret) != secret
    assert found == row.id
    assert asyncio.run(stored(url, secret + "x"))[1] is None

    code, _, err = run("add", "seeclickfix")
    assert code == 1 and "exists already" in err
    assert run("add", "bad name!")[0] == 2

    code, out, _ = run("list")
    assert code == 0 and "seeclickfix" in out and secret not in out

    assert run("revoke", "seeclickfix")[0] == 0
    assert run("revoke", "nobody")[0] == 1
    assert asyncio.run(stored(url, secret))[1] is None
