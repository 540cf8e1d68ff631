"""SMTP ingest benchmark: report emails into a running `inbox311 serve`, until every reply is back at the relay sink.

Each repetition first drives the same client load into a bare aiosmtpd handler that only answers 250 (the baseline),
then starts the service as a subprocess (fresh SQLite database in a temporary directory unless --db, SMTP
and HTTP on free loopback ports, its relay a sink server in a third process) and drives the load into it. Printed:
accepted msg/s (send -> 250), end-to-end msg/s (first send -> last reply at the sink), p50/p99 latencies, and CPU
milliseconds per message in each server process, with throughput as a ratio of the bare baseline of the same run.

    .venv/bin/python bench/ingest_smtp.py                                  # 2000 messages, 16 connections, SQLite
    .venv/bin/python bench/ingest_smtp.py --repeat 3 --json bench/results/smtp.json   # median of three, saved
    .venv/bin/python bench/ingest_smtp.py --db postgresql://user@127.0.0.1/inbox311_bench
    .venv/bin/python bench/ingest_smtp.py --db postgresql://user@127.0.0.1/inbox311_bench --instances 2  # scale-out
    .venv/bin/python bench/ingest_smtp.py --profile serve.svg               # py-spy flame graph of the service
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    CLIENTS,
    LoadResult,
    OutgoingMail,
    ServerProcess,
    build_mails,
    children_cpu_seconds,
    drive_smtp,
    drive_split,
    idle_share,
    machine_cpu_ticks,
    median,
    percentile,
    process_cpu_seconds,
    run_server,
)
from _minimal import run_minimal
from _service import Profiler, ServiceProcess

SCRIPT = Path(__file__).resolve()
DOMAIN = "city.example"
TARGET_E2E_RATIO = 0.25  # end-to-end throughput as a share of the bare handler's (issue 2)
TARGET_P99_MS = 1000.0


async def wait_for_replies(
    sink: ServerProcess, within: float, still_busy: Callable[[], Awaitable[bool]] | None = None
) -> None:
    """Until the sink has every reply, `within` seconds pass, or nothing arrives for 5 s while `still_busy` (if
    the server can tell) says nothing is left in flight."""
    deadline = time.monotonic() + within
    while sink.matched < len(sink.expected) and time.monotonic() < deadline:
        sink.arrived.clear()
        try:
            await asyncio.wait_for(sink.arrived.wait(), 5)
        except TimeoutError:  # nothing for 5 s: is anything still on its way?
            if still_busy is None or not await still_busy():
                return


async def service_busy(service: ServiceProcess) -> bool:
    """Whether the service's /healthz shows raw rows or outbox rows still in flight."""
    details = await service.health()
    raw, outbox = details.get("raw", {}), details.get("outbox", {})
    busy = raw.get("pending", 0) + raw.get("processing", 0) + outbox.get("pending", 0) + outbox.get("sending", 0)
    return busy > 0


def end_to_end(load: LoadResult, sink: ServerProcess) -> dict[str, Any]:
    """Replies at the sink per second from the first send to the last reply, and each mail's send -> reply."""
    replied = [(mid, sink.arrivals[mid]) for mid in load.sent if mid in sink.arrivals]
    latencies = [(arrived - load.sent[mid][0]) * 1000 for mid, arrived in replied]
    last = max((arrived for _, arrived in replied), default=load.started)
    p50, p99 = _ms(latencies)
    rate = round(len(replied) / (last - load.started), 1) if replied else 0.0
    return {"e2e_msgs_per_s": rate, "e2e_p50_ms": p50, "e2e_p99_ms": p99, "replies": len(replied)}


def _ms(values: list[float]) -> tuple[float, float]:
    return round(percentile(values, 50), 1), round(percentile(values, 99), 1)


async def measure_bare(mails: list[OutgoingMail], connections: int, client: str) -> dict[str, Any]:
    server = await ServerProcess(SCRIPT, "bare").start()
    cpu = process_cpu_seconds(server.pid)
    load = await drive_smtp(server.port, mails, connections, client=client)
    cpu = process_cpu_seconds(server.pid) - cpu
    await server.stop()
    p50, p99 = _ms(load.transaction_ms())
    return {
        "msgs_per_s": round(load.rate, 1),
        "smtp_p50_ms": p50,
        "smtp_p99_ms": p99,
        "server_cpu_ms_per_msg": round(cpu * 1000 / len(mails), 3),
        "client_cpu_ms_per_msg": round(load.client_cpu * 1000 / len(mails), 3),
        "errors": len(load.errors),
    }


