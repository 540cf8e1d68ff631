"""Scoring a classifier against labelled reports: per-category precision/recall/F1, macro-F1, confusion table.

Macro-F1 averages over the categories that occur in the gold labels (a category the data never contains
cannot be measured). Predictions outside the gold categories (e.g. "uncategorised" from triage) count as errors.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class CategoryScore:
    category: str
    precision: float
    recall: float
    f1: float
    support: int
    predicted: int


@dataclass(frozen=True, slots=True)
class EvalReport:
    total: int
    accuracy: float
    macro_f1: float
    per_category: tuple[CategoryScore, ...]
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)  # gold -> predicted -> count

    def macro_f1_min_support(self, minimum: int) -> float:
        """Macro-F1 over the categories with at least `minimum` gold examples (small ones are noisy)."""
        scores = [c.f1 for c in self.per_category if c.support >= minimum]
        return sum(scores) / len(scores) if scores else 0.0

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


def score_predictions(gold: Sequence[str], predicted: Sequence[str]) -> EvalReport:
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted differ in length")
    confusion: dict[str, Counter[str]] = {}
    for g, p in zip(gold, predicted, strict=True):
        confusion.setdefault(g, Counter())[p] += 1
    predicted_counts = Counter(predicted)
    per_category = []
    for category in sorted(confusion):
        tp = confusion[category][category]
        support = sum(confusion[category].values())
        precision = _ratio(tp, predicted_counts[category])
        recall = _ratio(tp, support)
        f1 = _ratio(2 * tp, support + predicted_counts[category])
        per_category.append(CategoryScore(category, precision, recall, f1, support, predicted_counts[category]))
    correct = sum(g == p for g, p in zip(gold, predicted, strict=True))
    macro = sum(c.f1 for c in per_category) / len(per_category) if per_category else 0.0
    return EvalReport(
        total=len(gold),
        accuracy=_ratio(correct, len(gold)),
        macro_f1=macro,
        per_category=tuple(per_category),
        confusion={g: dict(sorted(row.items())) for g, row in sorted(confusion.items())},
    )


def format_report(report: EvalReport, *, title: str = "") -> str:
    """A plain-text report: the per-category table, the averages, and the confusion table."""
    lines = [title] if title else []
    width = max([len(c.category) for c in report.per_category] + [8])
    lines.append(f"{'category':<{width}}  precision  recall     f1  support  predicted")
    for c in report.per_category:
        lines.append(
            f"{c.category:<{width}}  {c.precision:9.3f}  {c.recall:6.3f}  {c.f1:5.3f}  {c.support:7d}  {c.predicted:9d}"
        )
    lines.append(
        f"reports {report.total}  accuracy {report.accuracy:.3f}  macro-F1 {report.macro_f1:.3f}"
        f"  macro-F1 (support >= 10) {report.macro_f1_min_support(10):.3f}"
    )
    lines.append("")
    lines.append("confusion (rows: gold, columns: predicted)")
    columns = sorted({p for row in report.confusion.values() for p in row} | set(report.confusion))
    short = {c: c[:6] for c in columns}
    lines.append(" " * width + "  " + " ".join(f"{short[c]:>6}" for c in columns))
    for gold, row in report.confusion.items():
        lines.append(f"{gold:<{width}}  " + " ".join(f"{row.get(c, 0) or '.':>6}" for c in columns))
    return "\n".join(lines)
