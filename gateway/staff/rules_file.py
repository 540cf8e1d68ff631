"""The rules file as administrators edit it from the inbox: read it, validate a new text exactly as the service does at
start (the same loader and classifier build), write it atomically, and swap the running classifier.

Only the instance that saved reloads at once; other instances pick the file up when they restart. With no
`[rules] file` configured the shipped rules are shown read-only: there is no file of the city's to write.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gateway.pipeline import Services

log = logging.getLogger(__name__)

MAX_RULES_BYTES = 512 * 1024


class RulesRejected(Exception):
    """The new text does not load; the message names the rule or key (from the loader)."""


@dataclass(frozen=True, slots=True)
class RulesText:
    text: str
    path: str  # "" when the shipped defaults are in use
    editable: bool
    rule_count: int
    category_count: int


def read_rules(services: Services) -> RulesText:
    from rules.loader import default_rules_text, parse_rules

    path = services.settings.rules.file
    text = Path(path).read_text(encoding="utf-8") if path else default_rules_text()
    ruleset = parse_rules(text, source=path or "shipped rules")
    return RulesText(
        text=text,
        path=path,
        editable=bool(path),
        rule_count=len(ruleset.rules),
        category_count=len(ruleset.categories),
    )


def save_rules(services: Services, text: str) -> RulesText:
    """Validate `text` as the service's rules and, when it loads, write it and use it from the next message on."""
    from rules.classify import build_classifier
    from rules.types import RuleConfigError

    settings = services.settings.rules
    if not settings.file:
        raise RulesRejected("No rules file is configured ([rules] file); the shipped rules cannot be edited here.")
    text = text.replace("\r\n", "\n")
    if len(text.encode("utf-8")) > MAX_RULES_BYTES:
        raise RulesRejected(f"The rules file may be at most {MAX_RULES_BYTES // 1024} KB.")
    target = Path(settings.file)
    fd, staged = tempfile.mkstemp(prefix=".rules-", suffix=".toml", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        try:  # the very build the service runs at start: a file that passes here also passes a restart
            classifier = build_classifier(staged, settings.model or None, settings.triage_threshold)
        except RuleConfigError as exc:
            raise RulesRejected(str(exc).replace(staged, target.name)) from None
        os.replace(staged, target)  # atomic: a crash leaves the old file or the new one, never half of it
    finally:
        if os.path.exists(staged):
            os.unlink(staged)
    services.classifier = classifier
    log.info("rules: %s saved and reloaded", target.name)
    return read_rules(services)
