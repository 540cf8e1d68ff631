"""Location extraction on real reports (Hoboken's 311 app): how often the pin's street is found in the text.

The full measurement over NYC, Boston and Newport is `bench/location.py`; this keeps a floor under it.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from parsers.location import best_location, extract_locations

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "311" / "publicstuff_hoboken.csv"
STREET_KINDS = ("address", "intersection", "block", "street")


def _pin_street(address: str) -> str:
    # Hoboken pins read "211  Madison St" or "501-549  11th Street": the first word after the number
    words = re.sub(r"^\d+(?:[–-]\d+)?\s+", "", address.strip()).split()
    return words[0].lower() if words else ""


def test_reports_that_name_their_street_are_found() -> None:
    rows = list(csv.DictReader(FIXTURE.open(encoding="utf-8", newline="")))
    naming = found = predicted = correct = 0
    for row in rows:
        street = _pin_street(row["address"])
        if not street or not row["text"].strip():
            continue
        locations = extract_locations("", row["text"])
        if re.search(rf"\b{re.escape(street)}", row["text"].lower()):
            naming += 1
            found += any(loc.kind in STREET_KINDS and street in loc.text.lower() for loc in locations)
        best = best_location(locations)
        if best is not None and best.kind in STREET_KINDS:
            predicted += 1
            correct += street in best.text.lower()
    assert naming >= 10
    assert found / naming >= 0.7
    assert predicted >= 10 and correct / predicted >= 0.6
