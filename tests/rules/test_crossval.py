"""Cross-validation: stratified, seeded folds, and out-of-fold answers from models that never saw the report."""

from __future__ import annotations

import pytest

from rules.crossval import cross_validate, leave_source_out, stratified_folds
from rules.dataset import LabelledReport
from rules.loader import parse_rules
from rules.textcat import TrainingParams

RULES = """
language = "en"
[categories.pothole]
department = "streets"
[categories.noise]
department = "environmental-health"
[categories.other]
department = "311-triage"
[[rule]]
name = "pothole"
category = "pothole"
when.keyword_any = ["pothole"]
"""

TEXTS = {
    "pothole": ["deep pothole on main street", "pothole ate my tire", "hole in the asphalt near the school"] * 3,
    "noise": ["loud music all night long", "party noise until 3am", "construction before 7am"] * 3,
    "other": ["question about my tax bill", "who do I ask about permits", "thank you for the help"],
}


def labelled(city: str = "a") -> list[LabelledReport]:
    return [
        LabelledReport("", f"{text} {i}", category, city, f"{category}-{i}")
        for category, texts in TEXTS.items()
        for i, text in enumerate(texts)
    ]


def test_folds_cover_every_report_once_and_every_category_is_in_each_fold() -> None:
    reports = labelled()
    folds = stratified_folds(reports, 3)
    assert sorted(i for fold in folds for i in fold) == list(range(len(reports)))
    for fold in folds:
        assert {reports[i].category for i in fold} == {"pothole", "noise", "other"}
    assert stratified_folds(reports, 3) == folds  # fixed seed
    assert stratified_folds(reports, 3, seed=7) != folds


def test_small_groups_are_spread_over_the_folds_not_piled_into_the_first() -> None:
    reports = [LabelledReport("", f"text {c}", c, "a", c) for c in ("a", "b", "c", "d")]
    assert sorted(len(fold) for fold in stratified_folds(reports, 4)) == [1, 1, 1, 1]


def test_one_fold_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2 folds"):
        stratified_folds(labelled(), 1)


def test_out_of_fold_answers_for_every_mode_and_threshold() -> None:
    reports = labelled()
    ruleset = parse_rules(RULES)
    oof = cross_validate(
        reports, ruleset, k=3, params=TrainingParams(epochs=4, min_per_label=10), thresholds=(0.0, 0.99)
    )
    assert oof.gold == tuple(r.category for r in reports)
    assert len(oof.rules) == len(oof.model) == len(reports)
    # rules alone: the pothole rule, "other" where no rule fires
    assert {p for g, p in zip(oof.gold, oof.rules, strict=True) if g == "noise"} == {"other"}
    assert all(p == "pothole" for t, p in zip(reports, oof.rules, strict=True) if "pothole" in t.text)
    # a threshold no model reaches sends every report no rule decided to triage
    assert {p for r, p in zip(oof.rules, oof.combined[0.99], strict=True) if r == "other"} == {"uncategorised"}
    assert "uncategorised" not in oof.combined[0.0]
    noise = [p for g, p in zip(oof.gold, oof.model, strict=True) if g == "noise"]
    assert noise.count("noise") >= 6  # fold models learn from the other folds' noise reports


def test_leaving_a_city_out_classifies_only_its_reports_with_a_model_trained_on_the_others() -> None:
    reports = [
        *labelled("a"),
        LabelledReport("", "pothole by the bus stop", "pothole", "b", "b-1"),
        LabelledReport("", "loud music from the bar", "noise", "b", "b-2"),
    ]
    ruleset = parse_rules(RULES)
    oof = leave_source_out(reports, ruleset, "b", params=TrainingParams(epochs=4, min_per_label=10), thresholds=(0.0,))
    assert oof.gold == ("pothole", "noise")
    assert oof.rules == ("pothole", "other")
    assert oof.model[1] == "noise"  # learnt from city a's noise reports ("loud music")
    assert oof.combined[0.0] == ("pothole", "noise")


def test_leaving_out_a_city_that_is_absent_or_is_all_the_data_is_refused() -> None:
    ruleset = parse_rules(RULES)
    with pytest.raises(ValueError, match="no reports from source 'z'"):
        leave_source_out(labelled("a"), ruleset, "z")
    with pytest.raises(ValueError, match="nothing left to train on"):
        leave_source_out(labelled("a"), ruleset, "a")
