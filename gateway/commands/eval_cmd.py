"""`inbox311 eval`: score the classifier on a labelled CSV — per category, macro-F1, confusion — as text or JSON.

    inbox311 eval --data training/test.csv [--json report.json] [--mode all]
    inbox311 eval --data training/train.csv --cv 4 --mode all     (cross-validation: what settings are tuned on)
    inbox311 eval --data training/train.csv --leave-out boston-open311 --mode all     (a city never trained on)

A city's own 311 export can be scored as it is: its request types are mapped to the taxonomy by
`rules.taxonomy`. `--mode all` scores the rules alone (no rule fired -> "other"), the model alone and the two
combined, on the same reports. The triage threshold is 0 unless given: every report gets a category. A triaged
report counts as wrong, or with `--triage-as-other` as `other` (both go to the triage desk; the rules alone send
a report no rule fires on there too). `--cv K` trains K models on the data itself and scores each report with the
model that did not see it (`rules.crossval`); `--leave-out SOURCE` trains one model on the other cities of the
data and scores that city's reports with it (a city the model never saw, on the training split).
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
from rules.taxonomy import CATCH_ALL, UNCATEGORISED

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
    parser.add_argument(
        "--triage-as-other", action="store_true", help="count a triaged report as `other` (the same desk), not wrong"
    )
    parser.add_argument(
        "--cv", metavar="K", type=int, default=0, help="K-fold cross-validation on the data: train K models, pool"
    )
    parser.add_argument(
        "--leave-out",
        metavar="SOURCE",
        help="train on the data's other sources and score this source's reports (a city the model never saw)",
    )
    add_config(parser)
    parser.set_defaults(func=_eval)


def predict(classifier: RulesAndModelClassifier, reports: list[LabelledReport], mode: str) -> list[str]:
    items = [(r.subject, r.text, "web", "") for r in reports]
    if mode == "rules":
        return [v.decided.category if v.decided else CATCH_ALL for v in classifier.rule_verdicts(items)]
    if mode == "model":
        return [g.category if g else "uncategorised" for g in classifier.model_guesses(items)]
    return [c.category for c in classifier.classify_many(items)]


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _cross_validated(
    classifier: RulesAndModelClassifier,
    reports: list[LabelledReport],
    args: argparse.Namespace,
) -> tuple[list[str], dict[str, list[str]]]:
    """Gold and out-of-fold answers per mode, by K folds (`--cv`) or by leaving one source out (`--leave-out`)."""
    import logging

    from rules.crossval import cross_validate, leave_source_out
    from rules.textcat import TrainingParams

    logging.getLogger("spacy").setLevel(logging.WARNING)
    params = TrainingParams(language=classifier.ruleset.language)
    if args.leave_out:
        try:
            oof = leave_source_out(
                reports, classifier.ruleset, args.leave_out, params=params, thresholds=(args.threshold,), log=_progress
            )
        except ValueError as exc:
            raise ConfigError(f"--leave-out: {exc}") from None
    else:
        if args.cv < 2:
            raise ConfigError("--cv: needs at least 2 folds")
        oof = cross_validate(
            reports, classifier.ruleset, k=args.cv, params=params, thresholds=(args.threshold,), log=_progress
        )
    answers = {"rules": list(oof.rules), "model": list(oof.model), "combined": list(oof.combined[args.threshold])}
    return list(oof.gold), answers


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
    if args.cv and args.leave_out:
        raise ConfigError("--cv and --leave-out: choose one")
    modes = MODES if args.mode == "all" else (args.mode,)
    if args.cv or args.leave_out:
        gold, predictions = _cross_validated(classifier, reports, args)
    else:
        gold = [r.category for r in reports]
        predictions = {mode: predict(classifier, reports, mode) for mode in modes}
    results: dict[str, EvalReport] = {}
    for mode in modes:
        predicted = predictions[mode]
        if args.triage_as_other:
            predicted = [CATCH_ALL if p == UNCATEGORISED else p for p in predicted]
        results[mode] = score_predictions(gold, predicted)
        cv = f" ({args.cv}-fold cross-validation, pooled)" if args.cv else ""
        cv = f" ({args.leave_out} left out of training)" if args.leave_out else cv
        print(format_report(results[mode], title=f"== {mode}: {', '.join(p.name for p in args.data)}{cv}"))
        print()
    if args.json is not None:
        payload: dict[str, Any] = {
            "data": [str(p) for p in args.data],
            "reports": len(gold),
            "threshold": args.threshold,
            "triage_as_other": args.triage_as_other,
            "cv_folds": args.cv,
            "left_out": args.leave_out,
            "results": {mode: report.as_json() for mode, report in results.items()},
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0
