"""Rules, then the model, then triage: the classifier the pipeline and `inbox311 classify` share."""

from __future__ import annotations

from pathlib import Path

import pytest

from parsers.types import Classification
from rules.classify import RulesAndModelClassifier, build_classifier
from rules.loader import load_rules, parse_rules
from rules.taxonomy import UNCATEGORISED
from rules.textcat import TrainingParams, model_text, train_textcat
from rules.types import RuleConfigError


def classify(classifier: RulesAndModelClassifier, body: str, subject: str = "") -> Classification:
    return classifier.classify(subject=subject, body=body, channel="email", sender="resident@example.org")


def test_a_rule_decides_with_its_name_department_and_priority(shipped_classifier: RulesAndModelClassifier) -> None:
    result = classify(shipped_classifier, "Water main break on Elm, water gushing everywhere")
    assert result == Classification("water", 0.95, "water-main-break", "water", "urgent", ("water-main-break",))


def test_the_model_decides_when_no_rule_fires(shipped_classifier: RulesAndModelClassifier) -> None:
    result = classify(shipped_classifier, "the car has been sitting here for weeks with flat tires")
    assert (result.category, result.decided_by, result.rule_hits) == ("abandoned-vehicle", "model", ())
    assert result.confidence >= 0.5
    assert (result.department, result.priority) == ("parking-enforcement", "low")


def test_below_the_threshold_goes_to_triage() -> None:
    strict = build_classifier(None, None, 0.999)
    result = classify(strict, "asdf qwerty zxcv")
    assert (result.category, result.decided_by, result.department) == (UNCATEGORISED, "triage", "311-triage")
    assert 0.0 < result.confidence < 0.999


def test_empty_report_goes_to_triage(shipped_classifier: RulesAndModelClassifier) -> None:
    result = classify(shipped_classifier, "   ", subject="")
    assert (result.category, result.decided_by, result.confidence) == (UNCATEGORISED, "triage", 0.0)


def test_classify_many_gives_the_same_answers_as_one_at_a_time(shipped_classifier: RulesAndModelClassifier) -> None:
    items = [
        ("Pothole", "deep one on Main St", "email", "a@b.example"),
        ("", "loud party next door", "sms", "+13125550100"),
        ("", "Cars race up and down this block every night", "web", ""),
        ("", "", "web", ""),
    ]
    many = shipped_classifier.classify_many(items)
    one = [shipped_classifier.classify(subject=s, body=b, channel=c, sender=f) for s, b, c, f in items]
    assert many == one
    assert [m.category for m in many[:2]] == ["pothole", "noise"]


def test_a_sure_model_overrides_a_rule_that_allows_it() -> None:
    ruleset = parse_rules(
        """
[categories.litter]
[categories.noise]
[[rule]]
name = "trash-word"
category = "litter"
model_override = 0.6
when.keyword_any = ["trash"]
[[rule]]
name = "firm"
category = "litter"
when.keyword_any = ["garbage"]
"""
    )
    examples = [(model_text("", "garbage trucks banging trash cans at 4am noise"), "noise")] * 30 + [
        (model_text("", "litter everywhere on the sidewalk"), "litter")
    ] * 30
    nlp = train_textcat(examples, TrainingParams(epochs=4, min_per_label=0))
    classifier = RulesAndModelClassifier(ruleset, nlp, 0.5)
    overridden = classifier.classify(subject="", body="banging trash cans at 4am noise", channel="web", sender="")
    assert (overridden.category, overridden.decided_by, overridden.rule_hits) == ("noise", "model", ("trash-word",))
    firm = classifier.classify(subject="", body="banging garbage cans at 4am noise", channel="web", sender="")
    assert (firm.category, firm.decided_by) == ("litter", "firm")


def test_a_model_sure_of_other_does_not_override_a_rule() -> None:
    ruleset = parse_rules(
        """
[categories.street-sign]
[categories.other]
[[rule]]
name = "sign-word"
category = "street-sign"
model_override = 0.6
when.keyword_any = ["sign"]
"""
    )
    examples = [(model_text("", "please sign me up for the monthly newsletter mailing list"), "other")] * 30
    examples += [(model_text("", "stop sign knocked down"), "street-sign")] * 5
    nlp = train_textcat(examples, TrainingParams(epochs=8, min_per_label=0))
    classifier = RulesAndModelClassifier(ruleset, nlp, 0.5)
    body = "please sign me up for the monthly newsletter mailing list"
    assert nlp(model_text("", body)).cats["other"] >= 0.6  # the model is sure, but "other" says "none of these"
    result = classifier.classify(subject="", body=body, channel="web", sender="")
    assert (result.category, result.decided_by) == ("street-sign", "sign-word")


def test_rules_without_a_model_fall_back_to_triage() -> None:
    classifier = RulesAndModelClassifier(load_rules(None), None, 0.5)
    assert classifier.classify(subject="", body="pothole", channel="web", sender="").decided_by == "pothole"
    assert classifier.classify(subject="", body="hello there", channel="web", sender="").decided_by == "triage"


def test_bad_rules_file_or_model_directory_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "rules.toml"
    bad.write_text('[categories.pothole]\n[[rule]]\nname = "oops"\ncategory = "pothole"\nwhen.regex = ["("]\n')
    with pytest.raises(RuleConfigError, match="rule 'oops'"):
        build_classifier(str(bad), None, 0.5)
    with pytest.raises(RuleConfigError, match=r"\[rules\] model"):
        build_classifier(None, str(tmp_path / "no-model"), 0.5)
    with pytest.raises(RuleConfigError, match="triage_threshold"):
        build_classifier(None, None, 1.5)


def test_a_damaged_sidewalk_is_found_with_the_words_apart_but_not_a_snowy_one(
    shipped_classifier: RulesAndModelClassifier,
) -> None:
    def decided(body: str) -> str:
        return shipped_classifier.classify(subject="", body=body, channel="web", sender="").decided_by

    assert decided("the sidewalk in front of 12 Main St is cracked and lifted by roots") == "sidewalk-damage"
    assert decided("sidewalk bricks are uneven, my neighbour tripped") == "sidewalk-damage"
    assert decided("the sidewalk is covered in ice and broken up snow") != "sidewalk-damage"
    assert decided("a car parked on the sidewalk, its bumper is broken") != "sidewalk-damage"
