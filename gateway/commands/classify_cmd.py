"""`inbox311 classify`: category, routing and location for reports read from stdin, one JSON line out per report.

    echo "huge pothole in front of 1420 W Addison St" | inbox311 classify
    inbox311 classify < reports.jsonl      # {"text": ..., "subject": ..., "channel": ..., "sender": ...}

A line that parses as a JSON object is read as one report (`text` or `body`, optional `subject`, `channel`,
`sender`); any other line is the text of one report. The same classifier, location finder and geocoder as the
pipeline, loaded once; lines are classified in batches for speed (one at a time when stdin is a terminal).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, TextIO

from gateway.settings import ConfigError, Settings

if TYPE_CHECKING:  # spaCy, usaddress and httpx load only when the command runs, not with the CLI
    from gateway.geocoding import ChainGeocoder
    from parsers.types import Classification, Location
    from rules.classify import RulesAndModelClassifier

ReportFields = tuple[str, str, str, str]  # subject, body, channel, sender (as rules.classify.ReportFields)


def register(sub: argparse._SubParsersAction, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    parser = sub.add_parser("classify", help="categorise reports read from stdin (text or JSON lines)")
    parser.add_argument("--rules", metavar="FILE", help="rules file (default: [rules] file)")
    parser.add_argument("--model", metavar="DIR", help="model directory (default: [rules] model)")
    parser.add_argument("--threshold", type=float, help="triage threshold (default: [rules] triage_threshold)")
    parser.add_argument("--batch", type=int, default=0, help="reports per batch (default 256, 1 on a terminal)")
    parser.add_argument("--no-geocode", action="store_true", help="do not turn addresses into coordinates")
    add_config(parser)
    parser.set_defaults(func=_classify)


def read_report(line: str) -> ReportFields | None:
    """One input line as (subject, body, channel, sender); None for a blank line."""
    if not line.strip():
        return None
    stripped = line.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            body = str(data.get("text") or data.get("body") or "")
            return (
                str(data.get("subject") or ""),
                body,
                str(data.get("channel") or "web"),
                str(data.get("sender") or ""),
            )
    return ("", line.rstrip("\n"), "web", "")


def location_json(location: Location | None, geocoder: ChainGeocoder | None) -> dict[str, Any] | None:
    if location is None:
        return None
    point = location.point
    if point is None and geocoder is not None and location.kind in ("address", "intersection", "block"):
        point = geocoder.geocode(location.text)
    return {
        "text": location.text,
        "kind": location.kind,
        "confidence": location.confidence,
        "lat": point.lat if point else None,
        "lon": point.lon if point else None,
        "source": location.source,
        "span": list(location.span) if location.span else None,
    }


def result_json(item: ReportFields, result: Classification, geocoder: ChainGeocoder | None) -> dict[str, Any]:
    from parsers.location import best_location, extract_locations

    subject, body, _, _ = item
    out = asdict(result)
    out["rule_hits"] = list(result.rule_hits)
    out["confidence"] = round(result.confidence, 4)
    out["location"] = location_json(best_location(extract_locations(subject, body)), geocoder)
    return out


def _batches(stream: TextIO, size: int) -> Iterator[list[ReportFields]]:
    batch: list[ReportFields] = []
    for line in stream:
        item = read_report(line)
        if item is not None:
            batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def classify_stream(
    classifier: RulesAndModelClassifier, stream: TextIO, out: TextIO, *, batch: int, geocoder: ChainGeocoder | None
) -> int:
    count = 0
    for items in _batches(stream, batch):
        for item, result in zip(items, classifier.classify_many(items), strict=True):
            out.write(json.dumps(result_json(item, result, geocoder), ensure_ascii=False) + "\n")
            count += 1
        out.flush()
    return count


def _classify(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.geocoding import build_geocoder
    from rules.classify import build_classifier
    from rules.types import RuleConfigError

    threshold = settings.rules.triage_threshold if args.threshold is None else args.threshold
    try:
        classifier = build_classifier(
            args.rules if args.rules is not None else settings.rules.file,
            args.model if args.model is not None else settings.rules.model,
            threshold,
        )
    except RuleConfigError as exc:
        raise ConfigError(str(exc)) from None
    geocoder = None if args.no_geocode else build_geocoder(settings.geocoder)
    batch = args.batch or (1 if sys.stdin.isatty() else 256)
    classify_stream(classifier, sys.stdin, sys.stdout, batch=batch, geocoder=geocoder)
    return 0
