"""Parse speed: `parse_email` on the benchmark's ~4 KB report emails, next to the bare stdlib MIME parse of the same
bytes measured in the same run. `parse_email` does the stdlib parse and then decodes, sanitises, strips the quoted
reply, reads authentication results and sniffs attachments, so its ratio says what all that costs. Each mail has a
boundary of its own, as real mail does; the bare parse compiles a regular expression for each (as the stdlib does),
`parse_email` does not (`parsers/boundaries.py`).

    .venv/bin/python -m bench.parse_email [--count 500] [--rounds 5]
"""

from __future__ import annotations

import argparse
import email.feedparser
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.policy import compat32

from bench._common import build_mails, median
from parsers.email import parse_email


def per_message_seconds(parse: Callable[[bytes], object], mails: list[bytes], rounds: int) -> float:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        for data in mails:
            parse(data)
        timings.append((time.perf_counter() - started) / len(mails))
    return median(timings)


@contextmanager
def stdlib_boundaries() -> Iterator[None]:
    """The stdlib's parser as it comes, without `parsers.boundaries` (which importing parse_email installs)."""
    installed, email.feedparser.re = email.feedparser.re, re  # type: ignore[attr-defined]
    try:
        yield
    finally:
        email.feedparser.re = installed  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    mails = [m.data for m in build_mails(args.count, run_id="parse", domain="city.example")]
    parse_email(mails[0])  # warm the lazy imports
    with stdlib_boundaries():
        bare = per_message_seconds(lambda data: message_from_bytes(data, policy=compat32), mails, args.rounds)
    ours = per_message_seconds(parse_email, mails, args.rounds)
    size = sum(map(len, mails)) / len(mails)
    print(f"messages: {len(mails)} of {size / 1024:.1f} KB on average, median of {args.rounds} rounds")
    print(f"bare stdlib parse : {bare * 1e6:8.0f} µs/msg  {1 / bare:8.0f} msg/s")
    print(f"parse_email       : {ours * 1e6:8.0f} µs/msg  {1 / ours:8.0f} msg/s  ({bare / ours:.2f}x bare)")


if __name__ == "__main__":
    main()
