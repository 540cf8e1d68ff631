"""Labelled reports from CSV: the shipped training files and the cities' 311 exports, in one shape.

A file needs a `text` column and a `category` column; `subject` (or `title`), `source`, `id`, `address`, `lat`,
`lon` and `created_unix` are used when present. Categories are mapped to the taxonomy (`rules.taxonomy`), so a
city's export can be evaluated as it is. Rows without words, and app boilerplate that stands in for a missing
description, are left out: they say nothing about the category.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rules.taxonomy import map_source_category

# Placeholder texts that apps write when the resident wrote nothing.
BOILERPLATE = frozenset({"this request was submitted to nyc 311 without a description."})
TRAINING_COLUMNS = ("source", "id", "source_category", "category", "subject", "text")


@dataclass(frozen=True, slots=True)
class LabelledReport:
    subject: str
    text: str
    category: str
    source: str = ""
    id: str = ""
    source_category: str = ""


def _usable(subject: str, text: str) -> bool:
    body = "" if " ".join(text.lower().split()) in BOILERPLATE else text
    return any(c.isalnum() for c in subject + body)


def read_labelled_csv(path: str | Path, *, sources: Iterable[str] = ()) -> list[LabelledReport]:
    """Rows of a labelled CSV mapped to the taxonomy; rows that map to nothing are dropped.

    `sources` keeps only rows whose `source` column is one of them (all rows when empty).
    """
    keep = set(sources)
    return [r for r in iter_labelled_csv(path) if not keep or r.source in keep]


def iter_labelled_csv(path: str | Path) -> Iterator[LabelledReport]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields = set(reader.fieldnames or ())
        if not {"text", "category"} <= fields:
            raise ValueError(f"{path}: needs the columns text and category (has {', '.join(sorted(fields))})")
        for row in reader:
            subject = (row.get("subject") or row.get("title") or "").strip()
            text = (row.get("text") or "").strip()
            if " ".join(text.lower().split()) in BOILERPLATE:
                text = ""
            if not _usable(subject, text):
                continue
            source = (row.get("source") or "").strip()
            raw_category = (row.get("source_category") or row.get("category") or "").strip()
            category = map_source_category(source, (row.get("category") or "").strip())
            if category is None:
                continue
            yield LabelledReport(subject, text, category, source, (row.get("id") or "").strip(), raw_category)


def write_training_csv(path: str | Path, reports: Iterable[LabelledReport]) -> int:
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(TRAINING_COLUMNS)
        for r in reports:
            writer.writerow((r.source, r.id, r.source_category, r.category, r.subject, r.text))
            count += 1
    return count
