"""How many real 311 reports duplicate detection would have linked, replaying each city's reports in time order.

    python bench/dedupe.py CORPUS_311_DIR [--distance 50] [--days 14]

Every report with coordinates, a time and a category (mapped to the taxonomy) arrives in order; it is linked
when `rules.dedupe.find_duplicate` finds an earlier, unlinked report of the same category within the distance
and window (status history is not in the data, so every report counts as open for the whole window). A second
pass hides the locations and links by wording alone; those links are checked against the coordinates (a text
link whose reports are more than 200 m apart is counted as wrong).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter, deque
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from parsers.types import GeoPoint
from rules.dedupe import ReportFacts, distance_m, find_duplicate
from rules.taxonomy import map_source_category

FILES = ("publicstuff_nyc.csv", "boston_open311.csv", "seeclickfix_newport.csv", "publicstuff_hoboken.csv")
BOILERPLATE = "This request was submitted to NYC 311 without a description."


def load(path: Path) -> list[ReportFacts]:
    out = []
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            category = map_source_category(row["source"], row["category"])
            if not category or not row["lat"] or not row["created_unix"]:
                continue
            text = "" if row["text"].strip() == BOILERPLATE else row["text"]
            out.append(
                ReportFacts(
                    category=category,
                    created_at=datetime.fromtimestamp(int(row["created_unix"]), UTC),
                    point=GeoPoint(float(row["lat"]), float(row["lon"])),
                    text=text.strip(),  # the resident's words; Newport titles are mostly the app's type name
                    ticket_id=len(out),
                )
            )
    return sorted(out, key=lambda r: r.created_at)


def replay(reports: list[ReportFacts], distance: float, window: timedelta, *, text_only: bool) -> Counter[str]:
    counts: Counter[str] = Counter()
    open_: dict[str, deque[ReportFacts]] = {}
    for report in reports:
        queue = open_.setdefault(report.category, deque())
        while queue and report.created_at - queue[0].created_at > window:
            queue.popleft()
        probe = ReportFacts(report.category, report.created_at, None, None, report.text) if text_only else report
        if text_only and not report.text:
            queue.append(report)
            continue
        match = find_duplicate(probe, queue, max_distance_m=distance, window=window)
        if match is None:
            queue.append(report)
            continue
        counts["linked"] += 1
        counts[f"linked:{report.category}"] += 1
        if text_only:
            original = next(t for t in queue if t.ticket_id == match.ticket_id)
            near = report.point and original.point and distance_m(report.point, original.point) <= 200
            counts["text_link_within_200m" if near else "text_link_farther"] += 1
    counts["reports"] = len(reports)
    counts["with_text"] = sum(1 for r in reports if r.text)
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--distance", type=float, default=50.0)
    parser.add_argument("--days", type=float, default=14.0)
    args = parser.parse_args()
    window = timedelta(days=args.days)
    for name in FILES:
        path = args.corpus / name
        if not path.exists():
            continue
        reports = load(path)
        by_place = replay(reports, args.distance, window, text_only=False)
        by_text = replay(reports, args.distance, window, text_only=True)
        top = sorted(
            ((k.split(":", 1)[1], v) for k, v in by_place.items() if k.startswith("linked:")), key=lambda kv: -kv[1]
        )[:6]
        share = by_place["linked"] / by_place["reports"] if by_place["reports"] else 0.0
        print(
            f"{name}: {by_place['reports']} reports, {by_place['linked']} linked by place ({share:.1%});"
            f" top: {', '.join(f'{k} {v}' for k, v in top)}"
        )
        print(
            f"    text only ({by_text['with_text']} with text): {by_text['linked']} linked,"
            f" {by_text['text_link_within_200m']} of them within 200 m of the ticket they joined"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
