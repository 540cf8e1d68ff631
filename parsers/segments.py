"""How many SMS segments a text costs (GSM-7 or UCS-2, 3GPP TS 23.038 / 23.040), and fitting a text to N segments.

A text whose every character is in the GSM 03.38 alphabet travels as 7-bit septets: 160 in one segment, 153 per
segment once split (the rest carries the concatenation header). Characters of the extension table (`€ [ ] { } ~ ^ \\ |`
and form feed) take two septets and are never split across segments. One character outside the alphabet turns the
whole text into UCS-2: 70 UTF-16 code units alone, 67 per segment when split, surrogate pairs kept together.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67

# Look-alikes phones and word processors put in text, and their GSM-7 spelling (Twilio's "smart encoding" idea).
_GSM7_LOOKALIKES = {
    "‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'", "`": "'", "´": "'",
    "“": '"', "”": '"', "„": '"', "‟": '"', "″": '"', "«": '"', "»": '"',
    "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "―": "-", "−": "-",
    "…": "...", "•": "-", "·": ".", "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u200b": "", "\ufeff": "",
    "\t": " ",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class SegmentCount:
    encoding: str  # "GSM-7" | "UCS-2"
    segments: int
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def _weights(text: str, gsm: bool) -> list[int]:
    if gsm:
        return [2 if c in GSM7_EXTENSION else 1 for c in text]
    return [2 if ord(c) > 0xFFFF else 1 for c in text]  # outside the BMP: a surrogate pair


def count_segments(text: str) -> SegmentCount:
    """The encoding a phone network will use for `text`, and how many segments it is billed and sent as."""
    gsm = is_gsm7(text)
    weights = _weights(text, gsm)
    single, multi = (GSM7_SINGLE, GSM7_MULTI) if gsm else (UCS2_SINGLE, UCS2_MULTI)
    units = sum(weights)
    encoding = "GSM-7" if gsm else "UCS-2"
    if units <= single:
        return SegmentCount(encoding, 1 if text else 0, units)
    segments, used = 1, 0
    for w in weights:  # an escape pair or a surrogate pair goes whole into the next segment
        if used + w > multi:
            segments, used = segments + 1, 0
        used += w
    return SegmentCount(encoding, segments, units)


def to_gsm7(text: str) -> str:
    """`text` with typographic look-alikes and accents the GSM alphabet lacks spelled in it (á -> a, ’ -> ').

    Characters with no GSM-7 spelling (emoji, other scripts) are left alone, so the text stays readable in UCS-2.
    """
    out: list[str] = []
    for c in text:
        if c in GSM7_BASIC or c in GSM7_EXTENSION:
            out.append(c)
        elif c in _GSM7_LOOKALIKES:
            out.append(_GSM7_LOOKALIKES[c])
        else:
            bare = "".join(d for d in unicodedata.normalize("NFKD", c) if not unicodedata.combining(d))
            out.append(bare if bare and is_gsm7(bare) else c)
    return "".join(out)


def fits(text: str, max_segments: int) -> bool:
    return count_segments(text).segments <= max_segments


def fit_to_segments(text: str, max_segments: int, *, keep: Sequence[str] = ()) -> str:
    """`text`, shortened as little as possible to fit `max_segments`, never cutting into any string of `keep`.

    First the GSM-7 spelling is tried (it may halve the cost); then free text is cut from the end backwards, with
    an ellipsis where it was cut. Raises ValueError when the kept strings alone do not fit.
    """
    if fits(text, max_segments):
        return text
    gsm_text = to_gsm7(text)
    if fits(gsm_text, max_segments):
        return gsm_text
    runs = _split_runs(gsm_text, [k for k in keep if k])
    free = sum(len(run) for run, kept in runs if not kept)
    if not fits(_cut(runs, free), max_segments):
        raise ValueError(f"the kept text alone needs more than {max_segments} segment(s)")
    low, high = 0, free  # the fewest characters to cut: binary search, then verified
    while low < high:
        mid = (low + high) // 2
        if fits(_cut(runs, mid), max_segments):
            high = mid
        else:
            low = mid + 1
    return _cut(runs, low)


def _split_runs(text: str, keep: Sequence[str]) -> list[tuple[str, bool]]:
    """`text` as (run, kept) pieces, kept pieces being the occurrences of the `keep` strings."""
    runs: list[tuple[str, bool]] = []
    i = 0
    while i < len(text):
        starts = [(text.find(k, i), k) for k in keep]
        found = [(pos, k) for pos, k in starts if pos >= 0]
        if not found:
            runs.append((text[i:], False))
            break
        pos, k = min(found, key=lambda f: (f[0], -len(f[1])))
        if pos > i:
            runs.append((text[i:pos], False))
        runs.append((k, True))
        i = pos + len(k)
    return runs


def _cut(runs: list[tuple[str, bool]], n: int) -> str:
    """The text with its last `n` free characters removed, each cut marked with an ellipsis."""
    out: list[str] = []
    remaining = n
    for run, kept in reversed(runs):
        take = 0 if kept else min(remaining, len(run))
        remaining -= take
        if take == 0:
            out.append(run)
            continue
        left = run[: len(run) - take].rstrip()
        tail = run[len(run.rstrip()) :]  # keep the run apart from what follows it
        separator = "\n" if "\n" in tail else " " if tail else ""
        out.append(f"{left}...{separator}" if left else (separator or (" " if run[:1].isspace() else "")))
    return "".join(reversed(out)).strip()
