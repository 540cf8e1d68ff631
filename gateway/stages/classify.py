"""Stage `classify`: the category, department and priority, from the rules first and the model next."""

from __future__ import annotations

from collections.abc import Callable

from gateway.pipeline import Services, Stage, StageContext, WorkItem
from parsers.types import Channel, Classification, ParsedMessage

# Channels whose messages name their own category (an Open311 service_code) say which; None lets the rules decide.
PresetClassifier = Callable[[ParsedMessage, Services], Classification | None]
PRESET_CLASSIFIERS: dict[Channel, PresetClassifier] = {}


async def run(item: WorkItem, ctx: StageContext) -> None:
    classifier = ctx.services.classifier
    parsed = item.parsed
    if parsed is None or item.classification is not None:
        return
    preset = PRESET_CLASSIFIERS.get(parsed.channel)
    item.classification = preset(parsed, ctx.services) if preset is not None else None
    if item.classification is not None:
        item.rule_hits.extend(item.classification.rule_hits)
        return
    if classifier is None:
        return
    item.classification = classifier.classify(
        subject=parsed.subject,
        body=parsed.body_new or parsed.body_text,
        channel=str(parsed.channel),
        sender=parsed.sender,
    )
    item.rule_hits.extend(item.classification.rule_hits)


STAGE = Stage(name="classify", run=run, transactional=False)
