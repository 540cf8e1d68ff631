"""The text model: reproducible training, a small saved model, the same text preparation in training and use."""

from __future__ import annotations

from pathlib import Path

import pytest

from rules.formtext import resident_words
from rules.textcat import (
    CONTENT_WORDS,
    TrainingParams,
    load_model,
    model_labels,
    model_text,
    model_text_of,
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
    assert loaded.meta["inbox311"] == {"text": CONTENT_WORDS, "examples": 6}  # how it reads, and the caller's info
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


def test_model_text_is_the_content_words_of_the_subject_and_the_form_answers() -> None:
    form = "Make of the abandoned car: FORD | Color of the abandoned car: RED | Additional Details/Comments: Flat Tires"
    assert resident_words(form) == "Flat Tires"
    assert model_text("Car", form) == "car flat tires"
    assert resident_words("Pothole: huge one") == "Pothole: huge one"  # one colon is prose, not a form
    assert model_text("", "The light at 1420 Main St is out since 3am") == "light 0 main st 0am"
    assert len(model_text("", "x" * 10_000)) == 2000


def test_a_model_trained_before_content_words_keeps_reading_lower_cased_text() -> None:
    import spacy

    older = spacy.blank("en")
    older.meta["inbox311"] = {"source": "database"}  # a city's model, trained before meta.json said how it reads
    read = model_text_of(older)
    assert read("Pothole", "The pothole is at 12 Main St", "en") == "pothole\nthe pothole is at 12 main st"
    newer = spacy.blank("en")
    newer.meta["inbox311"] = {"text": CONTENT_WORDS}
    assert model_text_of(newer) is model_text
    assert "the" not in model_text("Pothole", "The pothole is at 12 Main St", "en").split()
