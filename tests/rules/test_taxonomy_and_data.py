"""The mapping of cities' request types to the taxonomy, the labelled CSV reader, and the scoring maths."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules.dataset import LabelledReport, read_labelled_csv, write_training_csv
from rules.evaluation import format_report, score_predictions
from rules.taxonomy import CATEGORY_MAP, TAXONOMY_SLUGS, map_source_category

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "311"


@pytest.mark.parametrize(
    ("source", "request_type", "category"),
    [
        ("publicstuff-nyc", "Noise: Construction Before/After Hours (NM1)", "noise"),
        ("publicstuff-nyc", "Street Light Out", "street-light"),
        ("publicstuff-nyc", "Blocked Sidewalk or Street", "other"),  # "street" is not "tree"
        ("publicstuff-nyc", "Leaking fire hydrant", "water"),
        ("publicstuff-nyc", "Illegal Parking -- BLOCKED HYDRANT", "parking"),
        ("publicstuff-nyc", "Police Issue", "other"),  # "police" does not contain the word "ice"
        ("publicstuff-nyc", "Dangerous Condition", "other"),
        ("publicstuff-nyc", "Pothole in New York, NY", "pothole"),
        ("publicstuff-nyc", "asdfasdf", None),
        ("publicstuff-hoboken", "Trees on Sidewalks", "tree"),
        ("boston-open311", "Sidewalk Not Shoveled", "snow-ice"),
        ("seeclickfix-newport-ri", "Roadway or Sidewalk Issue", None),
        ("seeclickfix-newport-ri", "Missed Trash or Bulky Waste Collection", "missed-collection"),
        ("anywhere", "pothole", "pothole"),  # already a taxonomy slug
    ],
)
def test_request_types_map_to_the_taxonomy(source: str, request_type: str, category: str | None) -> None:
    assert map_source_category(source, request_type) == category


def test_every_mapping_target_is_in_the_taxonomy() -> None:
    assert {c for _, _, c in CATEGORY_MAP if c is not None} <= set(TAXONOMY_SLUGS)


def test_a_city_export_reads_as_labelled_reports() -> None:
    reports = read_labelled_csv(FIXTURES / "publicstuff_hoboken.csv")
    assert len(reports) == 43  # 46 rows, 3 without text
    assert {r.category for r in reports} == {
        "parks",
        "pothole",
        "tree",
        "street-light",
        "litter",
        "abandoned-vehicle",
        "graffiti",
        "sidewalk",
    }
    assert reports[0].source == "publicstuff-hoboken" and reports[0].source_category


def test_training_csv_round_trip_and_boilerplate_is_dropped(tmp_path: Path) -> None:
    rows = [
        LabelledReport("", "Pothole on Main", "pothole", "test", "1", "Pothole"),
        LabelledReport("", "This request was submitted to NYC 311 without a description.", "noise", "test", "2"),
        LabelledReport("Subject only", "", "other", "test", "3"),
    ]
    path = tmp_path / "train.csv"
    assert write_training_csv(path, rows) == 3
    back = read_labelled_csv(path)
    assert [(r.subject, r.text, r.category) for r in back] == [
        ("", "Pothole on Main", "pothole"),
        ("Subject only", "", "other"),
    ]
    assert read_labelled_csv(path, sources=["elsewhere"]) == []


def test_a_csv_without_the_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("body,label\nx,y\n")
    with pytest.raises(ValueError, match="needs the columns text and category"):
        read_labelled_csv(path)


def test_scores_match_a_hand_computed_example() -> None:
    gold = ["a", "a", "a", "b", "b", "c"]
    pred = ["a", "a", "b", "b", "c", "uncategorised"]
    report = score_predictions(gold, pred)
    by = {c.category: c for c in report.per_category}
    assert (by["a"].precision, by["a"].recall) == (1.0, pytest.approx(2 / 3))
    assert by["b"].f1 == pytest.approx(0.5)
    assert by["c"].f1 == 0.0
    assert report.macro_f1 == pytest.approx((0.8 + 0.5 + 0.0) / 3)
    assert report.accuracy == pytest.approx(3 / 6)
    assert report.confusion["c"] == {"uncategorised": 1}
    assert report.macro_f1_min_support(2) == pytest.approx((0.8 + 0.5) / 2)
    text = format_report(report, title="demo")
    assert "macro-F1 0.433" in text and "confusion" in text
