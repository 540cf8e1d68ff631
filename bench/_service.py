"""The service under test for the benchmarks: `inbox311 serve` from this checkout in a process of its own, and
py-spy recording it."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from _common import free_port

REPO_ROOT = Path(__file__).resolve().parent.parent


class ServiceProcess:
    """`python -m gateway serve` from this checkout, with a throw-away config pointing at the sink."""

    def __init__(self, workdir: Path, *, domain: str, relay_port: int, database_url: str | None) -> None:
        self.workdir = workdir
        self.smtp_port, self.http_port = free_port(), free_port()
        self.log_path = workdir / "serve.log"
        self.config_path = workdir / "inbox311.toml"
        url = database_url or f"sqlite+aiosqlite:///{workdir / 'inbox311.db'}"
        # The reply budgets are lifted so repeated runs against one PostgreSQL database within an hour are all
        # answered; the budget queries themselves still run, so their cost is measured.
        self.config_path.write_text(
            f'[database]\nurl = "{url}"\n'
            f'[smtp]\nhost = "127.0.0.1"\nport = {self.smtp_port}\ndomains = ["{domain}"]\n'
            f'[http]\nhost = "127.0.0.1"\nport = {self.http_port}\n'
            f'public_base_url = "http://127.0.0.1:{self.http_port}"\n'
            f'[outbound.email]\nfrom = "City 311 <reports@{domain}>"\n'
            f'relay_host = "127.0.0.1"\nrelay_port = {relay_port}\n'
            "[replies]\nper_sender_per_hour = 1000000\nglobal_per_hour = 1000000\n"
        )
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    async def start(self, *, within: float = 120.0) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        with self.log_path.open("ab") as log:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gateway", "serve", "--config", str(self.config_path),
                cwd=REPO_ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=log,
            )  # fmt: skip
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self._proc.returncode is not None:
                raise RuntimeError(f"inbox311 serve exited with {self._proc.returncode}:\n{self.log_tail()}")
            try:
                await self.health()
                return
            except (httpx.HTTPError, RuntimeError):
                await asyncio.sleep(0.1)
        raise RuntimeError(f"inbox311 serve not healthy after {within:.0f} s:\n{self.log_tail()}")

    async def health(self) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(f"http://127.0.0.1:{self.http_port}/healthz")
        if response.status_code != 200:
            raise RuntimeError(f"healthz {response.status_code}: {response.text}")
        return response.json()

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    async def stop(self) -> int:
        if self._proc is None:
            return 0
        if self._proc.returncode is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self._proc.wait(), 60)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()
        return self._proc.returncode or 0


class Profiler:
    """py-spy recording one process; the output format follows the file's suffix (.svg, .json speedscope, raw)."""

    def __init__(self, pid: int, path: Path) -> None:
        exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(exe).exists():
            raise SystemExit("--profile needs py-spy (pip install py-spy)")
        fmt = {".svg": "flamegraph", ".json": "speedscope"}.get(path.suffix, "raw")
        self._cmd = [exe, "record", "--pid", str(pid), "--output", str(path), "--format", fmt, "--rate", "100"]
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            *self._cmd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        await asyncio.sleep(0.5)  # let it attach before the load starts

    async def stop(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
            await asyncio.wait_for(self._proc.wait(), 60)