async def measure_minimal(mails: list[OutgoingMail], args: argparse.Namespace) -> dict[str, Any]:
    """The second baseline (bench/_minimal.py): the same load, until every acknowledgement is back at a sink."""
    sink = await ServerProcess(SCRIPT, "sink").start()
    sink.expected = {m.message_id for m in mails}
    server = await ServerProcess(SCRIPT, "minimal", "--relay-port", str(sink.port)).start()
    try:
        cpu, sink_cpu = process_cpu_seconds(server.pid), process_cpu_seconds(sink.pid)
        load = await drive_smtp(server.port, mails, args.connections, rate=args.rate, client=args.client)
        await wait_for_replies(sink, args.timeout)
        cpu, sink_cpu = process_cpu_seconds(server.pid) - cpu, process_cpu_seconds(sink.pid) - sink_cpu
    finally:
        await server.stop()
        await sink.stop()
    e2e = end_to_end(load, sink)
    return {
        "accepted_msgs_per_s": round(load.rate, 1),
        **e2e,
        "server_cpu_ms_per_msg": round(cpu * 1000 / len(mails), 3),
        "sink_cpu_ms_per_msg": round(sink_cpu * 1000 / len(mails), 3),
        "missing_replies": len(mails) - e2e["replies"],
        "errors": len(load.errors),
    }


async def measure_service(
    mails: list[OutgoingMail], args: argparse.Namespace, workdir: Path, profile: Path | None
) -> dict[str, Any]:
    """The service end to end: `--instances` serve processes on one database, the mail shared out among them."""
    sink = await ServerProcess(SCRIPT, "sink").start()
    sink.expected = {m.message_id for m in mails}
    services: list[ServiceProcess] = []
    try:
        for k in range(args.instances):  # one after the other: the first brings the schema up to date
            home = workdir / f"instance{k + 1}" if k else workdir
            home.mkdir(parents=True, exist_ok=True)
            services.append(ServiceProcess(home, domain=DOMAIN, relay_port=sink.port, database_url=args.database_url))
            await services[-1].start()
        profiler = Profiler(services[0].pid, profile) if profile else None
        if profiler:
            await profiler.start()
        cpu, sink_cpu, machine = _cpu(services), process_cpu_seconds(sink.pid), machine_cpu_ticks()
        children_before = _children_cpu(services)
        load = await drive_split(
            [s.smtp_port for s in services], mails, args.connections, rate=args.rate, client=args.client
        )
        await wait_for_replies(sink, args.timeout, lambda: service_busy(services[0]))
        idle = idle_share(machine, machine_cpu_ticks())
        cpu, sink_cpu = _cpu(services) - cpu, process_cpu_seconds(sink.pid) - sink_cpu
        children_after = _children_cpu(services)
        children_cpu = {k: v - children_before.get(k, 0.0) for k, v in children_after.items()}
        if profiler:
            await profiler.stop()
        health = await services[0].health()  # (its counts are the database's: every instance's work)
    finally:
        exit_codes = [await service.stop() for service in services]  # every one stopped, whatever the first says
        exit_code = next((code for code in exit_codes if code), 0)
        await sink.stop()
    return _service_figures(load, sink, mails, (cpu, children_cpu, sink_cpu), health, exit_code) | {
        "machine_idle_share": round(idle, 3)  # with PostgreSQL's own processes, which the CPU figures leave out
    }


def _cpu(services: list[ServiceProcess]) -> float:
    return sum(process_cpu_seconds(s.pid) for s in services)


def _children_cpu(services: list[ServiceProcess]) -> dict[str, float]:
    """The CPU seconds of every instance's child processes so far, by the name of each kind."""
    total: dict[str, float] = {}
    for service in services:
        for name, seconds in children_cpu_seconds(service.pid).items():
            total[name] = total.get(name, 0.0) + seconds
    return total


