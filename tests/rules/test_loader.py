"""The rules file is checked at start-up: every mistake stops the start with the rule's name and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules.loader import load_rules, parse_rules
from rules.taxonomy import TAXONOMY_SLUGS
from rules.types import RuleConfigError

CATEGORIES = """
[categories.pothole]
department = "streets"
[categories.water]
department = "water"
priority = "high"
"""


def rules_file(rules: str, head: str = "") -> str:
    return head + CATEGORIES + rules


def test_shipped_rules_load_and_cover_the_taxonomy() -> None:
    ruleset = load_rules(None)
    assert set(ruleset.categories) == set(TAXONOMY_SLUGS)
    assert len(ruleset.rules) >= 20
    assert ruleset.triage.department == "311-triage"
    assert all(rule.category in ruleset.categories for rule in ruleset.rules)


def test_a_custom_file_is_read_from_disk(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(rules_file('[[rule]]\nname = "holes"\ncategory = "pothole"\nwhen.keyword_any = ["hole"]\n'))
    ruleset = load_rules(path)
    assert [r.name for r in ruleset.rules] == ["holes"]
    assert ruleset.source == str(path)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (
            '[[rule]]\nname = "bad-regex"\ncategory = "pothole"\nwhen.regex = ["(unclosed"]\n',
            "rule 'bad-regex': when.regex: bad regex",
        ),
        (
            '[[rule]]\nname = "typo"\ncategory = "pothole"\nwhen.keyword_anyy = ["x"]\n',
            "rule 'typo': unknown condition kind 'keyword_anyy'",
        ),
        (
            '[[rule]]\nname = "extra"\ncategory = "pothole"\ncolour = "red"\nwhen.keyword_any = ["x"]\n',
            "rule 'extra': unknown key 'colour'",
        ),
        (
            '[[rule]]\nname = "nowhere"\ncategory = "potholes"\nwhen.keyword_any = ["x"]\n',
            "rule 'nowhere': unknown category 'potholes'",
        ),
        ('[[rule]]\nname = "no-when"\ncategory = "pothole"\n', "rule 'no-when': needs at least one condition"),
        (
            '[[rule]]\nname = "empty"\ncategory = "pothole"\nwhen.keyword_any = []\n',
            "rule 'empty': when.keyword_any: expected a non-empty list",
        ),
        (
            '[[rule]]\nname = "loud"\ncategory = "pothole"\npriority = "extreme"\nwhen.keyword_any = ["x"]\n',
            "rule 'loud': priority 'extreme'",
        ),
        (
            '[[rule]]\nname = "sure"\ncategory = "pothole"\nmodel_override = 1.5\nwhen.keyword_any = ["x"]\n',
            "rule 'sure': model_override",
        ),
        (
            '[[rule]]\nname = "chan"\ncategory = "pothole"\nwhen.channel = ["fax"]\n',
            "rule 'chan': when.channel: unknown",
        ),
        ('[[rule]]\nname = "Bad Name"\ncategory = "pothole"\nwhen.keyword_any = ["x"]\n', "name must be lower-case"),
        (
            '[[rule]]\nname = "twice"\ncategory = "pothole"\nwhen.keyword_any = ["x"]\n'
            '[[rule]]\nname = "twice"\ncategory = "water"\nwhen.keyword_any = ["y"]\n',
            "rule 'twice': duplicate name",
        ),
    ],
)
def test_a_bad_rule_is_refused_by_name(rules: str, message: str) -> None:
    with pytest.raises(RuleConfigError, match=message.replace("(", r"\(")):
        parse_rules(rules_file(rules), source="city.toml")


def test_unknown_top_level_key_and_bad_toml_are_refused() -> None:
    with pytest.raises(RuleConfigError, match="top level: unknown key 'rules'"):
        parse_rules(rules_file("", head="[rules]\nx = 1\n"))
    with pytest.raises(RuleConfigError, match="not valid TOML"):
        parse_rules("[[rule]\n")
    with pytest.raises(RuleConfigError, match="at least one category"):
        parse_rules('language = "en"\n')


def test_model_aliases_must_name_a_category() -> None:
    ruleset = parse_rules(rules_file("", head='[model]\naliases = { potholes = "pothole" }\n'))
    assert ruleset.model_aliases == {"potholes": "pothole"}
    with pytest.raises(RuleConfigError, match="alias 'x': unknown category 'nope'"):
        parse_rules(rules_file("", head='[model]\naliases = { x = "nope" }\n'))


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(RuleConfigError, match="rules file"):
        load_rules(tmp_path / "absent.toml")


def test_disabled_rules_are_checked_but_not_run() -> None:
    ruleset = parse_rules(
        rules_file('[[rule]]\nname = "off"\ncategory = "pothole"\nenabled = false\nwhen.keyword_any = ["hole"]\n')
    )
    assert ruleset.rules == ()
    with pytest.raises(RuleConfigError, match=r"rule 'off': when\.regex: bad regex"):
        parse_rules(rules_file('[[rule]]\nname = "off"\ncategory = "pothole"\nenabled = false\nwhen.regex = ["["]\n'))
