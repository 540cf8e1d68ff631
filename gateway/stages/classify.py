"""Stage `classify`: the category, department and priority, from the rules first and the model next."""

from __future__ import annotations

from gateway.pipeline import Stage, StageContext, WorkItem


async def run(item: WorkItem, ctx: StageContext) -> None:
    classifier = ctx.services.classifier
    parsed = item.parsed
    if classifier is None or parsed is None or item.classification is not None:
        return
    item.classification = classifier.classify(
        subject=parsed.subject,
        body=parsed.body_new or parsed.body_text,
        channel=str(parsed.channel),
        sender=parsed.sender,
    )
    item.rule_hits.extend(item.classification.rule_hits)


STAGE = Stage(name="classify", run=run, transactional=False)
