"""Run a RuleSet over one report: first rule that fires decides (file order); every rule that fires is recorded."""

from __future__ import annotations

from dataclasses import dataclass

from rules.types import Rule, RuleInput, RuleSet
from rules.wordforms import phrases_of, words_of


@dataclass(frozen=True, slots=True)
class RuleVerdict:
    decided: Rule | None  # the first rule that fired, or None
    hits: tuple[str, ...]  # names of every rule that fired, in file order


def rule_input(ruleset: RuleSet, *, subject: str, body: str, channel: str, sender: str) -> RuleInput:
    """Tokenise once; every keyword condition then is a set lookup."""
    words = (*words_of(subject), "\n", *words_of(body)) if subject else words_of(body)
    # the "\n" marker keeps phrases from running across subject and body; it never matches a keyword
    return RuleInput(
        subject=subject,
        body=body,
        channel=channel,
        sender=sender,
        words=words,
        phrases=phrases_of(words, ruleset.max_phrase_words, ruleset.phrase_starts),
    )


def evaluate(ruleset: RuleSet, item: RuleInput) -> RuleVerdict:
    # only rules whose trigger words occur can fire; try those (and the keyword-less ones) in file order
    candidates = set(ruleset.untriggered)
    index = ruleset.trigger_index
    for phrase in item.phrases:
        positions = index.get(phrase)
        if positions:
            candidates.update(positions)
    hits = [ruleset.rules[i] for i in sorted(candidates) if ruleset.rules[i].matches(item)]
    return RuleVerdict(hits[0] if hits else None, tuple(rule.name for rule in hits))
