"""Stage `classify`: the category, department and priority, from the rules first and the model next."""

from __future__ import annotations

from collections.abc import Callable, Sequence

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
    subject, body, channel, sender = _fields(parsed)
    item.classification = classifier.classify(subject=subject, body=body, channel=channel, sender=sender)
    item.rule_hits.extend(item.classification.rule_hits)


def _fields(parsed: ParsedMessage) -> tuple[str, str, str, str]:
    """What the classifier reads of a report: subject, body, channel, sender."""
    return parsed.subject, parsed.body_new or parsed.body_text, str(parsed.channel), parsed.sender


def classify_ahead(items: Sequence[WorkItem], ctx: StageContext) -> None:
    """Classify, in one pass of the model, those of `items` that the stage would give to the classifier; the stage
    then leaves them as they are. The model reads a batch in a half to two thirds of the time of as many single reports.

    Anything this cannot do in one pass (no batch method, a channel with a preset, an error) is left to the stage,
    which classifies each report alone and settles the one that fails."""
    classify_many = getattr(ctx.services.classifier, "classify_many", None)
    if classify_many is None:
        return
    todo = [
        (item, item.parsed)
        for item in items
        if item.parsed is not None and item.classification is None and item.parsed.channel not in PRESET_CLASSIFIERS
    ]
    if len(todo) < 2:
        return
    try:
        found: list[Classification] = classify_many([_fields(parsed) for _, parsed in todo])
    except Exception:  # (the stage meets the same error on the report that causes it)
        return
    for (item, _), classification in zip(todo, found, strict=True):
        item.classification = classification
        item.rule_hits.extend(classification.rule_hits)


STAGE = Stage(name="classify", run=run, transactional=False)
