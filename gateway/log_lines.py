"""The service's log: one line per event on stderr, `<date> <time>,<ms> <LEVEL> <logger> <message>`.

Under load the service logs three to four lines a message, so what each line costs counts. Python's logging
documentation names what a record does that such a line never shows (the caller's file and line, thread, process
and multiprocessing names); those are switched off. The date and time are formatted once a second, not per line.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class LineFormatter(logging.Formatter):
    """`logging.Formatter`'s own text for LINE_FORMAT, with the seconds' text kept until the next second."""

    def __init__(self) -> None:
        super().__init__(LINE_FORMAT)
        self._second = -1
        self._second_text = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:  # one handler's lock is held here: no other thread writes these two
            self._second_text = time.strftime(self.default_time_format, self.converter(second))
            self._second = second
        return self.default_msec_format % (self._second_text, record.msecs)


def configure_logging(level: str | int, stream: TextIO | None = None) -> None:
    """The root logger writes lines to `stream` (stderr) at `level`, as `logging.basicConfig` would."""
    logging._srcfile = None  # the documented switch: no stack walk to find the caller's file and line
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(LineFormatter())
    logging.basicConfig(level=level, handlers=[handler])
