"""K-fold cross-validation of rules, model and their combination on a training file: what settings are tuned on.

The held-out split must never choose anything, so every choice (threshold, training parameters, rules) is measured
here: the training reports are cut into K folds stratified by (source, category) with a fixed seed; for each fold a
model is trained on the other folds and every report of the fold is classified by it. The out-of-fold answers of
all folds are pooled and scored once, so a category with 20 reports in the file is measured on all 20 (a mean over
folds would score it on 5 at a time).
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
    params = params or TrainingParams(language=ruleset.language)
    n = len(reports)
    rules_out = ["" for _ in range(n)]
    model_out = ["" for _ in range(n)]
    combined_out: dict[float, list[str]] = {t: ["" for _ in range(n)] for t in thresholds}
    for number, fold in enumerate(stratified_folds(reports, k), start=1):
        held = set(fold)
        examples = [(model_text(r.subject, r.text), r.category) for i, r in enumerate(reports) if i not in held]
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
            log(f"fold {number}/{k}: trained on {len(examples)}, classified {len(fold)}")
    return OutOfFold(
        gold=tuple(r.category for r in reports),
        rules=tuple(rules_out),
        model=tuple(model_out),
        combined={t: tuple(p) for t, p in combined_out.items()},
    )