def _service_figures(
    load: LoadResult,
    sink: ServerProcess,
    mails: list[OutgoingMail],
    cpu_seconds: tuple[float, dict[str, float], float],  # the service's process, its children by name, the sink
    health: dict[str, Any],
    exit_code: int,
) -> dict[str, Any]:
    n = len(mails)
    cpu, children_cpu, sink_cpu = cpu_seconds
    p50, p99 = _ms(load.transaction_ms())
    e2e = end_to_end(load, sink)
    return {
        "accepted_msgs_per_s": round(load.rate, 1),
        "smtp_p50_ms": p50,
        "smtp_p99_ms": p99,
        "e2e_msgs_per_s": e2e["e2e_msgs_per_s"],
        "e2e_p50_ms": e2e["e2e_p50_ms"],
        "e2e_p99_ms": e2e["e2e_p99_ms"],
        "service_cpu_ms_per_msg": round(cpu * 1000 / n, 3),
        "child_processes_cpu_ms_per_msg": round(sum(children_cpu.values()) * 1000 / n, 3),
        "parse_processes_cpu_ms_per_msg": round(children_cpu.get("inbox311-parse", 0.0) * 1000 / n, 3),
        "send_process_cpu_ms_per_msg": round(children_cpu.get("inbox311-send", 0.0) * 1000 / n, 3),
        "sink_cpu_ms_per_msg": round(sink_cpu * 1000 / n, 3),
        "client_cpu_ms_per_msg": round(load.client_cpu * 1000 / n, 3),
        "replies": e2e["replies"],
        "missing_replies": n - e2e["replies"],
        "errors": len(load.errors),
        "first_errors": load.errors[:3],
        "raw_states": health.get("raw", {}),
        "outbox_states": health.get("outbox", {}),
        "serve_exit_code": exit_code,
    }


async def one_run(k: int, args: argparse.Namespace, base_id: str, root: Path) -> dict[str, Any]:
    """Baseline, service, baseline again: the faster baseline counts (noise from other work only ever slows)."""
    mails = build_mails(args.messages, run_id=f"{base_id}-{k}", domain=DOMAIN)
    before = await measure_bare(mails, args.connections, args.client)
    workdir = root / f"run{k}"
    workdir.mkdir(parents=True, exist_ok=True)
    profile = None
    if args.profile:
        profile = args.profile if args.repeat == 1 else args.profile.with_stem(f"{args.profile.stem}-{k}")
    service = await measure_service(mails, args, workdir, profile)
    minimal = await measure_minimal(mails, args)
    after = await measure_bare(mails, args.connections, args.client)
    bare = max(before, after, key=lambda b: b["msgs_per_s"])
    bare["before_after_msgs_per_s"] = [before["msgs_per_s"], after["msgs_per_s"]]
    service["accepted_ratio"] = round(service["accepted_msgs_per_s"] / bare["msgs_per_s"], 3)
    service["e2e_ratio"] = round(service["e2e_msgs_per_s"] / bare["msgs_per_s"], 3)
    minimal["e2e_ratio"] = round(minimal["e2e_msgs_per_s"] / bare["msgs_per_s"], 3)
    service["e2e_of_minimal"] = round(service["e2e_msgs_per_s"] / minimal["e2e_msgs_per_s"], 3)
    service |= cpu_bound(service, bare["msgs_per_s"])
    return {"run": k, "mean_message_bytes": round(sum(len(m.data) for m in mails) / len(mails)),
            "bare": bare, "minimal": minimal, "service": service}  # fmt: skip


