"""Location extraction measured on real 311 reports that carry the address of their map pin.

    python bench/location.py CORPUS_311_DIR [--sample N] [--show N]

The pin's address is not always written in the text, so the measure is against the street: a report *names its
place* when its text contains the street name of the pin address (e.g. "Dumont" for "1382 Dumont Ave"); those are
the positives for recall. A street location found by `extract_locations` (address, intersection, block; and a
bare street in the second line) is *correct* when it contains that street name; precision is over every report
whose best location is a street location. A reporter writing a different nearby street than the pin counts as
wrong here, so precision is a lower bound; `--show` prints random extractions for a reading by eye.
"""

from __future__ import annotations

import argparse
import csv
import random
import re
import sys
import time
from pathlib import Path

import usaddress

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from parsers.location import best_location, extract_locations
from parsers.types import Location

FILES = ("publicstuff_nyc.csv", "publicstuff_hoboken.csv", "boston_open311.csv", "seeclickfix_newport.csv")
BOILERPLATE = "This request was submitted to NYC 311 without a description."
STREET_KINDS = ("address", "intersection", "block")
_ORDINAL_SUFFIX = re.compile(r"(?<=\d)(?:st|nd|rd|th)\b")


def _norm(text: str) -> str:
    return " " + _ORDINAL_SUFFIX.sub("", re.sub(r"[^a-z0-9]+", " ", text.lower())).strip() + " "


def _street_name(part: str) -> str | None:
    try:
        parts, _ = usaddress.tag(part)
    except usaddress.RepeatedLabelError:
        return None
    name = parts.get("StreetName")
    if not name or (len(name) < 3 and not name.isdigit()):
        return None
    return _norm(name).strip() or None


def pin_streets(address: str) -> tuple[str, ...]:
    """The street names of a pin address: "1382 Dumont Ave, Brooklyn" -> ("dumont",); "Intersection Of Heath St &
    Lawn St" -> ("heath", "lawn")."""
    first = re.sub(r"(?i)^intersection of\s+", "", address.split(",")[0])
    names = (_street_name(part.strip()) for part in re.split(r"\s+(?:&|and)\s+", first))
    return tuple(n for n in names if n)


def _names(loc: Location, streets: tuple[str, ...]) -> bool:
    text = _norm(loc.text)
    return any(f" {street} " in text for street in streets)


def measure(rows: list[dict], kinds: tuple[str, ...] = STREET_KINDS) -> dict[str, float]:
    named = found_named = predicted = correct = 0
    for row in rows:
        streets = row["streets"]
        locs = extract_locations(row.get("title", ""), row["text"])
        best = best_location(locs)
        written = _norm(row.get("title", "") + " " + row["text"])
        if any(f" {street} " in written for street in streets):
            named += 1
            found_named += any(loc.kind in kinds and _names(loc, streets) for loc in locs)
        if best is not None and best.kind in kinds:
            predicted += 1
            correct += _names(best, streets)
    return {
        "reports": len(rows),
        "naming_their_street": named,
        "recall": found_named / named if named else 0.0,
        "street_locations_found": predicted,
        "precision": correct / predicted if predicted else 0.0,
    }


def load(corpus: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for name in FILES:
        path = corpus / name
        if not path.exists():
            continue
        with path.open(encoding="utf-8", newline="") as handle:
            rows = []
            for row in csv.DictReader(handle):
                text = "" if row["text"].strip() == BOILERPLATE else row["text"]
                streets = pin_streets(row["address"]) if row["address"] else ()
                if streets and (text.strip() or row.get("title", "").strip()):
                    rows.append({**row, "text": text, "streets": streets})
        out[name] = rows
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--show", type=int, default=0, help="print N random extractions")
    args = parser.parse_args()
    data = load(args.corpus)
    total_rows = 0
    started = time.perf_counter()
    for name, rows in data.items():
        total_rows += len(rows)
        for label, kinds in (("address/corner/block", STREET_KINDS), ("+ street only", (*STREET_KINDS, "street"))):
            result = measure(rows, kinds)
            print(
                f"{name:26} {label:21} reports {result['reports']:6d}  naming their street"
                f" {result['naming_their_street']:5d}  recall {result['recall']:.3f}  found"
                f" {result['street_locations_found']:5d}  precision {result['precision']:.3f}"
            )
    elapsed = time.perf_counter() - started
    print(f"{total_rows} reports measured twice in {elapsed:.2f} s ({2 * total_rows / elapsed:.0f} reports/s)")
    rng = random.Random(311)
    pool = [row for rows in data.values() for row in rows]
    for row in rng.sample(pool, min(args.show, len(pool))):
        best = best_location(extract_locations(row.get("title", ""), row["text"]))
        if best is not None:
            print(f"- [{best.kind} {best.confidence}] {best.text!r}  <- {row['text'][:140]!r}  (pin: {row['address']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
