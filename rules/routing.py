"""Category -> department, priority and Open311 service code, from the rules file's `[categories]` table.

A rule may override the department and priority of its category (a burst main is `urgent`, a dripping hydrant
is not). A category the file does not define (a model trained elsewhere, an old label) routes to triage.
"""

from __future__ import annotations

from dataclasses import dataclass

from rules.types import Rule, RuleSet


@dataclass(frozen=True, slots=True)
class Route:
    category: str
    department: str | None
    priority: str
    service_code: str


def route_category(ruleset: RuleSet, category: str, rule: Rule | None = None) -> Route:
    known = ruleset.categories.get(category)
    base = known if known is not None else ruleset.triage
    department = rule.department if rule is not None and rule.department else base.department
    priority = rule.priority if rule is not None and rule.priority else base.priority
    return Route(category, department, priority, base.service_code)


def route_triage(ruleset: RuleSet, category: str) -> Route:
    triage = ruleset.triage
    return Route(category, triage.department, triage.priority, triage.service_code)


def model_category(ruleset: RuleSet, label: str) -> str:
    """A model label as this rules file names it (`[model] aliases`), so a renamed category keeps its model."""
    return ruleset.model_aliases.get(label, label)
