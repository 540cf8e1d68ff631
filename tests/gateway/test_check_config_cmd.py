"""`inbox311 check-config` as an operator runs it: logs in to every mailbox (real Dovecot, plain and IMAPS) and to the
relay (a real SMTP server), prints one line per check, and exits 1 when something does not work."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.imap_server import PASSWORD, USER, free_port
from tests.smtp_sink import SmtpSink


def imap_block(name: str, port: int, **extra: str) -> str:
    values = {"name": name, "host": "127.0.0.1", "port": port, "tls": "plain", "username": USER,
              "password": PASSWORD, **extra}  # fmt: skip
    lines = "\n".join(f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v}" for k, v in values.items())
    return f"[[imap]]\n{lines}\n"


async def check_config(config: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "check-config", "--config", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode() + err.decode()


async def test_everything_reachable_exits_0(
    tmp_path: Path, sqlite_url: str, imap_port: int, imaps_port: int, imap_cafile: str
) -> None:
    sink = await SmtpSink().start()
    relay_port = sink.port
    try:
        config = tmp_path / "inbox311.toml"
        config.write_text(
            f'[database]\nurl = "{sqlite_url}"\n'
            f"[outbound.email]\nrelay_port = {relay_port}\n"
            + imap_block("city", imap_port)
            + imap_block("parks", imaps_port, tls="ssl", ca_file=imap_cafile, auth="plain", processed_folder="Done")
        )
        code, out = await check_config(config)
    finally:
        await sink.stop()
    assert code == 0, out
    assert "ok    database: reachable (sqlite)" in out
    assert f"ok    imap city: logged in to 127.0.0.1:{imap_port} as {USER} (plain, login)" in out
    assert f"ok    imap parks: logged in to 127.0.0.1:{imaps_port} as {USER} (ssl, plain)" in out
    assert "IDLE available" in out and "processed folder Done does not exist yet and will be created" in out
    assert f"ok    relay 127.0.0.1:{relay_port}: connected (no TLS), no login configured" in out
    assert "4 of 4 checks passed" in out
    assert sink.handler.envelopes == []  # a check sends nothing


async def test_each_failure_is_named_and_exits_1(tmp_path: Path, sqlite_url: str, imap_port: int) -> None:
    closed = free_port()
    config = tmp_path / "inbox311.toml"
    config.write_text(
        f'[database]\nurl = "{sqlite_url}"\n'
        f"[outbound.email]\nrelay_port = {closed}\n"
        + imap_block("city", imap_port)
        + imap_block("parks", imap_port, folder="No-Such-Folder")
        + imap_block("gone", closed)
    )
    code, out = await check_config(config)
    assert code == 1, out
    assert "ok    imap city:" in out
    assert "FAIL  imap parks: folder 'No-Such-Folder' cannot be selected" in out
    assert f"FAIL  imap gone: cannot connect to 127.0.0.1:{closed} (plain)" in out
    assert f"FAIL  relay 127.0.0.1:{closed}: cannot connect" in out
    assert "2 of 5 checks passed, 3 failed" in out
