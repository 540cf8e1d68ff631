"""The `inbox311` verbs as a user runs them: ingest files idempotently, list tickets and the outbox."""

from __future__ import annotations

import json
import mailbox
import os
import pty
import signal
import socket
import subprocess
import sys
import uuid
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text


def inbox311(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args, "--config", str(config)], capture_output=True, text=True, timeout=300
    )


def message(n: int) -> EmailMessage:
    m = EmailMessage()
    m["From"] = f"Resident {n} <r{n}@resident.example>"
    m["To"] = "reports@city.example"
    m["Subject"] = f"Streetlight out on block {n}"
    m["Message-ID"] = f"<cli{n}@resident.example>"
    m.set_content(f"The light in front of {n} Oak Ave has been out for a week.")
    return m


@pytest.fixture
def config(tmp_path: Path, sqlite_url: str) -> Path:
    path = tmp_path / "inbox311.toml"
    path.write_text(f'[database]\nurl = "{sqlite_url}"\n')
    return path


def test_ingest_eml_mbox_and_maildir_idempotently(tmp_path: Path, config: Path) -> None:
    eml = tmp_path / "one.eml"
    eml.write_bytes(message(1).as_bytes())
    box = mailbox.mbox(tmp_path / "two.mbox")
    box.add(message(2))
    box.add(message(3))
    box.flush()
    maildir = mailbox.Maildir(tmp_path / "Maildir")
    maildir.add(message(4))
    maildir.add(message(1))  # the same message as one.eml

    first = inbox311(config, "ingest", str(eml), str(tmp_path / "two.mbox"), str(tmp_path / "Maildir"))
    assert first.returncode == 0, first.stderr
    assert "stored 4 new message(s), 1 already known, 4 processed" in first.stdout
    again = inbox311(config, "ingest", str(tmp_path / "two.mbox"), str(eml))
    assert "stored 0 new message(s), 3 already known, 0 processed" in again.stdout

    listed = json.loads(inbox311(config, "tickets", "list", "--format", "json").stdout)
    assert sorted(t["summary"] for t in listed) == [f"Streetlight out on block {n}" for n in (1, 2, 3, 4)]
    assert set(listed[0]) == {"tracking_number", "status", "channel", "category", "summary", "created_at"}
    assert {t["channel"] for t in listed} == {"email"}

    table = inbox311(config, "tickets", "list", "--format", "table").stdout.splitlines()
    assert table[0].split() == ["TRACKING_NUMBER", "STATUS", "CHANNEL", "CATEGORY", "SUMMARY", "CREATED_AT"]
    assert len(table) == 5

    outbox = inbox311(config, "outbox", "list", "--format", "json")
    rows = json.loads(outbox.stdout)
    assert len(rows) == 4 and {r["state"] for r in rows} == {"pending"}  # sent by a running `serve`
    assert all("@resident.example" in r["recipient"] and r["recipient"].startswith(("r***",)) for r in rows)


