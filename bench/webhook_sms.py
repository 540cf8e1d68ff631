"""Twilio SMS webhook benchmark: signed webhook requests at concurrency 32 into Inbox311's web app, next to a bare
ASGI endpoint (same uvicorn settings) that only reads and parses the form and answers empty TwiML.

Each repetition drives the same load, in this order, into three subprocesses:
- bare: the baseline endpoint;
- edge: the real web app (routes, middleware, signature check, group-committed raw store) on a fresh database, with
  no pipeline worker in the process: what Twilio waits for;
- serve: `inbox311 serve` as deployed in one process, its pipeline worker turning the texts into tickets meanwhile.
Every request to Inbox311 is signed for its public URL and carries its own MessageSid, so each is validated and
committed before its answer. Printed: requests/s and p50/p99 latency of each, the ratios to bare, and how long the
pipeline took to finish after the last answer. The targets (>= 0.5x bare, p99 < 50 ms) are checked on `edge`.

    .venv/bin/python bench/webhook_sms.py                       # 3000 requests, 32 at a time, SQLite
    .venv/bin/python bench/webhook_sms.py --edge-only            # bare and edge only (a minute, not several)
    .venv/bin/python bench/webhook_sms.py --repeat 3 --json      # median of three, machine-readable
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp
import httpx
from twilio.request_validator import RequestValidator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import free_port, load_reports, median, percentile, process_cpu_seconds

SCRIPT = Path(__file__).resolve()
REPO_ROOT = SCRIPT.parent.parent
PATH = "/webhooks/twilio/sms"
TOKEN = "bench-auth-token"
ACCOUNT_SID = "AC" + "b" * 32
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
TARGET_RATIO = 0.5
TARGET_P99_MS = 50.0
# Both servers: the uvicorn settings `inbox311 serve` uses (gateway/app.py), on a loop made by asyncio.run, as there.
UVICORN_SETTINGS: dict[str, Any] = {
    "lifespan": "off", "log_level": "warning", "access_log": False, "proxy_headers": False, "server_header": False,
}  # fmt: skip


# ---- the baseline: an ASGI endpoint that only parses the form ---------------------------------------------------


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    status = 200 if form.get("MessageSid") else 400
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/xml")]})
    await send({"type": "http.response.body", "body": EMPTY_TWIML})


async def serve_bare() -> None:
    import uvicorn

    port = free_port()
    print(f"port {port}", flush=True)
    await uvicorn.Server(uvicorn.Config(bare_app, host="127.0.0.1", port=port, **UVICORN_SETTINGS)).serve()


async def serve_edge(config: Path) -> None:
    """The web app and raw store of `inbox311 serve`, built the same way, without the pipeline worker."""
    import uvicorn

    from gateway.app import build_services
    from gateway.heap import settle_heap
    from gateway.ingest.writer import RawWriter
    from gateway.metrics import Metrics
    from gateway.settings import load_settings
    from gateway.web.app import build_page_templates, create_web_app
    from gateway.web.deps import WebContext
    from storage.db import Database, upgrade

    settings = load_settings(config)
    await upgrade(settings.database.url)
    db = Database(settings.database.url)
    writer = RawWriter(db)
    writer.start()

    async def health() -> tuple[bool, dict[str, Any]]:
        return True, {}

    ctx = WebContext(settings=settings, db=db, metrics=Metrics(), services=build_services(settings),
                     templates=build_page_templates(), health=health, parts={"writer": writer})  # fmt: skip
    app = create_web_app(ctx)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.http.port, **UVICORN_SETTINGS))
    settle_heap()  # as `serve` does once started: a full collection under load must not walk the model and templates
    await server.serve()  # until SIGTERM
    await writer.stop()
    await db.dispose()


# ---- the load -----------------------------------------------------------------------------------------------------


def build_requests(count: int, url: str, run_id: str) -> list[tuple[bytes, str]]:
    """Form bodies of inbound texts (real 311 report wording) with the signature Twilio would send for `url`."""
    validator = RequestValidator(TOKEN)
    reports = load_reports()
    rng = random.Random(run_id)
    out = []
    for i in range(count):
        sid = "SM" + hashlib.sha256(f"{run_id}:{i}".encode()).hexdigest()[:32]  # unique: no request is a redelivery
        form = {
            "ToCountry": "US", "ToState": "IL", "SmsMessageSid": sid, "NumMedia": "0", "ToCity": "CHICAGO",
            "FromZip": "60613", "SmsSid": sid, "FromState": "IL", "SmsStatus": "received", "FromCity": "CHICAGO",
            "Body": rng.choice(reports).text[:320], "FromCountry": "US", "To": "+13125550199", "ToZip": "60601",
            "NumSegments": "2", "MessageSid": sid, "AccountSid": ACCOUNT_SID,
            "From": f"+1773555{rng.randrange(10000):04d}", "ApiVersion": "2010-04-01",
        }  # fmt: skip
        out.append((urlencode(form).encode(), validator.compute_signature(url, form)))
    return out


async def drive(port: int, requests: list[tuple[bytes, str]], concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []
    queue = iter(requests)
    connector = aiohttp.TCPConnector(limit=concurrency)
    url = f"http://127.0.0.1:{port}{PATH}"
    async with aiohttp.ClientSession(connector=connector) as session:

        async def work() -> None:
            for body, sig in queue:  # one shared iterator: each worker takes the next request when it is free
                headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig}
                start = time.monotonic()
                try:
                    async with session.post(url, data=body, headers=headers) as response:
                        await response.read()
                        if response.status != 200:
                            errors.append(f"HTTP {response.status}")
                            continue
                except aiohttp.ClientError as exc:
                    errors.append(type(exc).__name__)
                    continue
                latencies.append((time.monotonic() - start) * 1000)

        started = time.monotonic()
        await asyncio.gather(*(work() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    return {
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "errors": len(errors),
        "first_errors": errors[:3],
    }


# ---- the two servers ---------------------------------------------------------------------------------------------


async def _spawn(args: list[str], env: dict[str, str] | None = None, log: Path | None = None) -> Any:
    stderr = log.open("ab") if log else asyncio.subprocess.DEVNULL
    try:
        return await asyncio.create_subprocess_exec(sys.executable, *args, cwd=REPO_ROOT, env=env,
                                                    stdout=asyncio.subprocess.PIPE, stderr=stderr)  # fmt: skip
    finally:
        if log:
            stderr.close()  # type: ignore[union-attr]


async def _stop(proc: Any) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 60)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def _wait_http(port: int, within: float = 120.0) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=5) as client:
        while time.monotonic() < deadline:
            try:
                await client.get(f"http://127.0.0.1:{port}/healthz")
                return
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
    raise RuntimeError(f"nothing answers on port {port}")


async def _pending(port: int) -> int:
    async with httpx.AsyncClient(timeout=10) as client:
        raw = (await client.get(f"http://127.0.0.1:{port}/healthz")).json().get("raw", {})
    return raw.get("pending", 0) + raw.get("processing", 0)


async def measure_bare(count: int, concurrency: int, run_id: str) -> dict[str, Any]:
    proc = await _spawn([str(SCRIPT), "--bare-server"])
    try:
        port = int((await asyncio.wait_for(proc.stdout.readline(), 30)).split()[1])
        await _wait_http(port)
        await drive(port, build_requests(200, "http://warm.up", run_id + "w"), concurrency)
        cpu = process_cpu_seconds(proc.pid)
        result = await drive(port, build_requests(count, "http://bare", run_id), concurrency)
        result["server_cpu_ms_per_request"] = round((process_cpu_seconds(proc.pid) - cpu) * 1000 / count, 3)
        return result
    finally:
        await _stop(proc)


def write_config(workdir: Path, db_url: str | None) -> tuple[Path, int, str]:
    workdir.mkdir(parents=True, exist_ok=True)
    http_port, smtp_port = free_port(), free_port()
    public = f"http://127.0.0.1:{http_port}"
    url = db_url or f"sqlite+aiosqlite:///{workdir / 'inbox311.db'}"
    config = workdir / "inbox311.toml"
    config.write_text(
        f'[database]\nurl = "{url}"\n[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\n'
        f'[http]\nhost = "127.0.0.1"\nport = {http_port}\npublic_base_url = "{public}"\n'
        f'[twilio]\nauth_token = "{TOKEN}"\nfrom_number = "+13125550199"\n'
        '[replies]\nper_sender_per_hour = 1000000\nglobal_per_hour = 1000000\n[logging]\nlevel = "WARNING"\n'
    )
    return config, http_port, public


async def measure_service(
    count: int, concurrency: int, run_id: str, workdir: Path, db_url: str | None, *, edge: bool
) -> dict[str, Any]:
    """Load into the edge (web app and raw store only) or into the whole `inbox311 serve`."""
    config, http_port, public = write_config(workdir, db_url)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    args = [str(SCRIPT), "--edge-server", str(config)] if edge else ["-m", "gateway", "serve", "--config", str(config)]
    proc = await _spawn(args, env=env, log=workdir / "serve.log")
    try:
        await _wait_http(http_port)
        await drive(http_port, build_requests(200, public + PATH, run_id + "w"), concurrency)
        cpu = process_cpu_seconds(proc.pid)
        result = await drive(http_port, build_requests(count, public + PATH, run_id), concurrency)
        result["server_cpu_ms_per_request"] = round((process_cpu_seconds(proc.pid) - cpu) * 1000 / count, 3)
        if not edge:
            answered = time.monotonic()
            # The texts become tickets after their answers: how long does that take?
            while await _pending(http_port):  # noqa: ASYNC110 (polling another process)
                await asyncio.sleep(0.2)
            result["pipeline_done_after_s"] = round(time.monotonic() - answered, 1)
        return result
    finally:
        await _stop(proc)


def _line(name: str, r: dict[str, Any]) -> str:
    return f"{name} {r['requests_per_s']} req/s p50 {r['p50_ms']} ms p99 {r['p99_ms']} ms"


async def main(args: argparse.Namespace) -> int:
    runs = []
    for n in range(args.repeat):
        run_id = f"{os.getpid():x}{n:02x}{int(time.time()) % 65536:04x}"
        with tempfile.TemporaryDirectory(prefix="bench-sms-") as tmp:
            bare = await measure_bare(args.requests, args.concurrency, run_id)
            edge = await measure_service(args.requests, args.concurrency, run_id + "e", Path(tmp, "edge"),
                                         args.database_url, edge=True)  # fmt: skip
            service = None
            if not args.edge_only:
                service = await measure_service(args.requests, args.concurrency, run_id + "s", Path(tmp, "serve"),
                                                args.database_url, edge=False)  # fmt: skip
        rate = bare["requests_per_s"] or 1.0
        run = {"bare": bare, "edge": edge, "ratio": round(edge["requests_per_s"] / rate, 2)}
        if service is not None:
            run.update(serve=service, serve_ratio=round(service["requests_per_s"] / rate, 2))
        runs.append(run)
        if not args.json:
            print(f"run {n + 1}: {_line('bare', bare)} | {_line('edge', edge)} | ratio {run['ratio']}x")
            if service is not None:
                print(f"       {_line('serve (pipeline in the same process)', service)} | ratio {run['serve_ratio']}x"
                      f" | pipeline done {service['pipeline_done_after_s']} s after the last answer")  # fmt: skip
            errors = [str(r["errors"]) if r else "-" for r in (bare, edge, service)]
            print(f"       errors bare/edge/serve {'/'.join(errors)}")
    summary = {
        "requests": args.requests,
        "concurrency": args.concurrency,
        "ratio_median": median([r["ratio"] for r in runs]),
        "edge_p99_ms_median": median([r["edge"]["p99_ms"] for r in runs]),
        "runs": runs,
    }
    ok = summary["ratio_median"] >= TARGET_RATIO and summary["edge_p99_ms_median"] < TARGET_P99_MS
    summary["targets"] = {"ratio": TARGET_RATIO, "p99_ms": TARGET_P99_MS, "met": ok}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"edge: median ratio {summary['ratio_median']}x (target >= {TARGET_RATIO}x), p99 "
            f"{summary['edge_p99_ms_median']} ms (target < {TARGET_P99_MS} ms): {'met' if ok else 'NOT met'}"
        )
    return 0 if ok else 1


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--database-url", default=None, help="e.g. a PostgreSQL URL; default: a fresh SQLite file")
    p.add_argument("--json", action="store_true")
    p.add_argument("--edge-only", action="store_true", help="skip the whole-service run (its pipeline takes minutes)")
    p.add_argument("--bare-server", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--edge-server", type=Path, help=argparse.SUPPRESS)
    return p.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.bare_server:
        asyncio.run(serve_bare())
    elif arguments.edge_server:
        asyncio.run(serve_edge(arguments.edge_server))
    else:
        sys.exit(asyncio.run(main(arguments)))
