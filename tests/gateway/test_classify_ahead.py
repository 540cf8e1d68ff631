"""A parse child classifies its batch in one pass of the model, with the same result as one report at a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from gateway.pipeline import StageContext, WorkItem
from gateway.services import build_services
from gateway.settings import Settings
from gateway.stage_process import PURE_STAGES, Prepared, prepare_batch_in_child, prepare_in_child
from gateway.stages import pipeline_stages
from parsers.types import Channel, Classification
from rules.classify import ReportFields, RulesAndModelClassifier
from tests.gateway.conftest import report

REPORTS = [
    ("Light out", "The light on the corner of Clark and Belmont has been out for a week."),
    ("", "huge pothole in front of 1420 W Addison St, almost lost a tire"),
    ("Graffiti", "Someone sprayed graffiti all over the wall of the library on Main Street."),
    ("", ""),  # empty: rejected by `parse`, before any category
    ("Tree down", "A big branch fell across the sidewalk at 12 Oak Ave after the storm."),
    ("boom", "a report the classifier cannot read"),
    ("Noise", "Loud music from the bar at 300 Elm St every night until 3am."),
]


class CountingClassifier:
    """The real classifier, counting its calls; `fail` makes it raise on the reports whose subject it names."""

    def __init__(self, real: RulesAndModelClassifier, fail: str = "", fail_batches: bool = False) -> None:
        self.real = real
        self.fail = fail
        self.fail_batches = fail_batches
        self.single = 0
        self.batches: list[int] = []

    def classify(self, *, subject: str, body: str, channel: str, sender: str) -> Classification:
        self.single += 1
        if self.fail and subject == self.fail:
            raise RuntimeError("the model fell over")
        return self.real.classify(subject=subject, body=body, channel=channel, sender=sender)

    def classify_many(self, items: Sequence[ReportFields]) -> list[Classification]:
        self.batches.append(len(items))
        if self.fail_batches:
            raise RuntimeError("the model fell over")
        return self.real.classify_many(items)


def _items() -> list[WorkItem]:
    return [
        WorkItem(
            raw_id=n,
            channel=Channel.EMAIL,
            source="smtp",
            raw=bytes(report(subject, body)),
            received_at=datetime(2026, 5, 1, tzinfo=UTC),
        )
        for n, (subject, body) in enumerate(REPORTS, start=1)
    ]


@pytest.fixture
def real_ctx(settings: Settings) -> StageContext:
    return StageContext(services=build_services(settings))


def _with(ctx: StageContext, classifier: CountingClassifier) -> StageContext:
    return StageContext(services=replace(ctx.services, classifier=classifier))


def test_a_batch_is_classified_in_one_pass_with_what_one_at_a_time_gives(real_ctx: StageContext) -> None:
    assert isinstance(real_ctx.services.classifier, RulesAndModelClassifier)
    stages = pipeline_stages(PURE_STAGES)
    one_by_one = [prepare_in_child(item, stages, real_ctx) for item in _items()]
    counting = CountingClassifier(real_ctx.services.classifier)

    batched = prepare_batch_in_child(_items(), stages, _with(real_ctx, counting))

    assert batched == one_by_one
    assert counting.batches == [6] and counting.single == 0  # the empty report never reaches `classify`
    categories = [p.item.classification.category if p.item and p.item.classification else None for p in batched]
    assert categories[0] == "street-light" and categories[3] is None
    assert batched[3] == Prepared(None, "quarantined", "parse: empty: no subject, no text and no attachments")


def test_when_the_batch_fails_each_report_is_classified_alone_and_only_the_bad_one_is_quarantined(
    real_ctx: StageContext,
) -> None:
    assert isinstance(real_ctx.services.classifier, RulesAndModelClassifier)
    counting = CountingClassifier(real_ctx.services.classifier, fail="boom", fail_batches=True)

    batched = prepare_batch_in_child(_items(), pipeline_stages(PURE_STAGES), _with(real_ctx, counting))

    assert counting.batches == [6] and counting.single == 6
    boom = batched[5]
    assert boom.item is None and boom.error and boom.reason == "classify: RuntimeError: the model fell over"
    assert all(
        p.item is not None and p.item.classification is not None for i, p in enumerate(batched) if i not in (3, 5)
    )


def test_a_classifier_without_a_batch_method_is_asked_one_report_at_a_time(real_ctx: StageContext) -> None:
    assert isinstance(real_ctx.services.classifier, RulesAndModelClassifier)
    real = real_ctx.services.classifier

    class OneAtATime:
        calls = 0

        def classify(self, *, subject: str, body: str, channel: str, sender: str) -> Classification:
            OneAtATime.calls += 1
            return real.classify(subject=subject, body=body, channel=channel, sender=sender)

    ctx = StageContext(services=replace(real_ctx.services, classifier=OneAtATime()))
    batched = prepare_batch_in_child(_items(), pipeline_stages(PURE_STAGES), ctx)

    assert OneAtATime.calls == 6
    assert [p.item is not None for p in batched] == [True, True, True, False, True, True, True]
