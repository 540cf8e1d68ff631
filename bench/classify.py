"""Understanding speed: reports/s through parse + extract + classify, next to bare `nlp.pipe` of the same model.

    python bench/classify.py [--data training/test.csv] [--count 4000] [--batch 256] [--repeat 3]

The same real 311 texts go through these paths in one run, timed with the best of `--repeat` rounds (each round
runs every path once, so on a shared machine they all see the same load):
- bare: `nlp.pipe` over the model's input texts, nothing else (the ceiling);
- extract + classify: the understanding step on text already parsed (`extract_locations` + `classify_many`);
- sms: Twilio webhook form -> `parse_twilio_form` -> `extract_locations` -> `classify_many` (rules + model);
- email: an RFC 5322 message (text and HTML parts, a provider's trace headers) -> `parse_email` -> the same.
Each path prints reports/s and its ratio to bare; a breakdown shows where the time goes.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from parsers.email import parse_email  # noqa: E402
from parsers.location import extract_locations  # noqa: E402
from parsers.sms import parse_twilio_form  # noqa: E402
from parsers.types import ParsedMessage  # noqa: E402
from rules.classify import build_classifier  # noqa: E402
from rules.dataset import read_labelled_csv  # noqa: E402
from rules.textcat import model_text  # noqa: E402

HEADERS = (
    "Received: from mail-out7.mail.example (mail-out7.mail.example [198.51.100.7])\r\n\tby mx.city.example "
    "(Postfix) with ESMTPS id 4XyZ; {date}\r\n"
    "Authentication-Results: mx.city.example; dkim=pass header.d=mail.example; spf=pass "
    "smtp.mailfrom=mail.example; dmarc=pass header.from=mail.example\r\n"
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=mail.example; s=20240605;\r\n"
    "\th=to:subject:message-id:date:from:mime-version; bh=Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFy;\r\n"
    "\tb=QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODkrLw==\r\n"
)


def sms_form(i: int, text: str) -> bytes:
    return urlencode(
        {
            "MessageSid": f"SM{i:032x}",
            "AccountSid": "AC" + "0" * 32,
            "From": f"+1312555{i % 10000:04d}",
            "To": "+13125550100",
            "Body": text,
            "NumMedia": "0",
            "NumSegments": "1",
        }
    ).encode()


def email_bytes(i: int, subject: str, text: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Resident {i} <resident{i}@mail.example>"
    msg["To"] = "City 311 <reports@city.example>"
    msg["Subject"] = " ".join((subject or text[:60]).split())
    msg["Date"] = format_datetime(datetime(2025, 3, 1, 9, 30, tzinfo=UTC))
    msg["Message-ID"] = make_msgid(domain="mail.example")
    body = f"Hello,\n\n{text}\n\nThank you,\nResident {i}\n\nSent from my phone\n"
    msg.set_content(body)
    paragraphs = "".join(f"<div>{p}</div>" for p in body.split("\n") if p)
    msg.add_alternative(f'<div dir="ltr">{paragraphs}</div>', subtype="html")
    return HEADERS.format(date=msg["Date"]).encode() + msg.as_bytes()


def best_rates(paths: list[tuple[str, Callable[[], int]]], repeat: int) -> list[tuple[str, float]]:
    """Each path once per round, rounds repeated: on a shared machine every path sees the same mix of load."""
    best: dict[str, float] = {}
    for _ in range(repeat):
        for label, work in paths:
            started = time.perf_counter()
            done = work()
            best[label] = max(best.get(label, 0.0), done / (time.perf_counter() - started))
    return [(label, best[label]) for label, _ in paths]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "training" / "test.csv")
    parser.add_argument("--count", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    reports = read_labelled_csv(args.data)
    items = [(reports[i % len(reports)].subject, reports[i % len(reports)].text) for i in range(args.count)]
    classifier = build_classifier(None, None, 0.5)
    nlp = classifier.nlp
    assert nlp is not None
    inputs = [model_text(s, b) for s, b in items]
    forms = [sms_form(i, f"{s}\n{b}".strip()) for i, (s, b) in enumerate(items)]
    mails = [email_bytes(i, s, b) for i, (s, b) in enumerate(items)]

    def bare() -> int:
        return sum(1 for _ in nlp.pipe(inputs, batch_size=args.batch))

    def understand(parse: Callable[[bytes], ParsedMessage], raws: list[bytes]) -> Callable[[], int]:
        def run() -> int:
            done = 0
            for start in range(0, len(raws), args.batch):
                parsed = [parse(raw) for raw in raws[start : start + args.batch]]
                batch = [(p.subject, p.body_new or p.body_text, p.channel.value, p.sender) for p in parsed]
                for subject, body, _, _ in batch:
                    extract_locations(subject, body)
                done += len(classifier.classify_many(batch, batch_size=args.batch))
            return done

        return run

    def only(step: Callable[[], object]) -> Callable[[], int]:
        def run() -> int:
            step()
            return len(items)

        return run

    batch_items = [(s, b, "web", "") for s, b in items]

    def extract_and_classify() -> int:
        for subject, body in items:
            extract_locations(subject, body)
        return len(classifier.classify_many(batch_items, batch_size=args.batch))

    rows = best_rates(
        [
            ("bare nlp.pipe", bare),
            ("extract + classify (text in hand)", extract_and_classify),
            ("sms: parse + extract + classify", understand(parse_twilio_form, forms)),
            ("email: parse + extract + classify", understand(parse_email, mails)),
            ("  extract_locations only", only(lambda: [extract_locations(s, b) for s, b in items])),
            ("  classify_many only (rules + model)", only(lambda: classifier.classify_many(batch_items))),
            ("  rules only", only(lambda: classifier.rule_verdicts(batch_items))),
            ("  parse_twilio_form only", only(lambda: [parse_twilio_form(f) for f in forms])),
            ("  parse_email only", only(lambda: [parse_email(m) for m in mails])),
        ],
        args.repeat,
    )
    bare_rate = rows[0][1]
    print(f"{args.count} reports from {args.data.name}, batch {args.batch}, best of {args.repeat}")
    for label, rate in rows:
        print(f"{label:40} {rate:9.0f} reports/s   {rate / bare_rate:5.2f}x bare")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
