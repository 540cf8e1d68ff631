"""The pipeline's transactions alone: CPU (or instructions) a message for the transactional stages of the service.

    .venv/bin/python -m bench.transactions [--messages 1000] [--callgrind]

`ingest_smtp.py` measures the whole service, on a shared 2-core machine whose speed varies by a third between
runs; a change worth a few per cent of the service's CPU is lost in that. This measures one part of it, the part
that runs for every message on the service's event loop: the benchmark's mails are stored as raw rows of a
throw-away SQLite database and read by the pure stages first (not measured), and then the worker commits them as
the service does (`[worker] batch_size` a batch, several messages a transaction, the statements of
`storage/sqlite_direct.py`, the audit events, the reply queued in the outbox). Printed: CPU a message of those
transactions, and of the claims that took the rows.

`--callgrind` runs the same under valgrind's callgrind with the counting switched on only for the transactions
(`callgrind_control`), and prints instructions a message: the same figure whatever else the machine is doing,
so two versions of the code can be compared in one go. Groups are closed by count alone here (the service also
closes one after 0.1 s of work, which under valgrind would split them by the tool's speed).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import gateway.worker  # noqa: E402
from bench._common import build_mails  # noqa: E402
from gateway.app import Inbox311  # noqa: E402
from gateway.settings import load_settings  # noqa: E402
from storage.db import upgrade  # noqa: E402
from storage.raw import NewRaw, store_raw_batch  # noqa: E402

DOMAIN = "city.example"
CONFIG = """[database]
url = "sqlite+aiosqlite:///{db}"
[smtp]
domains = ["{domain}"]
[worker]
parse_processes = 0
[outbound.email]
from = "City 311 <reports@{domain}>"
sender_process = false
[replies]
per_sender_per_hour = 1000000
global_per_hour = 1000000
"""
INNER = "INBOX311_BENCH_CALLGRIND"  # set in the process valgrind runs: switch the counting on and off


def _count(on: bool) -> None:
    if os.environ.get(INNER):
        subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(os.getpid())], check=True,
                       capture_output=True)  # fmt: skip


async def measure(messages: int, workdir: Path) -> tuple[int, float, float]:
    """(messages measured, CPU seconds a message of the claims, of all the measured transactions); the first batch
    only warms up."""
    config = workdir / "inbox311.toml"
    config.write_text(CONFIG.format(db=workdir / "inbox311.db", domain=DOMAIN))
    settings = load_settings(config)
    await upgrade(settings.database.url)
    app = Inbox311(settings)  # not started: no listeners, no loops of its own; only its worker is used
    mails = build_mails(messages, run_id="tx", domain=DOMAIN)
    raws = [
        NewRaw(channel="email", source="smtp", idempotency_key=f"mid:{m.message_id}", raw=m.data,
               message_id=m.message_id, envelope_from=m.sender, envelope_to=m.recipient)
        for m in mails
    ]  # fmt: skip
    batch = settings.worker.batch_size
    for start in range(0, len(raws), batch):
        async with app.db.write() as session:
            await store_raw_batch(session=session, items=raws[start : start + batch])
    worker = app.worker
    batches, claims = [], 0.0
    while True:
        started = time.process_time()
        rows = await worker._claim()
        claims += time.process_time() - started
        if not rows:
            break
        batches.append(await worker._prepare_rows(rows))
    group_seconds, gateway.worker.GROUP_SECONDS = gateway.worker.GROUP_SECONDS, float("inf")
    try:
        await worker._commit_in_groups(batches.pop(0))  # statements compiled, caches filled
        measured = sum(map(len, batches))
        gc.collect()
        _count(True)
        started = time.process_time()
        for ready in batches:
            await worker._commit_in_groups(ready)
        transactions = time.process_time() - started
        _count(False)
    finally:
        gateway.worker.GROUP_SECONDS = group_seconds
        await app.db.dispose()
    return measured, claims / messages, transactions


def under_callgrind(messages: int) -> None:
    command = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--callgrind-out-file=/dev/null",
               sys.executable, "-m", "bench.transactions", "--messages", str(messages)]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=os.environ | {INNER: "1"}, capture_output=True, text=True)
    counted = re.search(r"Collected : (\d+)", done.stderr)
    figures = re.search(r"^measured (\d+) ", done.stdout, re.MULTILINE)
    if done.returncode or counted is None or figures is None:
        raise SystemExit(f"valgrind run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    instructions, measured = int(counted.group(1)), int(figures.group(1))
    print(f"transactions: {instructions / measured / 1e6:.3f} million instructions a message ({measured} messages)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--callgrind", action="store_true", help="count instructions under valgrind instead")
    args = parser.parse_args()
    if args.messages < 64:
        parser.error("--messages: at least 64 (the first batch only warms up)")
    if args.callgrind:
        under_callgrind(args.messages)
        return
    with tempfile.TemporaryDirectory(prefix="inbox311-tx-") as workdir:
        measured, claims, transactions = asyncio.run(measure(args.messages, Path(workdir)))
    print(f"measured {measured} messages: transactions {transactions / measured * 1e3:.3f} ms CPU a message, "
          f"claims {claims * 1e3:.3f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
