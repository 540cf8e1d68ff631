"""`inbox311 eval`: score the classifier on a labelled CSV — per category, macro-F1, confusion — as text or JSON.

    inbox311 eval --data training/test.csv [--json report.json] [--mode all]

A city's own 311 export can be scored as it is: its request types are mapped to the taxonomy by
`rules.taxonomy`. `--mode all` scores the rules alone (no rule fired -> "other"), the model alone and the two
combined, on the same reports. The triage threshold is 0 unless given: every report gets a category.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.settings import ConfigError, Settings
from rules.dataset import LabelledReport, read_labelled_csv
from rules.evaluation import EvalReport, format_report, score_predictions

if TYPE_CHECKING:  # spaCy loads only when the command runs, not with the CLI
    from rules.classify import RulesAndModelClassifier

MODES = ("combined", "rules", "model")


def register(sub: argparse._SubParsersAction, add_config: Callable[[argparse.ArgumentParser], None]) -> None:
    parser = sub.add_parser("eval", help="score the classifier on labelled reports")
    parser.add_argument(
        "--data",
        metavar="FILE.csv",
        type=Path,
        required=True,
        action="append",
        help="labelled CSV (text, category; optional subject/title, source); repeatable",
    )
    parser.add_argument("--json", metavar="OUT", type=Path, help="also write the scores as JSON")
    parser.add_argument("--mode", choices=(*MODES, "all"), default="combined")
    parser.add_argument("--source", action="append", default=[], help="only rows from this source (repeatable)")
    parser.add_argument(
        "--skip-type", action="append", default=[], help="leave out rows of this city request type (repeatable)"
    )
    parser.add_argument("--no-subject", action="store_true", help="ignore the subject/title column")
    parser.add_argument("--rules", metavar="FILE", help="rules file (default: [rules] file)")
    parser.add_argument("--model", metavar="DIR", help="model directory (default: [rules] model)")
    parser.add_argument("--threshold", type=float, default=0.0, help="triage threshold (default 0)")
    add_config(parser)
    parser.set_defaults(func=_eval)


def predict(classifier: RulesAndModelClassifier, reports: list[LabelledReport], mode: str) -> list[str]:
    items = [(r.subject, r.text, "web", "") for r in reports]
    if mode == "rules":
        return [v.decided.category if v.decided else "other" for v in classifier.rule_verdicts(items)]
    if mode == "model":
        return [g.category if g else "uncategorised" for g in classifier.model_guesses(items)]
    return [c.category for c in classifier.classify_many(items)]


def _reports(args: argparse.Namespace) -> list[LabelledReport]:
    reports: list[LabelledReport] = []
    for path in args.data:
        try:
            reports.extend(read_labelled_csv(path, sources=args.source))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--data {path}: {exc}") from None
    if args.skip_type:
        skipped = {t.lower() for t in args.skip_type}
        reports = [r for r in reports if r.source_category.lower() not in skipped]
    if args.no_subject:
        reports = [LabelledReport("", r.text, r.category, r.source, r.id, r.source_category) for r in reports]
        reports = [r for r in reports if any(c.isalnum() for c in r.text)]
    return reports


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    from rules.classify import build_classifier
    from rules.types import RuleConfigError

    try:
        classifier = build_classifier(
            args.rules if args.rules is not None else settings.rules.file,
            args.model if args.model is not None else settings.rules.model,
            args.threshold,
        )
    except RuleConfigError as exc:
        raise ConfigError(str(exc)) from None
    reports = _reports(args)
    if not reports:
        print("inbox311 eval: no labelled reports in the data", file=sys.stderr)
        return 1
    gold = [r.category for r in reports]
    results: dict[str, EvalReport] = {}
    for mode in MODES if args.mode == "all" else (args.mode,):
        results[mode] = score_predictions(gold, predict(classifier, reports, mode))
        print(format_report(results[mode], title=f"== {mode}: {', '.join(p.name for p in args.data)}"))
        print()
    if args.json is not None:
        payload: dict[str, Any] = {
            "data": [str(p) for p in args.data],
            "reports": len(reports),
            "threshold": args.threshold,
            "results": {mode: report.as_json() for mode, report in results.items()},
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0
