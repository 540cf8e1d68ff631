"""The condition kinds a rule may use in its `when` table: a registry of small compilers, one per kind.

Each compiler takes the value written in the rules file, checks it, and returns a precompiled predicate over
a `RuleInput` plus the longest phrase (in words) it needs. A wrong value raises ValueError; the loader turns
that into a RuleConfigError naming the rule. Kinds:

- `keyword_any`, `keyword_all`, `keyword_none`: words or phrases, matched with their plurals and verb forms
  (see `rules.wordforms`; "=word" matches only as written) anywhere in subject or body.
- `subject_keyword_any`: the same, in the subject only.
- `regex`, `regex_none`: regular expressions (case-insensitive) searched in subject and body.
- `channel`: the report came by one of these channels ("email", "sms", "web", "open311").
- `sender_domain`: the sender's email domain is one of these, or a subdomain of one.
- `sender_regex`: the sender address or phone number matches (case-insensitive, full match).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from rules.types import Condition, RuleInput
from rules.wordforms import keyword_forms, words_of

CHANNELS = frozenset({"email", "sms", "web", "open311"})

# A compiler returns the predicate and the keyword phrases it looks up (the engine builds only those n-grams).
Compiler = Callable[[Any], tuple[Condition, frozenset[str]]]
NO_PHRASES: frozenset[str] = frozenset()
CONDITION_KINDS: dict[str, Compiler] = {}


def condition_kind(name: str) -> Callable[[Compiler], Compiler]:
    def register(compiler: Compiler) -> Compiler:
        CONDITION_KINDS[name] = compiler
        return compiler

    return register


def _strings(value: Any, *, what: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"expected a non-empty list of {what}")
    return value


def _keyword_sets(value: Any) -> tuple[list[frozenset[str]], frozenset[str]]:
    keywords = _strings(value, what="keywords")
    sets = [keyword_forms(k) for k in keywords]
    return sets, frozenset().union(*sets)


@condition_kind("keyword_any")
def _keyword_any(value: Any) -> tuple[Condition, frozenset[str]]:
    _, union = _keyword_sets(value)
    return (lambda item: not union.isdisjoint(item.phrases)), union


@condition_kind("keyword_all")
def _keyword_all(value: Any) -> tuple[Condition, frozenset[str]]:
    sets, union = _keyword_sets(value)
    return (lambda item: all(not forms.isdisjoint(item.phrases) for forms in sets)), union


@condition_kind("keyword_none")
def _keyword_none(value: Any) -> tuple[Condition, frozenset[str]]:
    _, union = _keyword_sets(value)
    return (lambda item: union.isdisjoint(item.phrases)), union


@condition_kind("subject_keyword_any")
def _subject_keyword_any(value: Any) -> tuple[Condition, frozenset[str]]:
    _, union = _keyword_sets(value)
    longest = max(len(phrase.split()) for phrase in union)

    def check(item: RuleInput) -> bool:
        words = words_of(item.subject)
        return any(" ".join(words[i : i + n]) in union for n in range(1, longest + 1) for i in range(len(words)))

    return check, NO_PHRASES


def _regexes(value: Any) -> list[re.Pattern[str]]:
    patterns = _strings(value, what="regular expressions")
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern, re.IGNORECASE))
        except re.error as exc:
            raise ValueError(f"bad regex {pattern!r}: {exc}") from None
    return compiled


@condition_kind("regex")
def _regex(value: Any) -> tuple[Condition, frozenset[str]]:
    compiled = _regexes(value)
    return (lambda item: any(p.search(item.text) for p in compiled)), NO_PHRASES


@condition_kind("regex_none")
def _regex_none(value: Any) -> tuple[Condition, frozenset[str]]:
    compiled = _regexes(value)
    return (lambda item: not any(p.search(item.text) for p in compiled)), NO_PHRASES


@condition_kind("channel")
def _channel(value: Any) -> tuple[Condition, frozenset[str]]:
    channels = {c.lower() for c in _strings(value, what="channels")}
    unknown = channels - CHANNELS
    if unknown:
        raise ValueError(f"unknown channel {sorted(unknown)[0]!r} (known: {', '.join(sorted(CHANNELS))})")
    return (lambda item: item.channel.lower() in channels), NO_PHRASES


@condition_kind("sender_domain")
def _sender_domain(value: Any) -> tuple[Condition, frozenset[str]]:
    domains = tuple(d.lower().lstrip("@.") for d in _strings(value, what="domains"))

    def check(item: RuleInput) -> bool:
        _, at, domain = item.sender.lower().rpartition("@")
        return bool(at) and any(domain == d or domain.endswith("." + d) for d in domains)

    return check, NO_PHRASES


@condition_kind("sender_regex")
def _sender_regex(value: Any) -> tuple[Condition, frozenset[str]]:
    compiled = _regexes(value)
    return (lambda item: any(p.fullmatch(item.sender) for p in compiled)), NO_PHRASES