def cpu_bound(service: dict[str, Any], bare_msgs_per_s: float) -> dict[str, float]:
    """What the machine's cores allow at this run's CPU per message, every process counted (the service and its
    children, the sink, the load generator): the rate if every core were busy, and the CPU a message could use in
    all at the target rate. Above the first, no scheduling or overlap helps: only less work per message does."""
    cores = os.cpu_count() or 1
    total_ms = sum(service[k] for k in ("service_cpu_ms_per_msg", "child_processes_cpu_ms_per_msg",
                                        "sink_cpu_ms_per_msg", "client_cpu_ms_per_msg"))  # fmt: skip
    ceiling = cores * 1000 / total_ms if total_ms else 0.0
    return {
        "total_cpu_ms_per_msg": round(total_ms, 3),
        "cpu_ceiling_msgs_per_s": round(ceiling, 1),
        "cpu_ceiling_ratio": round(ceiling / bare_msgs_per_s, 3),
        "total_cpu_ms_per_msg_at_target": round(cores * 1000 / (TARGET_E2E_RATIO * bare_msgs_per_s), 3),
    }


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of every figure over the runs, with its min and max."""
    out: dict[str, Any] = {}
    for part in ("bare", "minimal", "service"):
        out[part] = {}
        for key, value in runs[0][part].items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                values = [r[part][key] for r in runs]
                out[part][key] = {"median": round(median(values), 3), "min": min(values), "max": max(values)}
    return out


def print_table(args: argparse.Namespace, runs: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    def fig(part: str, key: str) -> str:
        f = summary[part][key]
        spread = f" [{f['min']:g}-{f['max']:g}]" if len(runs) > 1 else ""
        return f"{f['median']:g}{spread}"

    db = "PostgreSQL" if args.database_url and args.database_url.startswith("postgres") else "SQLite"
    label = f"median of {len(runs)} runs [min-max]" if len(runs) > 1 else "1 run"
    offered = f"offered {args.rate:g} msg/s" if args.rate else "closed loop"
    size = runs[0]["mean_message_bytes"]
    conns = f"{args.connections} connections"
    if args.instances > 1:
        conns += f" shared by {args.instances} instances"
    print(f"SMTP ingest: {args.messages} messages (~{size} B), {conns}, {offered}, {db}, {label}")
    print(f"  bare aiosmtpd 250       {fig('bare', 'msgs_per_s')} msg/s  (1.00x)  "
          f"SMTP p50/p99 {fig('bare', 'smtp_p50_ms')} / {fig('bare', 'smtp_p99_ms')} ms  "
          f"server CPU {fig('bare', 'server_cpu_ms_per_msg')} ms/msg")  # fmt: skip
    print(f"  inbox311 accepted       {fig('service', 'accepted_msgs_per_s')} msg/s  "
          f"({fig('service', 'accepted_ratio')}x)  SMTP p50/p99 {fig('service', 'smtp_p50_ms')} / "
          f"{fig('service', 'smtp_p99_ms')} ms")  # fmt: skip
    print(f"  inbox311 end-to-end     {fig('service', 'e2e_msgs_per_s')} msg/s  ({fig('service', 'e2e_ratio')}x)  "
          f"send->reply p50/p99 {fig('service', 'e2e_p50_ms')} / {fig('service', 'e2e_p99_ms')} ms")  # fmt: skip
    print(f"  minimal pipeline        {fig('minimal', 'e2e_msgs_per_s')} msg/s  ({fig('minimal', 'e2e_ratio')}x)  "
          f"send->reply p50/p99 {fig('minimal', 'e2e_p50_ms')} / {fig('minimal', 'e2e_p99_ms')} ms  "
          f"server CPU {fig('minimal', 'server_cpu_ms_per_msg')} ms/msg; "
          f"inbox311 end-to-end is {fig('service', 'e2e_of_minimal')} of it")  # fmt: skip
    print(
        f"  CPU per message         service {fig('service', 'service_cpu_ms_per_msg')} ms "
        f"+ child processes {fig('service', 'child_processes_cpu_ms_per_msg')} ms "
        f"(parse {fig('service', 'parse_processes_cpu_ms_per_msg')}, "
        f"send {fig('service', 'send_process_cpu_ms_per_msg')}), "
        f"sink {fig('service', 'sink_cpu_ms_per_msg')} ms, client {fig('service', 'client_cpu_ms_per_msg')} ms"
    )
    print(
        f"  all cores busy          {fig('service', 'cpu_ceiling_msgs_per_s')} msg/s "
        f"({fig('service', 'cpu_ceiling_ratio')}x) at {fig('service', 'total_cpu_ms_per_msg')} ms CPU a message "
        f"in all; {TARGET_E2E_RATIO}x would allow {fig('service', 'total_cpu_ms_per_msg_at_target')} ms; "
        f"the machine was {fig('service', 'machine_idle_share')} idle"
    )
    ratio = summary["service"]["e2e_ratio"]["median"]
    p99 = summary["service"]["e2e_p99_ms"]["median"]
    print(f"  targets: end-to-end >= {TARGET_E2E_RATIO}x bare: {'met' if ratio >= TARGET_E2E_RATIO else 'NOT met'}; "
          f"p99 < {TARGET_P99_MS:g} ms: {'met' if p99 < TARGET_P99_MS else 'NOT met'}")  # fmt: skip
    for r in runs:
        m = r["minimal"]
        if m["missing_replies"] or m["errors"]:
            print(f"  run {r['run']}: minimal pipeline: {m['missing_replies']} replies missing, {m['errors']} errors")
        s = r["service"]
        if s["missing_replies"] or s["errors"] or s["serve_exit_code"]:
            print(f"  run {r['run']}: {s['missing_replies']} replies missing, {s['errors']} send errors "
                  f"{s['first_errors']}, serve exit {s['serve_exit_code']}, raw {s['raw_states']}, "
                  f"outbox {s['outbox_states']}")  # fmt: skip


def _database_url(url: str) -> str:
    """`postgresql://...` as psql takes it, or any SQLAlchemy async URL; the service needs an async driver."""
    for plain, driver in (("postgresql://", "postgresql+asyncpg://"), ("postgres://", "postgresql+asyncpg://")):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--messages", type=int, default=2000, help="messages per run (default 2000)")
    p.add_argument("--connections", type=int, default=16, help="concurrent SMTP connections (default 16)")
    p.add_argument("--rate", type=float, help="offer the service this many msg/s instead of as fast as it takes them")
    p.add_argument(
        "--db",
        "--database-url",
        dest="database_url",
        type=_database_url,
        help="service database URL, e.g. postgresql://user@host/db (default: SQLite in a temporary directory)",
    )
    p.add_argument(
        "--instances",
        type=int,
        default=1,
        help="serve processes on the one (PostgreSQL) database, the mail shared out among them (default 1)",
    )
    p.add_argument(
        "--client",
        choices=CLIENTS,
        default="plain",
        help="the load generator's SMTP client: plain (PIPELINING where offered, as mail servers send; the default)"
        " or aiosmtplib (one command a round trip)",
    )
    p.add_argument("--repeat", type=int, default=1, help="runs, each with its own baseline; medians are reported")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for replies after the last send")
    p.add_argument("--profile", type=Path, help="record the service with py-spy to this file (.svg, .json or raw)")
    p.add_argument("--workdir", type=Path, help="keep configs, databases and serve logs here (default: removed)")
    p.add_argument("--json", type=Path, metavar="FILE", help="also save every figure as JSON to FILE ('-': stdout)")
    p.add_argument("--check", action="store_true", help="exit 1 when a target of issue 2 is not met")
    p.add_argument("--server-role", choices=("bare", "sink", "minimal"), help=argparse.SUPPRESS)  # helper processes
    p.add_argument("--relay-port", type=int, help=argparse.SUPPRESS)  # the minimal pipeline's sink
    args = p.parse_args(argv)
    if args.instances < 1:
        p.error("--instances must be 1 or more")
    if args.instances > 1 and not (args.database_url or "").startswith("postgres"):
        p.error("--instances above 1 needs a PostgreSQL --db (a SQLite file has one instance)")
    return args


async def bench(args: argparse.Namespace) -> int:
    base_id = uuid.uuid4().hex[:8]  # Message-IDs never repeat, so runs against one PostgreSQL database stay apart
    with tempfile.TemporaryDirectory(prefix="inbox311-bench-") as tmp:
        root = args.workdir or Path(tmp)
        runs = [await one_run(k, args, base_id, root) for k in range(1, args.repeat + 1)]
    summary = summarise(runs)
    report = {
        "benchmark": "ingest_smtp",
        "messages": args.messages,
        "connections": args.connections,
        "instances": args.instances,
        "offered_msgs_per_s": args.rate,
        "database": "postgresql" if (args.database_url or "").startswith("postgres") else "sqlite",
        "cpus": os.cpu_count(),
        "targets": {"e2e_ratio_at_least": TARGET_E2E_RATIO, "e2e_p99_ms_below": TARGET_P99_MS},
        "median": summary,
        "runs": runs,
    }
    if args.json is not None and str(args.json) == "-":
        print(json.dumps(report, indent=2))
    else:
        print_table(args, runs, summary)
        if args.json is not None:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(report, indent=2) + "\n")
            print(f"  saved {args.json}")
    broken = any(r[part]["missing_replies"] or r[part]["errors"] for r in runs for part in ("service", "minimal"))
    missed = (
        summary["service"]["e2e_ratio"]["median"] < TARGET_E2E_RATIO
        or summary["service"]["e2e_p99_ms"]["median"] >= TARGET_P99_MS
    )
    return 1 if broken or (args.check and missed) else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.server_role == "minimal":
        asyncio.run(run_minimal(args.relay_port))
        return 0
    if args.server_role:
        asyncio.run(run_server(args.server_role))
        return 0
    return asyncio.run(bench(args))


if __name__ == "__main__":
    raise SystemExit(main())
