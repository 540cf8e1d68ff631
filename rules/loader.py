"""Rules file (TOML) -> a validated, precompiled RuleSet; anything wrong stops the start with the rule's name.

Layout of a rules file (the shipped `default_rules.toml` documents every key):

    language = "en"                       # the spaCy language of the model
    [triage]                              # where reports go when nothing decides
    [model] aliases = { label = "slug" }  # model labels renamed to this file's categories
    [categories.<slug>]                   # label, department, priority, service_code
    [[rule]]                              # name, description, category, department, priority, confidence,
                                          # model_override, enabled, when.<kind> = value (see rules.conditions)

Rules are tried in file order and the first that fires decides; every rule that fires is recorded. A rule
with `model_override = 0.8` lets a model that is at least 0.8 sure of another category decide instead (for
rules on words that often appear in reports about something else: "trash", "rats", "park").
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from rules.conditions import CONDITION_KINDS
from rules.types import PRIORITIES, CategoryRoute, Rule, RuleConfigError, RuleSet

DEFAULT_RULES = "default_rules.toml"
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_TOP_KEYS = {"language", "triage", "model", "categories", "rule"}
_CATEGORY_KEYS = {"label", "department", "priority", "service_code"}
_RULE_KEYS = {
    "name",
    "description",
    "category",
    "department",
    "priority",
    "confidence",
    "model_override",
    "enabled",
    "when",
}


def default_rules_text() -> str:
    return resources.files("rules").joinpath(DEFAULT_RULES).read_text(encoding="utf-8")


def load_rules(path: str | Path | None = None) -> RuleSet:
    """Load and validate a rules file; None or "" loads the shipped defaults."""
    if not path:
        return parse_rules(default_rules_text(), source=f"rules/{DEFAULT_RULES}")
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleConfigError(f"rules file {p}: {exc.strerror or exc}") from None
    return parse_rules(text, source=str(p))


def parse_rules(text: str, *, source: str = "<rules>") -> RuleSet:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleConfigError(f"{source}: not valid TOML: {exc}") from None
    _no_unknown(data, _TOP_KEYS, f"{source}: top level")
    language = data.get("language", "en")
    if not isinstance(language, str) or not language:
        raise RuleConfigError(f'{source}: language must be a language code such as "en"')
    categories = _categories(data.get("categories", {}), source)
    triage = _route("triage", data.get("triage", {}), f"{source}: [triage]", default_label="Triage")
    aliases = _aliases(data.get("model", {}), categories, source)
    rules: list[Rule] = []
    phrases: set[str] = set()
    names: set[str] = set()
    for index, raw in enumerate(_list_of_tables(data.get("rule", []), f"{source}: rule")):
        rule, needed = _rule(raw, index, categories, source)
        if rule.name in names:
            raise RuleConfigError(f"{source}: rule {rule.name!r}: duplicate name")
        names.add(rule.name)
        if raw.get("enabled", True):
            rules.append(rule)
            phrases.update(needed)
    longest = max((len(p.split()) for p in phrases), default=1)
    starts = frozenset(p.split()[0] for p in phrases if " " in p)
    index: dict[str, list[int]] = {}
    for position, rule in enumerate(rules):
        for phrase in rule.triggers:
            index.setdefault(phrase, []).append(position)
    untriggered = tuple(i for i, rule in enumerate(rules) if not rule.triggers)
    return RuleSet(
        rules=tuple(rules),
        categories=categories,
        triage=triage,
        language=language,
        max_phrase_words=longest,
        phrase_starts=starts,
        trigger_index={phrase: tuple(positions) for phrase, positions in index.items()},
        untriggered=untriggered,
        source=source,
        model_aliases=aliases,
    )


def _no_unknown(table: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise RuleConfigError(f"{where}: unknown key {unknown[0]!r}")


def _list_of_tables(value: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise RuleConfigError(f"{where}: write rules as [[rule]] tables")
    return value


def _route(slug: str, table: Any, where: str, *, default_label: str = "") -> CategoryRoute:
    if not isinstance(table, dict):
        raise RuleConfigError(f"{where}: must be a table")
    _no_unknown(table, _CATEGORY_KEYS, where)
    priority = table.get("priority", "normal")
    if priority not in PRIORITIES:
        raise RuleConfigError(f"{where}: priority {priority!r} is not one of {', '.join(PRIORITIES)}")
    for key in ("label", "department", "service_code"):
        if key in table and not isinstance(table[key], str):
            raise RuleConfigError(f"{where}: {key} must be a string")
    return CategoryRoute(
        slug=slug,
        label=table.get("label", default_label or slug),
        department=table.get("department") or None,
        priority=priority,
        service_code=table.get("service_code", slug),
    )


def _categories(table: Any, source: str) -> dict[str, CategoryRoute]:
    if not isinstance(table, dict) or not table:
        raise RuleConfigError(f"{source}: [categories] must define at least one category")
    out: dict[str, CategoryRoute] = {}
    for slug, body in table.items():
        if not _NAME.match(slug):
            raise RuleConfigError(f"{source}: category {slug!r}: use lower-case letters, digits and '-'")
        out[slug] = _route(slug, body, f"{source}: category {slug!r}")
    return out


def _aliases(table: Any, categories: dict[str, CategoryRoute], source: str) -> dict[str, str]:
    if not isinstance(table, dict):
        raise RuleConfigError(f"{source}: [model] must be a table")
    _no_unknown(table, {"aliases"}, f"{source}: [model]")
    aliases = table.get("aliases", {})
    if not isinstance(aliases, dict):
        raise RuleConfigError(f"{source}: [model] aliases must be a table of label = category")
    for label, slug in aliases.items():
        if slug not in categories:
            raise RuleConfigError(f"{source}: [model] alias {label!r}: unknown category {slug!r}")
    return dict(aliases)


def _rule(
    raw: dict[str, Any], index: int, categories: dict[str, CategoryRoute], source: str
) -> tuple[Rule, frozenset[str]]:
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise RuleConfigError(f"{source}: rule #{index + 1}: name must be lower-case letters, digits and '-'")
    where = f"{source}: rule {name!r}"
    _no_unknown(raw, _RULE_KEYS, where)
    category = raw.get("category")
    if category not in categories:
        raise RuleConfigError(f"{where}: unknown category {category!r}")
    priority = raw.get("priority")
    if priority is not None and priority not in PRIORITIES:
        raise RuleConfigError(f"{where}: priority {priority!r} is not one of {', '.join(PRIORITIES)}")
    confidence = raw.get("confidence", 0.95)
    if not isinstance(confidence, int | float) or not 0 < confidence <= 1:
        raise RuleConfigError(f"{where}: confidence must be a number in (0, 1]")
    model_override = raw.get("model_override")
    if model_override is not None and (not isinstance(model_override, int | float) or not 0 < model_override <= 1):
        raise RuleConfigError(f"{where}: model_override must be a number in (0, 1]")
    if not isinstance(raw.get("enabled", True), bool):
        raise RuleConfigError(f"{where}: enabled must be true or false")
    when = raw.get("when")
    if not isinstance(when, dict) or not when:
        raise RuleConfigError(f"{where}: needs at least one condition under `when`")
    conditions = []
    phrases: set[str] = set()
    triggers: frozenset[str] = frozenset()
    for kind, value in when.items():
        compiler = CONDITION_KINDS.get(kind)
        if compiler is None:
            raise RuleConfigError(f"{where}: unknown condition kind {kind!r} (known: {', '.join(CONDITION_KINDS)})")
        try:
            check, needed = compiler(value)
        except ValueError as exc:
            raise RuleConfigError(f"{where}: when.{kind}: {exc}") from None
        conditions.append((kind, check))
        phrases.update(needed)
        if kind in ("keyword_any", "keyword_all") and not triggers:
            triggers = needed  # the rule cannot fire unless one of these is in the report
    # cheap set lookups first, so a rule whose keywords are absent never runs its regular expressions
    conditions.sort(key=lambda c: c[0].startswith(("regex", "sender_regex")))
    department = raw.get("department")
    if department is not None and not isinstance(department, str):
        raise RuleConfigError(f"{where}: department must be a string")
    rule = Rule(
        name=name,
        category=category,
        conditions=tuple(conditions),
        description=str(raw.get("description", "")),
        department=department,
        priority=priority,
        confidence=float(confidence),
        model_override=None if model_override is None else float(model_override),
        triggers=triggers,
    )
    return rule, frozenset(phrases)
