"""The SMTP ingest benchmark keeps working: its mails are realistic reports, and a short run gets every reply back."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from parsers.email import parse_email

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str, file: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCH / file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there while the class is made
    spec.loader.exec_module(module)
    return module


def _load_common() -> ModuleType:
    return _load("bench_common", "_common.py")


def _load_bench() -> ModuleType:
    return _load("bench_ingest_smtp", "ingest_smtp.py")


def _boundary(data: bytes) -> bytes:
    found = re.search(rb'boundary="([^"]+)"', data)
    assert found is not None
    return found.group(1)


def test_bench_mails_are_4kb_reports_from_distinct_residents() -> None:
    common = _load_common()
    mails = common.build_mails(60, run_id="t", domain="city.example")
    sizes = [len(m.data) for m in mails]
    assert 3500 <= sum(sizes) / len(sizes) <= 4500
    assert len({m.message_id for m in mails}) == len({m.sender for m in mails}) == 60
    boundaries = [_boundary(m.data) for m in mails]
    assert len(set(boundaries)) == 60  # a new one in every mail, as mail programs make them
    assert all(m.data.count(b"--" + b) == 3 for m, b in zip(mails, boundaries, strict=True))  # two parts and the end
    parsed = parse_email(mails[7].data)
    assert parsed.message_id == mails[7].message_id
    assert parsed.sender == mails[7].sender
    assert " at " in parsed.subject
    assert "Location:" in parsed.body_text


def test_percentile_interpolates_between_ranks() -> None:
    common = _load_common()
    assert common.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert common.percentile(list(range(101)), 99) == 99


def test_database_option_takes_a_plain_postgresql_url() -> None:
    bench = _load_bench()
    args = bench.parse_args(["--db", "postgresql://u@127.0.0.1:5432/b"])
    assert args.database_url == "postgresql+asyncpg://u@127.0.0.1:5432/b"
    assert bench.parse_args([]).database_url is None


def test_short_run_gets_every_reply_back_and_reports_ratios(tmp_path: Path) -> None:
    saved = tmp_path / "results" / "smtp.json"
    out = subprocess.run(
        [sys.executable, str(BENCH / "ingest_smtp.py"), "--messages", "20", "--connections", "4", "--json", str(saved),
         "--timeout", "60"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    table = out.stdout
    assert re.search(r"bare aiosmtpd 250\s+[\d.]+ msg/s\s+\(1\.00x\)", table), table
    assert re.search(r"inbox311 accepted\s+[\d.]+ msg/s\s+\([\d.]+x\)", table), table
    e2e = r"inbox311 end-to-end\s+[\d.]+ msg/s\s+\([\d.]+x\)\s+send->reply p50/p99 [\d.]+ / [\d.]+ ms"
    assert re.search(e2e, table), table
    minimal = r"minimal pipeline\s+[\d.]+ msg/s\s+\([\d.]+x\)\s+send->reply p50/p99 [\d.]+ / [\d.]+ ms"
    assert re.search(minimal + r".*inbox311 end-to-end is [\d.]+ of it", table), table
    assert re.search(r"targets: end-to-end >= 0.25x bare: (met|NOT met); p99 < 1000 ms: (met|NOT met)", table), table
    report = json.loads(saved.read_text())
    assert report["benchmark"] == "ingest_smtp" and report["messages"] == 20 and report["database"] == "sqlite"
    [run] = report["runs"]
    service = run["service"]
    assert service["replies"] == 20 and service["missing_replies"] == 0 and service["errors"] == 0
    assert service["serve_exit_code"] == 0
    assert run["bare"]["msgs_per_s"] > 0 and run["bare"]["errors"] == 0
    assert 0 < service["e2e_ratio"] <= service["accepted_ratio"]
    assert 0 < service["e2e_p50_ms"] <= service["e2e_p99_ms"]
    assert service["e2e_p50_ms"] >= service["smtp_p50_ms"]  # a reply cannot come back before its 250
    assert report["median"]["service"]["e2e_ratio"]["median"] == service["e2e_ratio"]
    # the second baseline, the minimal pipeline, answered every mail too (the sink matched each In-Reply-To)
    minimal = run["minimal"]
    assert minimal["missing_replies"] == 0 and minimal["errors"] == 0
    assert minimal["e2e_ratio"] > 0 and minimal["server_cpu_ms_per_msg"] > 0
    assert service["e2e_of_minimal"] == round(service["e2e_msgs_per_s"] / minimal["e2e_msgs_per_s"], 3)
    parts = ("service_cpu_ms_per_msg", "child_processes_cpu_ms_per_msg", "sink_cpu_ms_per_msg", "client_cpu_ms_per_msg")
    assert service["total_cpu_ms_per_msg"] == pytest.approx(sum(service[k] for k in parts), abs=0.002)
    kinds = service["parse_processes_cpu_ms_per_msg"], service["send_process_cpu_ms_per_msg"]
    assert all(k > 0 for k in kinds)  # the children are told apart by their names
    assert sum(kinds) <= service["child_processes_cpu_ms_per_msg"] + 0.002
    assert re.search(r"child processes [\d.]+ ms \(parse [\d.]+, send [\d.]+\)", table), table
    cores = report["cpus"]
    assert service["cpu_ceiling_msgs_per_s"] == pytest.approx(cores * 1000 / service["total_cpu_ms_per_msg"], rel=0.01)
    at_target = cores * 1000 / (0.25 * run["bare"]["msgs_per_s"])
    assert service["total_cpu_ms_per_msg_at_target"] == pytest.approx(at_target, rel=0.01)
    assert re.search(r"all cores busy\s+[\d.]+ msg/s \([\d.]+x\) at [\d.]+ ms CPU a message in all; "
                     r"0.25x would allow [\d.]+ ms; the machine was [\d.]+ idle", table), table  # fmt: skip
    assert 0 <= service["machine_idle_share"] < 1


def test_several_instances_need_postgresql() -> None:
    bench = _load_bench()
    try:
        bench.parse_args(["--instances", "2"])
    except SystemExit as exc:
        assert exc.code == 2
    else:
        raise AssertionError("--instances 2 on SQLite was accepted")
    assert bench.parse_args(["--instances", "2", "--db", "postgresql://u@h/b"]).instances == 2


def test_two_instances_on_postgresql_share_the_mail_and_answer_all_of_it(tmp_path: Path, pg_url: str) -> None:
    saved, workdir = tmp_path / "smtp.json", tmp_path / "work"
    out = subprocess.run(
        [sys.executable, str(BENCH / "ingest_smtp.py"), "--messages", "20", "--connections", "4", "--instances", "2",
         "--db", pg_url, "--json", str(saved), "--workdir", str(workdir), "--timeout", "60"],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "4 connections shared by 2 instances" in out.stdout and "PostgreSQL" in out.stdout, out.stdout
    report = json.loads(saved.read_text())
    assert report["instances"] == 2 and report["database"] == "postgresql"
    [run] = report["runs"]
    assert run["service"]["replies"] == 20 and run["service"]["errors"] == 0 and run["service"]["serve_exit_code"] == 0
    logs = [workdir / "run1" / "serve.log", workdir / "run1" / "instance2" / "serve.log"]
    accepted = [len(re.findall(r"smtp: accepted raw=", log.read_text())) for log in logs]
    assert accepted[0] >= 10 and accepted[1] >= 10, accepted  # each instance took its half over SMTP
