"""Fixtures for the rules tests: the shipped classifier, loaded once per session (the model takes a second)."""

from __future__ import annotations

import pytest

from rules.classify import RulesAndModelClassifier, build_classifier


@pytest.fixture(scope="session")
def shipped_classifier() -> RulesAndModelClassifier:
    return build_classifier(None, None, 0.5)