def on_a_terminal(config: Path, *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, what reached the terminal) of a verb whose stderr is a pseudo-terminal, as in a shell."""
    terminal, child_side = pty.openpty()
    shown = b""
    try:
        run = subprocess.Popen(
            [sys.executable, "-m", "gateway", *args, "--config", str(config)],
            stdout=subprocess.PIPE, stderr=child_side,
        )  # fmt: skip
        os.close(child_side)
        while True:  # read as it runs: a full terminal buffer would stop the child
            try:
                chunk = os.read(terminal, 65536)
            except OSError:  # (EIO) the child's side is closed: all was read
                break
            if not chunk:
                break
            shown += chunk
        out, _ = run.communicate(timeout=300)
    finally:
        os.close(terminal)
    return run.returncode, out.decode(), shown.decode().replace("\r\n", "\n")  # the terminal adds the CRs


def test_ingest_on_a_terminal_shows_a_progress_bar_and_only_the_warnings(tmp_path: Path, config: Path) -> None:
    box = mailbox.mbox(tmp_path / "many.mbox")
    for n in range(250):  # more than one batch of the import (200), so the bar moves before the end
        box.add(message(n))
    box.add(b"From: someone@resident.example\nMessage-ID: <nothing@resident.example>\n\n")  # empty: quarantined
    box.flush()

    code, out, shown = on_a_terminal(config, "ingest", str(tmp_path / "many.mbox"))
    assert code == 0, shown
    summary = "stored 251 new message(s), 0 already known, 250 processed, 1 quarantined"
    assert out.startswith(summary) and "(inbox311 raw list --state quarantined)" in out
    frames = shown.split("\r")
    assert "[" + "#" * 23 + "." * 7 + "] 200/251" in frames
    assert frames[-1] == "[" + "#" * 30 + "] 251/251\n"
    # The per-message lines stay off the terminal; the warning shows on a line of its own, the bar drawn under it.
    assert " processed ticket=" not in shown and " INFO gateway.worker " not in shown
    warning = next(f for f in frames if " WARNING gateway.worker " in f)
    assert warning.startswith("\x1b[K") and warning.endswith(
        "quarantined: parse: empty: no subject, no text and no attachments\n"
    )
    assert "setup plugin" not in shown  # alembic's own announcements

    few = mailbox.mbox(tmp_path / "few.mbox")
    for n in (300, 301):
        few.add(message(n))
    few.flush()
    verbose = on_a_terminal(config, "ingest", "--verbose", str(tmp_path / "few.mbox"))[2]
    assert verbose.count(" processed ticket=") == 2 and "/2" not in verbose  # every line as logged, no bar

    again = inbox311(config, "ingest", str(tmp_path / "many.mbox"))  # stderr a pipe (a log): no bar in it
    assert again.returncode == 0 and "0 new message(s), 251 already known" in again.stdout
    assert "/251" not in again.stderr and "\r" not in again.stderr


def test_a_reader_that_stops_early_ends_the_listing_quietly(tmp_path: Path, config: Path) -> None:
    assert inbox311(config, "db", "upgrade").returncode == 0
    listing = subprocess.Popen(
        [sys.executable, "-m", "gateway", "tickets", "list", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert listing.stdout is not None
    listing.stdout.close()  # as `| head` does once it has its lines: the listing's writes now find no reader
    _, errors = listing.communicate(timeout=120)
    assert listing.returncode == 128 + signal.SIGPIPE  # what a shell reports for a tool stopped by SIGPIPE
    assert errors == ""  # no traceback, no "Exception ignored" at exit


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


@pytest.mark.parametrize(
    "verb", [("db", "upgrade"), ("ingest", "none.eml"), ("serve",), ("tickets", "list"), ("user", "list")]
)
def test_a_database_that_cannot_be_opened_is_one_line_and_exit_1(tmp_path: Path, verb: tuple[str, ...]) -> None:
    port = closed_port()
    config = tmp_path / "down.toml"
    config.write_text(f'[database]\nurl = "postgresql+asyncpg://city:s3cret@127.0.0.1:{port}/inbox311"\n')
    run = inbox311(config, *verb)
    assert run.returncode == 1
    expected = f"inbox311: database: cannot open postgresql+asyncpg://city:***@127.0.0.1:{port}/inbox311: "
    lines = [line for line in run.stderr.splitlines() if "inbox311: database:" in line]
    assert len(lines) == 1 and expected in lines[0] and "Connect call failed" in lines[0], run.stderr
    assert "Traceback" not in run.stderr and "s3cret" not in run.stderr


def test_a_database_file_that_cannot_be_created_is_named(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    config = tmp_path / "bad.toml"
    config.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path}/a-file/inbox311.db"\n')
    run = inbox311(config, "db", "upgrade")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert run.stderr.startswith(f"inbox311: database: cannot open sqlite+aiosqlite:///{tmp_path}/a-file/inbox311.db: ")


def test_a_database_never_brought_up_to_date_is_named_with_what_to_run(tmp_path: Path, pg_dsn: str) -> None:
    name = f"inbox311_empty_{uuid.uuid4().hex[:8]}"  # a new, empty PostgreSQL database
    admin = create_engine(pg_dsn.replace("+asyncpg", "+psycopg"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        urls = {
            f"sqlite+aiosqlite:///{tmp_path}/new.db": "no such table: ",
            pg_dsn.rsplit("/", 1)[0] + f"/{name}": 'relation "',
        }
        for url, words in urls.items():
            config = tmp_path / "new.toml"
            config.write_text(f'[database]\nurl = "{url}"\n')
            for verb in (("tickets", "list"), ("user", "list"), ("raw", "replay", "--all")):
                run = inbox311(config, *verb)
                assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
                assert run.stderr.startswith("inbox311: database ") and " lacks this version's tables (" in run.stderr
                assert words in run.stderr and "run `inbox311 db upgrade`" in run.stderr
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_ingest_missing_file_fails_clearly(tmp_path: Path, config: Path) -> None:
    out = inbox311(config, "ingest", str(tmp_path / "nope.eml"))
    assert out.returncode == 1 and "nope.eml: no such file or directory" in out.stderr


def test_loading_the_cli_does_not_load_the_heavy_libraries() -> None:
    # `inbox311 --help` and the quick verbs must start fast: the model, web stack and database load only in a handler.
    heavy = ("spacy", "fastapi", "sqlalchemy", "sqlmodel", "aiosmtpd", "twilio", "imapclient", "jinja2", "argon2")
    code = "import sys, gateway.cli, gateway.commands; print(' '.join(sorted(sys.modules)))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(run.stdout.split())
    assert sorted(m for m in heavy if m in loaded) == []


def test_help_lists_every_verb() -> None:
    out = subprocess.run([sys.executable, "-m", "gateway", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for verb in ("serve", "db", "tickets", "ingest", "outbox", "raw", "user", "apikey", "train", "eval", "classify"):
        assert verb in out.stdout
