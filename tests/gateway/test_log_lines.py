"""The service's log lines: the stdlib formatter's text, made cheaper."""

from __future__ import annotations

import io
import logging
import random
import re

from gateway.log_lines import LINE_FORMAT, LineFormatter, configure_logging


def _record(created: float) -> logging.LogRecord:
    record = logging.LogRecord("gateway.worker", logging.INFO, __file__, 1, "raw=%d ticket %s", (7, "SR-1"), None)
    record.created, record.msecs = created, (created - int(created)) * 1000
    return record


def test_lines_are_the_stdlib_formatters_text_across_seconds_and_days() -> None:
    ours, stdlib = LineFormatter(), logging.Formatter(LINE_FORMAT)
    moment = 1_798_761_590.0  # shortly before a new year (UTC), where every field of the date turns over
    rng = random.Random(5)
    for _ in range(3000):
        moment += rng.choice((0.0004, 0.013, 0.25, 0.999, 1.0, 86_400.0 / 7))
        record = _record(moment)
        assert ours.format(record) == stdlib.format(record)


def test_a_date_format_of_its_own_is_still_honoured() -> None:
    record = _record(1_798_761_590.5)
    assert LineFormatter().formatTime(record, "%Y") == logging.Formatter().formatTime(record, "%Y")


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_configured_logging_writes_one_line_per_event_without_caller_or_thread() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level, logging._srcfile, logging.logThreads, logging.logProcesses
    multiprocessing_names = logging.logMultiprocessing
    stream, kept = io.StringIO(), _Kept()
    try:
        root.handlers = []  # pytest's own, added for this test's call: basicConfig would leave them alone
        configure_logging("INFO", stream)
        root.addHandler(kept)
        logging.getLogger("gateway.worker").info("raw=%d ticket %s", 7, "SR-2026-000001")
        logging.getLogger("gateway.worker").debug("not at INFO")
    finally:
        root.handlers, level, logging._srcfile, logging.logThreads, logging.logProcesses = saved  # type: ignore[misc]
        root.setLevel(level)
        logging.logMultiprocessing = multiprocessing_names
    seen = kept.records
    [line] = stream.getvalue().splitlines()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO gateway.worker raw=7 ticket SR-2026-000001", line)
    [record] = seen
    assert record.funcName == "(unknown function)"  # the caller was not looked up
    assert record.threadName is None and record.processName is None
