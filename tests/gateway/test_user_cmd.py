"""`inbox311 user add|list|password|role`: accounts made from the command line can log in; passwords never come
from arguments; mistakes exit 1 or 2 with one line."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from gateway.cli import main
from gateway.web.auth import verify_password
from storage.db import Database
from storage.models import StaffUser
from storage.staff import get_staff_by_email


def _config(tmp_path: Path, url: str) -> str:
    path = tmp_path / "inbox311.toml"
    path.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    return str(path)


def _run(monkeypatch: pytest.MonkeyPatch, stdin: str, *argv: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(list(argv))


async def _user(url: str, email: str) -> StaffUser | None:
    db = Database(url)
    try:
        async with db.read() as session:
            return await get_staff_by_email(session=session, email=email)
    finally:
        await db.dispose()


def test_add_list_password_role(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, sqlite_url)
    rc = _run(monkeypatch, "a long enough secret\n", "user", "add", "Boss@City.example", "--role", "admin",
              "--name", "Pat Boss", "--password-stdin", "--config", config)  # fmt: skip
    assert rc == 0 and "created boss@city.example (admin)" in capsys.readouterr().out
    assert _run(monkeypatch, "another secret!!\n", "user", "add", "boss@city.example", "--password-stdin",
                "--config", config) == 1  # fmt: skip
    assert "has an account already" in capsys.readouterr().err
    assert _run(monkeypatch, "short\n", "user", "add", "new@city.example", "--password-stdin", "--config", config) == 2
    assert "at least 10 characters" in capsys.readouterr().err

    assert _run(monkeypatch, "", "user", "list", "--config", config) == 0
    listing = capsys.readouterr().out
    assert "boss@city.example" in listing and "admin" in listing and "new@city.example" not in listing

    assert _run(monkeypatch, "the second password\n", "user", "password", "boss@city.example", "--password-stdin",
                "--config", config) == 0  # fmt: skip
    assert _run(monkeypatch, "", "user", "role", "boss@city.example", "--role", "viewer", "--deactivate",
                "--config", config) == 0  # fmt: skip


async def test_the_account_made_by_the_command_verifies(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, sqlite_url)
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough secret\n"))
    rc = await asyncio.to_thread(main, ["user", "add", "a@city.example", "--password-stdin", "--config", config])
    assert rc == 0
    user = await _user(sqlite_url, "a@city.example")
    assert user is not None and user.role == "agent" and user.active
    assert await verify_password(user.password_hash, "a long enough secret")
    assert not await verify_password(user.password_hash, "a long enough secreT")
