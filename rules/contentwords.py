"""A report's text as the model reads it: lower-cased content words, no links, digits folded, stop words dropped.

A bag-of-words model learns from every word it sees. Function words ("the", "is", "because") and numbers
(house numbers, dates, plates) say nothing about the problem, but in training data where one city dominates
they take on that city's categories, its form letters and its way of writing, and make the model sure of
itself about reports from a city it never saw. Without them what is left is the words about the problem.
Measured by cross-validation and by leaving a city out of training (docs/understanding.md).
"""

from __future__ import annotations

import re
from functools import cache

# Links and email addresses name a site, not a problem; every run of digits becomes "0" ("3am" ~ "11pm").
_LINK = re.compile(r"(?:https?://|www\.)\S+|[^\s@]+@[^\s@]+\.\w+")
_DIGITS = re.compile(r"\d+")
_WORD = re.compile(r"[^\W_]+(?:'[^\W\d_]+)?")


@cache
def stop_words(language: str) -> frozenset[str]:
    """spaCy's stop-word list for the language (empty for a language spaCy has none for)."""
    from spacy.util import get_lang_class

    try:
        return frozenset(get_lang_class(language).Defaults.stop_words)
    except ImportError:
        return frozenset()


def content_words(text: str, language: str = "en") -> str:
    """`text` lower-cased, links removed, digits folded to "0", stop words dropped, words joined by spaces."""
    drop = stop_words(language)
    text = text.lower().replace("\u2019", "'")
    if "@" in text or "http" in text or "www." in text:  # most reports have neither: skip the slower search
        text = _LINK.sub(" ", text)
    return " ".join([word for word in _WORD.findall(_DIGITS.sub("0", text)) if word not in drop])
