"""The pipeline's stages, one small module each, looked up by their stable names."""

from __future__ import annotations

from gateway.pipeline import PIPELINE, Stage
from gateway.sms_channel import register_sms_channel
from gateway.stages import classify, extract, notify, parse, thread, ticket
from gateway.understanding import register_understanding
from gateway.web_channel import register_web_channel

_MODULES = (parse, extract, classify, thread, ticket, notify)
STAGES: dict[str, Stage] = {m.STAGE.name: m.STAGE for m in _MODULES}

register_sms_channel()  # SMS: parser, media fetch, conversation threading, text acknowledgements
register_web_channel()  # web form: parser, chosen category and location, acknowledgement by email or text
register_understanding()  # geocoding, duplicates, the question an acknowledgement asks and its answer


def pipeline_stages(names: tuple[str, ...] = PIPELINE) -> tuple[Stage, ...]:
    missing = [n for n in names if n not in STAGES]
    if missing:
        raise KeyError(f"unknown pipeline stage(s): {', '.join(missing)}")
    return tuple(STAGES[n] for n in names)
