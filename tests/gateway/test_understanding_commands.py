"""`inbox311 train`, `eval` and `classify` end to end through the real command line entry point."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import sys
from pathlib import Path

import pytest

from gateway.cli import main
from storage.db import Database
from storage.tickets import create_ticket

TEXTS = {
    "pothole": [
        "deep pothole on main street",
        "pothole ate my tire",
        "huge hole in the asphalt near the school",
        "road surface crumbling into a pothole",
        "pothole at the bus stop again",
    ],
    "noise": [
        "loud music all night long",
        "neighbours party noise until 3am",
        "construction noise before 7am",
        "barking dog all day and night",
        "car alarm going off every night",
    ],
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("INBOX311__")]:
        monkeypatch.delenv(name)


def labelled_csv(path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["source", "category", "text"])
        for category, texts in TEXTS.items():
            writer.writerows(["test", category, text] for text in texts)
    return path


def test_train_then_eval_writes_a_model_and_a_json_report(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = labelled_csv(tmp_path / "labelled.csv")
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "model"), "--epochs", "3"]) == 0
    meta = json.loads((tmp_path / "model" / "meta.json").read_text())
    assert meta["inbox311"]["examples"] == 10 and meta["inbox311"]["seed"] == 311
    assert "model written to" in capsys.readouterr().err

    report = tmp_path / "eval.json"
    code = main(
        ["eval", "--data", str(data), "--model", str(tmp_path / "model"), "--mode", "all", "--json", str(report)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "== combined" in printed and "== rules" in printed and "confusion" in printed
    scores = json.loads(report.read_text())
    assert set(scores["results"]) == {"combined", "rules", "model"}
    assert scores["reports"] == 10
    assert scores["results"]["model"]["macro_f1"] >= 0.8  # it has seen these very texts


def test_train_refuses_one_category(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "one.csv"
    data.write_text("category,text\npothole,deep pothole\npothole,another pothole\n")
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "m")]) == 1
    assert "at least two categories" in capsys.readouterr().err


def test_eval_of_a_missing_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["eval", "--data", str(tmp_path / "absent.csv")]) == 2
    assert "absent.csv" in capsys.readouterr().err


def test_train_from_the_ticket_history(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async def add() -> None:
        db = Database(sqlite_url)
        async with db.write() as session:
            for category, texts in TEXTS.items():
                for text in texts:
                    await create_ticket(
                        session=session,
                        prefix="SR",
                        channel="email",
                        summary=text,
                        category=category,
                        category_decided_by="staff:ana@city.example",
                    )
        await db.dispose()

    asyncio.run(add())
    monkeypatch.setenv("INBOX311__DATABASE__URL", sqlite_url)
    assert main(["train", "--from-db", "--out", str(tmp_path / "model"), "--epochs", "2"]) == 0
    meta = json.loads((tmp_path / "model" / "meta.json").read_text())
    assert meta["inbox311"]["source"] == "database"
    assert meta["inbox311"]["per_category"] == {"noise": 5, "pothole": 5}


def test_classify_reads_text_and_json_lines(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    lines = [
        "huge pothole in front of 1420 W Addison St, almost lost a tire",
        "",
        json.dumps({"subject": "Light out", "text": "on the corner of Clark and Belmont", "channel": "sms"}),
        "{not json but a report about graffiti on the wall}",
    ]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    monkeypatch.setenv(
        "INBOX311__GEOCODER__STREETS_FILE", str(Path(__file__).resolve().parents[2] / "parsers" / "streets_sample.csv")
    )
    assert main(["classify"]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [o["category"] for o in out] == ["pothole", "street-light", "graffiti"]
    first = out[0]
    assert (first["decided_by"], first["department"], first["rule_hits"]) == ("pothole", "streets", ["pothole"])
    assert first["location"]["kind"] == "address" and first["location"]["text"] == "1420 W Addison St"
    assert first["location"]["lat"] == pytest.approx(41.947, abs=0.001)
    assert out[1]["location"]["text"] == "Clark & Belmont" and out[1]["location"]["lat"] is not None
    assert out[2]["location"] is None


def test_classify_with_a_bad_rules_file_names_the_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "rules.toml"
    bad.write_text('[categories.pothole]\n[[rule]]\nname = "broken-one"\ncategory = "pothole"\nwhen.regex = ["["]\n')
    monkeypatch.setattr(sys, "stdin", io.StringIO("pothole\n"))
    assert main(["classify", "--rules", str(bad)]) == 2
    assert "rule 'broken-one'" in capsys.readouterr().err


def test_train_on_some_sources_and_eval_without_a_catch_all_type(tmp_path: Path) -> None:
    data = tmp_path / "cities.csv"
    with data.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["source", "source_category", "category", "text"])
        for category, texts in TEXTS.items():
            writer.writerows(["city-a", category, category, text] for text in texts)
        writer.writerow(["city-b", "Other", "other", "anything at all"])
    out = tmp_path / "model"
    assert main(["train", "--data", str(data), "--source", "city-a", "--out", str(out), "--epochs", "2"]) == 0
    assert json.loads((out / "meta.json").read_text())["inbox311"]["per_category"] == {"noise": 5, "pothole": 5}
    report = tmp_path / "eval.json"
    assert main(["eval", "--data", str(data), "--model", str(out), "--skip-type", "other", "--json", str(report)]) == 0
    assert json.loads(report.read_text())["reports"] == 10


def test_eval_cross_validates_and_can_count_triage_as_other(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = labelled_csv(tmp_path / "labelled.csv")
    report = tmp_path / "cv.json"
    args = ["eval", "--data", str(data), "--cv", "2", "--mode", "all", "--threshold", "0.999", "--json", str(report)]
    assert main([*args, "--triage-as-other"]) == 0
    captured = capsys.readouterr()
    assert "fold 2/2" in captured.err and "2-fold cross-validation" in captured.out
    scores = json.loads(report.read_text())
    assert (scores["cv_folds"], scores["triage_as_other"], scores["reports"]) == (2, True, 10)
    # no model is that sure: a report no rule decides ("hole in the asphalt") is triaged, counted as `other`
    confusion = scores["results"]["combined"]["confusion"]
    assert confusion["pothole"].get("other", 0) >= 1
    assert not any("uncategorised" in row for row in confusion.values())
    assert main([*args[:-2], "--cv", "1"]) == 2


def test_eval_leaves_a_city_out_of_training_and_scores_only_its_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = tmp_path / "cities.csv"
    with data.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["source", "category", "text"])
        for category, texts in TEXTS.items():
            writer.writerows(["city-a", category, text] for text in texts)
        writer.writerows([["city-b", "noise", "loud music from the bar"], ["city-b", "pothole", "a pothole again"]])
    report = tmp_path / "left-out.json"
    args = ["eval", "--data", str(data), "--leave-out", "city-b", "--mode", "all", "--json", str(report)]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "fold 1/1: trained on 10, classified 2" in captured.err and "city-b left out of training" in captured.out
    scores = json.loads(report.read_text())
    assert (scores["left_out"], scores["reports"]) == ("city-b", 2)
    assert scores["results"]["model"]["confusion"]["noise"] == {"noise": 1}  # learnt from city a's "loud music"
    assert main([*args, "--cv", "2"]) == 2  # one or the other
    assert main([*args[:4], "city-z"]) == 2
    assert "no reports from source 'city-z'" in capsys.readouterr().err
