"""Build the shipped training and held-out files from the cities' 311 exports (run once; the output is committed).

    python training/build_dataset.py CORPUS_DIR [--out training]

Reads `publicstuff_nyc.csv`, `publicstuff_hoboken.csv` and `boston_open311.csv` from CORPUS_DIR, maps request
types to the taxonomy (`rules.taxonomy`), drops texts that say nothing, exact repeats and Boston's catch-all
`Other` (every topic under one label), caps each Boston type so one city's form letters do not drown the rest,
and splits 80/20 per category with a fixed seed. Newport's SeeClickFix data is never read here: its licence
allows evaluation only.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import defaultdict
from pathlib import Path

from rules.dataset import LabelledReport, read_labelled_csv, write_training_csv
from rules.wordforms import words_of

SEED = 311
TEST_SHARE = 0.2
BOSTON_CAP = 800  # rows per Boston request type
FILES = ("publicstuff_nyc.csv", "publicstuff_hoboken.csv", "boston_open311.csv")


def _key(report: LabelledReport) -> str:
    return " ".join(words_of(f"{report.subject} {report.text}"))


def load_reports(corpus: Path, boston_cap: int = BOSTON_CAP) -> list[LabelledReport]:
    rng = random.Random(SEED)
    seen: set[str] = set()
    out: list[LabelledReport] = []
    boston: dict[str, list[LabelledReport]] = defaultdict(list)
    for name in FILES:
        for report in read_labelled_csv(corpus / name):
            key = _key(report)
            if key in seen:
                continue
            seen.add(key)
            if report.source == "boston-open311":
                if report.source_category.lower() != "other":
                    boston[report.source_category].append(report)
            else:
                out.append(report)
    for request_type in sorted(boston):
        rows = boston[request_type]
        out.extend(rng.sample(rows, min(boston_cap, len(rows))))
    return out


def split(reports: list[LabelledReport]) -> tuple[list[LabelledReport], list[LabelledReport]]:
    """Per (source, category) 80/20, so every city and category is in both halves where it can be."""
    rng = random.Random(SEED)
    groups: dict[tuple[str, str], list[LabelledReport]] = defaultdict(list)
    for r in reports:
        groups[(r.source, r.category)].append(r)
    train: list[LabelledReport] = []
    test: list[LabelledReport] = []
    for key in sorted(groups):
        rows = groups[key]
        rng.shuffle(rows)
        n_test = round(len(rows) * TEST_SHARE) if len(rows) >= 3 else 0
        test.extend(rows[:n_test])
        train.extend(rows[n_test:])
    return train, test


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--boston-cap", type=int, default=BOSTON_CAP, help="rows kept per Boston request type")
    args = parser.parse_args(argv)
    train, test = split(load_reports(args.corpus, args.boston_cap))
    args.out.mkdir(parents=True, exist_ok=True)
    n_train = write_training_csv(args.out / "train.csv", train)
    n_test = write_training_csv(args.out / "test.csv", test)
    print(f"train {n_train} rows, test {n_test} rows -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
