"""The typed values of the rule engine: what a rule looks at, what a compiled rule is, and the rule-file errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

PRIORITIES: tuple[str, ...] = ("low", "normal", "high", "urgent")


class RuleConfigError(Exception):
    """A rules file that cannot be used; the message names the rule (or section) and the key at fault."""

    reason_code = "rule-config"


@dataclass(frozen=True, slots=True)
class RuleInput:
    """One report as the rules see it. `words` are the lower-cased word tokens of subject and body, in order."""

    subject: str
    body: str
    channel: str
    sender: str
    words: tuple[str, ...] = ()
    phrases: frozenset[str] = frozenset()  # every run of 1..N consecutive words, joined by one space

    @property
    def text(self) -> str:
        return f"{self.subject}\n{self.body}" if self.subject else self.body


Condition = Callable[[RuleInput], bool]


@dataclass(frozen=True, slots=True)
class CategoryRoute:
    """Where a category goes and how urgent it is by default; `service_code` is its Open311 code."""

    slug: str
    label: str
    department: str | None
    priority: str = "normal"
    service_code: str = ""


@dataclass(frozen=True, slots=True)
class Rule:
    """A compiled rule: all of its conditions must hold for it to fire."""

    name: str
    category: str
    conditions: tuple[tuple[str, Condition], ...]
    description: str = ""
    department: str | None = None  # overrides the category's department
    priority: str | None = None  # overrides the category's priority
    confidence: float = 0.95
    model_override: float | None = None  # a model at least this sure of another category decides instead
    triggers: frozenset[str] = frozenset()  # phrases of which one must be present for the rule to fire (empty: any)

    def matches(self, item: RuleInput) -> bool:
        return all(check(item) for _, check in self.conditions)


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A validated rules file: rules in file order (first match decides), categories, triage and model settings."""

    rules: tuple[Rule, ...]
    categories: dict[str, CategoryRoute]
    triage: CategoryRoute
    language: str = "en"
    max_phrase_words: int = 1
    phrase_starts: frozenset[str] = frozenset()  # first words of every multi-word keyword form
    trigger_index: dict[str, tuple[int, ...]] = field(default_factory=dict)  # phrase -> rules it may fire
    untriggered: tuple[int, ...] = ()  # rules with no keyword condition: always tried
    source: str = ""  # the file it came from, for messages
    model_aliases: dict[str, str] = field(default_factory=dict)  # model label -> this file's category
