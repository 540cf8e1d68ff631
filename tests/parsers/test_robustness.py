"""Nothing crashes the parser: hypothesis-generated input and thousands of damaged real messages either parse
or raise EmailParseError, and nothing else. The counts are printed (pytest -s)."""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsers.email import EmailParseError, parse_email
from parsers.types import ParsedMessage
from tests.parsers.email_fixtures import all_message_files

MUTATED_MESSAGES = 4000
SEED_MAX_BYTES = 24_000  # larger seeds only make the run slower, not harder
_BOUNDARY = re.compile(rb"boundary=\"?([^\";\r\n]+)", re.IGNORECASE)


def _feed(raw: bytes, tally: Counter[str]) -> None:
    try:
        parsed = parse_email(raw)
    except EmailParseError as exc:
        assert exc.reason_code
        tally[f"error:{exc.reason_code}"] += 1
    else:
        assert isinstance(parsed, ParsedMessage)
        assert parsed.sent_at is None or parsed.sent_at.tzinfo is not None
        tally["parsed"] += 1


def _flip_bytes(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 12)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def _truncate(raw: bytes, rng: random.Random) -> bytes:
    return raw[: rng.randrange(1, len(raw))]


def _duplicate_headers(raw: bytes, rng: random.Random) -> bytes:
    head, sep, body = raw.partition(b"\n\n") if b"\r\n\r\n" not in raw else raw.partition(b"\r\n\r\n")
    lines = head.splitlines(keepends=True)
    extra = [rng.choice(lines) for _ in range(rng.randint(1, 6))] if lines else []
    return b"".join(extra + lines) + sep + body


def _damage_boundary(raw: bytes, rng: random.Random) -> bytes:
    found = _BOUNDARY.search(raw)
    if not found:
        return raw.replace(b"\n", b"\n--broken\n", 1)
    boundary = found.group(1)
    choice = rng.randrange(3)
    if choice == 0:
        return raw.replace(b"--" + boundary + b"--", b"")  # the closing boundary never comes
    if choice == 1:
        return raw.replace(boundary, boundary[: max(1, len(boundary) // 2)], rng.randint(1, 3))
    return raw.replace(b"--" + boundary, b"--" + boundary + b"--", 1)  # closed too early


def _splice(raw: bytes, rng: random.Random) -> bytes:
    at = rng.randrange(len(raw))
    junk = rng.choice([b"\r\n\r\n", b"=?utf-8?B?", b"\x00" * 8, b"Content-Type: multipart/mixed\r\n", b"\xff\xfe"])
    return raw[:at] + junk + raw[at:]


MUTATIONS: tuple[Callable[[bytes, random.Random], bytes], ...] = (
    _flip_bytes, _truncate, _duplicate_headers, _damage_boundary, _splice,
)  # fmt: skip


def test_fuzzed_corpus_messages_never_crash_the_parser() -> None:
    seeds = [path.read_bytes() for path in all_message_files() if 200 < path.stat().st_size <= SEED_MAX_BYTES]
    rng = random.Random(3)
    tally: Counter[str] = Counter()
    started = time.perf_counter()
    for index in range(MUTATED_MESSAGES):
        raw = seeds[index % len(seeds)]
        for mutation in rng.sample(MUTATIONS, rng.randint(1, 2)):
            raw = mutation(raw, rng) if raw else raw
        _feed(raw, tally)
    elapsed = time.perf_counter() - started
    errors = sum(count for key, count in tally.items() if key.startswith("error:"))
    print(f"\nfuzz: {MUTATED_MESSAGES} mutated messages from {len(seeds)} seeds in {elapsed:.1f} s: "
          f"{tally['parsed']} parsed, {errors} EmailParseError {dict(sorted(tally.items()))}")  # fmt: skip
    assert tally["parsed"] + errors == MUTATED_MESSAGES
    assert tally["parsed"] > MUTATED_MESSAGES * 0.9  # damaged mail is still mail


_HEADER_NAMES = st.sampled_from(
    ["From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "References", "Content-Type",
     "Content-Transfer-Encoding", "Content-Disposition", "MIME-Version", "Auto-Submitted", "Return-Path",
     "Authentication-Results", "X-Whatever"]
)  # fmt: skip
_HEADER_VALUES = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        ["multipart/mixed; boundary=b", "multipart/alternative; boundary=\"x\"", "text/html; charset=bogus",
         "text/plain; charset=utf-8; format=flowed", "base64", "quoted-printable", "=?utf-8?B?w6k=?=",
         "attachment; filename*=utf-8''%E2%82%AC.txt", "<>", "message/rfc822", "multipart/report; "
         "report-type=delivery-status; boundary=b"]
    ),
)  # fmt: skip


@st.composite
def _messages(draw: st.DrawFn) -> bytes:
    headers = draw(st.lists(st.tuples(_HEADER_NAMES, _HEADER_VALUES), min_size=1, max_size=12))
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    parts = draw(st.lists(st.binary(max_size=300), max_size=4))
    body = b"".join(b"--b\r\nContent-Type: text/plain\r\n\r\n" + part + b"\r\n" for part in parts) + b"--b--\r\n"
    return head.encode("utf-8", "surrogateescape") + b"\r\n" + draw(st.sampled_from([body, b"", b"plain body"]))


def test_generated_input_never_crashes_the_parser() -> None:
    tally: Counter[str] = Counter()

    @settings(max_examples=500, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
    @given(st.binary(max_size=3000))
    def any_bytes(raw: bytes) -> None:
        _feed(raw, tally)

    @settings(max_examples=1000, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
    @given(_messages())
    def message_shaped(raw: bytes) -> None:
        _feed(raw, tally)

    any_bytes()
    message_shaped()
    total = sum(tally.values())
    errors = total - tally["parsed"]
    print(f"\nhypothesis: {total} generated inputs: {tally['parsed']} parsed, {errors} EmailParseError "
          f"{dict(sorted(tally.items()))}")  # fmt: skip
    assert total >= 1500
