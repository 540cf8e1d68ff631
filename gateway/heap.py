"""The collector's settings for a long-running process, applied once start-up has built what lives for its life."""

from __future__ import annotations

import gc

# Each message makes and drops thousands of short-lived objects (parsed headers, rows, rendered text); with the
# default 700 the young generation is collected several times per message. Almost none of it is cyclic garbage,
# so collecting less often only delays the little that is, by a few milliseconds.
YOUNG_THRESHOLD = 20_000


def settle_heap() -> None:
    """Collect once, move what start-up made (language model, templates, compiled rules) out of the collector's
    sight so that full collections do not walk it again, and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
