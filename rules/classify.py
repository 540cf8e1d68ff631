"""What a report is about: rules first, the text classifier next, triage when neither is sure.

`build_classifier()` loads the rules file and the model once; the returned object is what the pipeline's
`classify` stage and `inbox311 classify` call, one report at a time or many at once (`classify_many` runs the
model through `nlp.pipe`, which is several times faster per report).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from spacy.language import Language

from parsers.types import Classification
from rules.engine import RuleVerdict, evaluate, rule_input
from rules.loader import load_rules
from rules.routing import model_category, route_category, route_triage
from rules.taxonomy import CATCH_ALL, UNCATEGORISED
from rules.textcat import load_model, model_text, model_text_of
from rules.types import RuleConfigError, RuleSet

ReportFields = tuple[str, str, str, str]  # subject, body, channel, sender


@dataclass(frozen=True, slots=True)
class ModelGuess:
    category: str
    confidence: float


class RulesAndModelClassifier:
    """Implements `gateway.pipeline.Classifier`. Holds the compiled rules and the loaded model."""

    def __init__(self, ruleset: RuleSet, nlp: Language | None, triage_threshold: float) -> None:
        self.ruleset = ruleset
        self.nlp = nlp
        self.triage_threshold = triage_threshold
        self._model_text = model_text_of(nlp) if nlp is not None else model_text

    def classify(self, *, subject: str, body: str, channel: str, sender: str) -> Classification:
        return self.classify_many([(subject, body, channel, sender)])[0]

    def classify_many(self, items: Sequence[ReportFields], *, batch_size: int = 256) -> list[Classification]:
        verdicts = self.rule_verdicts(items)
        # the model reads what no rule decided, and what a rule decided but lets a sure model override
        undecided = [i for i, v in enumerate(verdicts) if v.decided is None or v.decided.model_override is not None]
        guesses = self.model_guesses([items[i] for i in undecided], batch_size=batch_size)
        by_index = dict(zip(undecided, guesses, strict=True))
        return [self._combine(verdicts[i], by_index.get(i)) for i in range(len(items))]

    def rule_verdicts(self, items: Sequence[ReportFields]) -> list[RuleVerdict]:
        return [
            evaluate(self.ruleset, rule_input(self.ruleset, subject=s, body=b, channel=c, sender=f))
            for s, b, c, f in items
        ]

    def model_guesses(self, items: Sequence[ReportFields], *, batch_size: int = 256) -> list[ModelGuess | None]:
        """The model's best category per report; None without a model or for a report with no words."""
        if self.nlp is None:
            return [None] * len(items)
        texts = [self._model_text(s, b, self.ruleset.language) for s, b, _, _ in items]
        wordy = [i for i, t in enumerate(texts) if any(c.isalnum() for c in t)]
        out: list[ModelGuess | None] = [None] * len(items)
        docs = self.nlp.pipe((texts[i] for i in wordy), batch_size=batch_size)
        for i, doc in zip(wordy, docs, strict=True):
            label, score = max(doc.cats.items(), key=lambda kv: kv[1])
            out[i] = ModelGuess(model_category(self.ruleset, label), float(score))
        return out

    def _combine(self, verdict: RuleVerdict, guess: ModelGuess | None) -> Classification:
        rule = verdict.decided
        if (
            rule is not None
            and rule.model_override is not None
            and guess is not None
            and guess.category != rule.category
            and guess.category != CATCH_ALL  # "none of these" is no evidence against a rule's specific category
            and guess.category in self.ruleset.categories
            and guess.confidence >= rule.model_override
        ):
            route = route_category(self.ruleset, guess.category)
            return Classification(
                guess.category, guess.confidence, "model", route.department, route.priority, verdict.hits
            )
        if rule is not None:
            route = route_category(self.ruleset, rule.category, rule)
            return Classification(
                category=rule.category,
                confidence=rule.confidence,
                decided_by=rule.name,
                department=route.department,
                priority=route.priority,
                rule_hits=verdict.hits,
            )
        if guess is not None and guess.confidence >= self.triage_threshold:
            route = route_category(self.ruleset, guess.category)
            if guess.category in self.ruleset.categories:
                return Classification(guess.category, guess.confidence, "model", route.department, route.priority)
        triage = route_triage(self.ruleset, UNCATEGORISED)
        confidence = guess.confidence if guess is not None else 0.0
        return Classification(UNCATEGORISED, confidence, "triage", triage.department, triage.priority)


def build_classifier(rules_file: str | None, model_dir: str | None, triage_threshold: float) -> RulesAndModelClassifier:
    """Load the rules (shipped defaults when empty) and the model (shipped when empty), once.

    Raises RuleConfigError for a bad rules file (naming the rule) or a model directory that cannot be loaded.
    """
    ruleset = load_rules(rules_file or None)
    try:
        nlp = load_model(model_dir or None)
    except (OSError, ValueError) as exc:
        raise RuleConfigError(f"[rules] model: {exc}") from None
    if not 0.0 <= triage_threshold <= 1.0:
        raise RuleConfigError("[rules] triage_threshold: must be between 0 and 1")
    return RulesAndModelClassifier(ruleset, nlp, triage_threshold)
