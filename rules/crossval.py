"""K-fold cross-validation of rules, model and their combination on a training file: what settings are tuned on.

The held-out split must never choose anything, so every choice (threshold, training parameters, rules) is measured
here: the training reports are cut into K folds stratified by (source, category) with a fixed seed; for each fold a
model is trained on the other folds and every report of the fold is classified by it. The out-of-fold answers of
all folds are pooled and scored once, so a category with 20 reports in the file is measured on all 20 (a mean over
folds would score it on 5 at a time). Leaving one city out (`leave_source_out`) measures the same on the
training split for a city the model never saw: train on the other cities, classify that one.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rules.classify import RulesAndModelClassifier
from rules.dataset import LabelledReport
from rules.taxonomy import CATCH_ALL
from rules.textcat import TrainingParams, model_text, train_textcat
from rules.types import RuleSet

CV_SEED = 311


@dataclass(frozen=True, slots=True)
class OutOfFold:
    """Each report's answers from the fold model that never saw it, in the order of the reports given."""

    gold: tuple[str, ...]
    rules: tuple[str, ...]  # rules alone: the deciding rule's category, "other" when none fires
    model: tuple[str, ...]  # model alone: its best category ("uncategorised" for a report without words)
    combined: dict[float, tuple[str, ...]]  # triage threshold -> rules + model ("uncategorised": triage)


def stratified_folds(reports: Sequence[LabelledReport], k: int, seed: int = CV_SEED) -> list[list[int]]:
    """Indices of the reports cut into `k` folds; each (source, category) group is dealt round the folds after a
    seeded shuffle, so a category with k or more reports is in every fold."""
    if k < 2:
        raise ValueError("cross-validation needs at least 2 folds")
    rng = random.Random(seed)
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, report in enumerate(reports):
        groups[(report.source, report.category)].append(i)
    folds: list[list[int]] = [[] for _ in range(k)]
    start = 0
    for key in sorted(groups):
        members = groups[key]
        rng.shuffle(members)
        for j, index in enumerate(members):
            folds[(start + j) % k].append(index)
        start = (start + len(members)) % k  # small groups do not all land in fold 0
    return [sorted(fold) for fold in folds]


def cross_validate(
    reports: Sequence[LabelledReport],
    ruleset: RuleSet,
    *,
    k: int = 4,
    params: TrainingParams | None = None,
    thresholds: Sequence[float] = (0.0,),
    log: Callable[[str], None] | None = None,
) -> OutOfFold:
    """Train a model per fold on the other folds and classify the fold; return the pooled out-of-fold answers."""
    return _out_of_fold(reports, ruleset, stratified_folds(reports, k), params, thresholds, log)


def leave_source_out(
    reports: Sequence[LabelledReport],
    ruleset: RuleSet,
    source: str,
    *,
    params: TrainingParams | None = None,
    thresholds: Sequence[float] = (0.0,),
    log: Callable[[str], None] | None = None,
) -> OutOfFold:
    """Train one model on every report not from `source` and classify that city's reports: how the model does
    in a city it never saw, measured on the training split. The answers cover only `source`'s reports, in order."""
    held = [i for i, report in enumerate(reports) if report.source == source]
    if not held:
        raise ValueError(f"no reports from source {source!r}")
    if len(held) == len(reports):
        raise ValueError(f"every report is from {source!r}: nothing left to train on")
    oof = _out_of_fold(reports, ruleset, [held], params, thresholds, log)

    def pick(answers: Sequence[str]) -> tuple[str, ...]:
        return tuple(answers[i] for i in held)

    return OutOfFold(
        gold=pick(oof.gold),
        rules=pick(oof.rules),
        model=pick(oof.model),
        combined={t: pick(p) for t, p in oof.combined.items()},
    )


def _out_of_fold(
    reports: Sequence[LabelledReport],
    ruleset: RuleSet,
    folds: Sequence[Sequence[int]],
    params: TrainingParams | None,
    thresholds: Sequence[float],
    log: Callable[[str], None] | None,
) -> OutOfFold:
    """For each fold: a model trained on every report outside it classifies it. Reports in no fold keep ""."""
    params = params or TrainingParams(language=ruleset.language)
    n = len(reports)
    rules_out = ["" for _ in range(n)]
    model_out = ["" for _ in range(n)]
    combined_out: dict[float, list[str]] = {t: ["" for _ in range(n)] for t in thresholds}
    for number, fold in enumerate(folds, start=1):
        held = set(fold)
        examples = [
            (model_text(r.subject, r.text, ruleset.language), r.category)
            for i, r in enumerate(reports)
            if i not in held
        ]
        nlp = train_textcat(examples, params)
        items = [(reports[i].subject, reports[i].text, "web", "") for i in fold]
        classifier = RulesAndModelClassifier(ruleset, nlp, 0.0)
        verdicts = classifier.rule_verdicts(items)
        guesses = classifier.model_guesses(items)
        for i, verdict, guess in zip(fold, verdicts, guesses, strict=True):
            rules_out[i] = verdict.decided.category if verdict.decided else CATCH_ALL
            model_out[i] = guess.category if guess else "uncategorised"
        for threshold in thresholds:
            classifier.triage_threshold = threshold
            for i, result in zip(fold, classifier.classify_many(items), strict=True):
                combined_out[threshold][i] = result.category
        if log is not None:
            log(f"fold {number}/{len(folds)}: trained on {len(examples)}, classified {len(fold)}")
    return OutOfFold(
        gold=tuple(r.category for r in reports),
        rules=tuple(rules_out),
        model=tuple(model_out),
        combined={t: tuple(p) for t, p in combined_out.items()},
    )
