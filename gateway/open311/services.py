"""The Open311 service list, made from the categories of the rules file: one service per category.

`service_code` is the category's `service_code`, `service_name` its label, `group` its department; the description
and keywords come from the rules that decide the category, so the list stays in step with what the rules know.
Categories have no extra form fields, so every service has `metadata` false and a definition without attributes.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from parsers.types import Classification
from rules.loader import default_rules_text, load_rules
from rules.routing import route_category
from rules.types import RuleSet

MAX_KEYWORDS = 8
DECIDED_BY = "open311-service-code"  # how a ticket whose client chose its service is shown to staff


@dataclass(frozen=True, slots=True)
class Open311Service:
    code: str
    name: str
    category: str  # the rules file's category slug
    description: str
    group: str | None
    keywords: str | None


@dataclass(frozen=True, slots=True)
class ServiceCatalog:
    services: tuple[Open311Service, ...]
    ruleset: RuleSet

    def by_code(self, code: str) -> Open311Service | None:
        return next((s for s in self.services if s.code == code), None)

    def by_category(self, category: str | None) -> Open311Service | None:
        return next((s for s in self.services if s.category == category), None)

    def code_and_name(self, category: str | None) -> tuple[str, str]:
        """The service a ticket is listed under; uncategorised tickets show the triage code."""
        service = self.by_category(category)
        if service is not None:
            return service.code, service.name
        triage = self.ruleset.triage
        return triage.service_code or triage.slug, triage.label

    def classification(self, code: str) -> Classification | None:
        """The classification a request posted for service `code` gets: the client chose, so no rule or model."""
        service = self.by_code(code)
        if service is None:
            return None
        route = route_category(self.ruleset, service.category)
        return Classification(
            category=service.category,
            confidence=1.0,
            decided_by=DECIDED_BY,
            department=route.department,
            priority=route.priority,
            rule_hits=(DECIDED_BY,),
        )


def _rules_by_category(rules_text: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for rule in tomllib.loads(rules_text).get("rule", []):
        if rule.get("enabled", True) and isinstance(rule.get("category"), str):
            out.setdefault(rule["category"], []).append(rule)
    return out


def _keywords(rules: list[dict[str, Any]]) -> str | None:
    words: list[str] = []
    for rule in rules:
        when = rule.get("when", {})
        for kind in ("keyword_any", "subject_keyword_any", "keyword_all"):
            value = when.get(kind, [])
            for word in [value] if isinstance(value, str) else value:
                word = str(word).lstrip("=").strip()
                if word and word not in words:
                    words.append(word)
    return ", ".join(words[:MAX_KEYWORDS]) or None


def _description(slug: str, label: str, rules: list[dict[str, Any]]) -> str:
    """The description of the category's own rule (named like it), else of all its rules, else the label."""
    main = [r for r in rules if r.get("name") == slug and r.get("description")]
    parts = list(dict.fromkeys(str(r["description"]).strip() for r in main or rules if r.get("description")))
    return "; ".join(parts) if parts else label


def build_catalog(ruleset: RuleSet, rules_text: str) -> ServiceCatalog:
    """Pure: the rules file's categories (and its text, for descriptions and keywords) -> the service list."""
    rules = _rules_by_category(rules_text)
    services = tuple(
        Open311Service(
            code=route.service_code or slug,
            name=route.label,
            category=slug,
            description=_description(slug, route.label, rules.get(slug, [])),
            group=route.department,
            keywords=_keywords(rules.get(slug, [])),
        )
        for slug, route in ruleset.categories.items()
    )
    return ServiceCatalog(services=services, ruleset=ruleset)


@cache
def load_catalog(rules_file: str) -> ServiceCatalog:
    """The catalog of the configured rules file ("" = the shipped rules), loaded once per process."""
    text = Path(rules_file).read_text(encoding="utf-8") if rules_file else default_rules_text()
    return build_catalog(load_rules(rules_file or None), text)


def unknown_service_map_categories(catalog: ServiceCatalog, service_map: dict[str, str]) -> list[str]:
    """Keys of `[open311.upstream] service_map` that are neither a category of the rules file nor "*"."""
    known = {s.category for s in catalog.services} | {catalog.ruleset.triage.slug, "uncategorised", "*"}
    return sorted(k for k in service_map if k not in known)
