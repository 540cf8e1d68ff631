"""The text model: reproducible training, a small saved model, the same text preparation in training and use."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules.formtext import resident_words
from rules.textcat import (
    TrainingParams,
    load_model,
    model_labels,
    model_text,
    save_model,
    shipped_model_dir,
    train_textcat,
)

EXAMPLES = [
    ("deep pothole in the road", "pothole"),
    ("pothole on main street damaged my tire", "pothole"),
    ("huge hole in the asphalt", "pothole"),
    ("loud music all night", "noise"),
    ("neighbours party noise until 3am", "noise"),
    ("construction noise before 7am", "noise"),
]
PARAMS = TrainingParams(epochs=3, min_per_label=10)


def scores(nlp, text: str) -> dict[str, float]:
    return nlp(model_text("", text)).cats


def test_same_data_and_seed_give_the_same_model() -> None:
    first = train_textcat(EXAMPLES, PARAMS)
    second = train_textcat(EXAMPLES, PARAMS)
    assert scores(first, "pothole near the school") == scores(second, "pothole near the school")
    other_seed = train_textcat(EXAMPLES, TrainingParams(epochs=3, min_per_label=10, seed=7))
    assert scores(other_seed, "pothole near the school") != scores(first, "pothole near the school")


def test_a_saved_model_loads_with_its_labels_and_answers(tmp_path: Path) -> None:
    nlp = train_textcat(EXAMPLES, PARAMS)
    save_model(nlp, tmp_path / "model", info={"examples": len(EXAMPLES)})
    loaded = load_model(tmp_path / "model")
    assert model_labels(loaded) == ("noise", "pothole")
    assert loaded.meta["inbox311"] == {"examples": 6}
    assert scores(loaded, "loud music") == pytest.approx(scores(nlp, "loud music"))
    assert (
        max(scores(loaded, "loud music all night long"), key=scores(loaded, "loud music all night long").get) == "noise"
    )


def test_training_needs_two_categories() -> None:
    with pytest.raises(ValueError, match="at least two categories"):
        train_textcat([("pothole", "pothole"), ("   ", "noise")], PARAMS)


def test_missing_model_directory_is_reported(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no meta\.json"):
        load_model(tmp_path)


def test_the_shipped_model_is_small_and_knows_the_main_categories() -> None:
    directory = shipped_model_dir()
    size = sum(f.stat().st_size for f in directory.rglob("*") if f.is_file())
    assert size < 6_000_000
    labels = set(model_labels(load_model(None)))
    assert {"pothole", "noise", "parking", "snow-ice", "abandoned-vehicle", "other"} <= labels


def test_model_text_is_lower_case_and_keeps_only_form_answers() -> None:
    form = "Make of the abandoned car: FORD | Color of the abandoned car: RED | Additional Details/Comments: Flat Tires"
    assert resident_words(form) == "Flat Tires"
    assert model_text("Car", form) == "car\nflat tires"
    assert resident_words("Pothole: huge one") == "Pothole: huge one"  # one colon is prose, not a form
    assert len(model_text("", "x" * 10_000)) == 2000
