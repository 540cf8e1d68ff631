"""The SMTP edge's protocol alone: the service's `IngestSMTP` and aiosmtpd's own `SMTP`, each with a handler that
answers 250 at once, under both of the load generator's clients (`plain`, which pipelines where PIPELINING is
offered, and aiosmtplib, one command a round trip). Printed for each: messages/s and the CPU a message of the
server and of the client, from `/proc` and `getrusage`; the server's CPU is the figure to compare (it is what the
edge costs the service's event loop), aiosmtpd's `SMTP` with aiosmtplib the baseline of the same run.

    .venv/bin/python -m bench.smtp_edge [--messages 3000] [--connections 16] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from aiosmtpd.smtp import SMTP

from bench._common import (
    CLIENTS,
    BareHandler,
    OutgoingMail,
    build_mails,
    drive_smtp,
    median,
    process_cpu_seconds,
    serve_smtp,
)
from gateway.ingest.smtp_scan import IngestSMTP

ROOT = Path(__file__).resolve().parents[1]
PROTOCOLS: dict[str, type[SMTP]] = {"aiosmtpd": SMTP, "ingest": IngestSMTP}


async def one(protocol: str, client: str, mails: list[OutgoingMail], connections: int) -> tuple[float, float, float]:
    """(messages/s, server CPU ms a message, client CPU ms a message)."""
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.smtp_edge", "--serve", protocol, cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert server.stdout is not None
        announced = (await server.stdout.readline()).split()  # `port N` once it listens (on a port of its own)
        if announced[:1] != [b"port"]:
            raise SystemExit(f"the {protocol} server did not start")
        port = int(announced[1])
        cpu = process_cpu_seconds(server.pid)
        load = await drive_smtp(port, mails, connections, client=client)
        cpu = process_cpu_seconds(server.pid) - cpu
    finally:
        server.kill()
        await server.wait()
    if load.errors:
        raise SystemExit(f"{protocol} with {client}: {len(load.errors)} errors, e.g. {load.errors[0]}")
    return load.rate, cpu * 1000 / len(mails), load.client_cpu * 1000 / len(mails)


async def bench(args: argparse.Namespace) -> None:
    mails = build_mails(args.messages, run_id="edge", domain="city.example")
    results: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    for _ in range(args.rounds):  # the four in turn, round after round, so that a slow spell touches them all
        for protocol in PROTOCOLS:
            for client in reversed(CLIENTS):
                results.setdefault((protocol, client), []).append(await one(protocol, client, mails, args.connections))
    base = median([server for _, server, _ in results[("aiosmtpd", "aiosmtplib")]])
    print(f"{args.messages} messages, {args.connections} connections, medians of {args.rounds} rounds")
    for (protocol, client), runs in results.items():
        rate, server, own = (median(list(column)) for column in zip(*runs, strict=True))
        print(
            f"  {protocol:8} with {client:10}  {rate:7.0f} msg/s  server {server:.3f} ms/msg ({server / base:.2f}x of"
            f" aiosmtpd with aiosmtplib)  client {own:.3f} ms/msg"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--serve", choices=PROTOCOLS, help=argparse.SUPPRESS)  # the server process
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve_smtp(BareHandler(), "edge.example", protocol=PROTOCOLS[args.serve]))
    else:
        asyncio.run(bench(args))


if __name__ == "__main__":
    main()
