"""The pipeline's stages, one small module each, looked up by their stable names."""

from __future__ import annotations

from gateway.pipeline import PIPELINE, Stage
from gateway.stages import classify, extract, notify, parse, thread, ticket

_MODULES = (parse, extract, classify, thread, ticket, notify)
STAGES: dict[str, Stage] = {m.STAGE.name: m.STAGE for m in _MODULES}


def pipeline_stages(names: tuple[str, ...] = PIPELINE) -> tuple[Stage, ...]:
    missing = [n for n in names if n not in STAGES]
    if missing:
        raise KeyError(f"unknown pipeline stage(s): {', '.join(missing)}")
    return tuple(STAGES[n] for n in names)
