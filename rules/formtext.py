"""Web-form text ("Key: value | Key: value") reduced to the resident's own words, for the model and for dedupe.

City apps send reports as filled-in forms ("Make of the abandoned car: FORD | ... | Details: ..."). The field
labels are the same in every report of a type, so a model learns the app instead of the problem, and two
reports look alike because they share the labels. Only the free-text answers are the resident's words.
"""

from __future__ import annotations

import re

# "Key: value | Key: value" text that a city's web form writes; only the free-text answers are the resident's words.
_FORM_FIELD = re.compile(r"(?:^|\|\s*|\]\s*)\[?([A-Za-z][A-Za-z /?'()-]{2,60}?)\s*:\s*\[?")
_FREE_TEXT_FIELDS = ("detail", "comment", "description", "emergency condition", "nature of the problem")


def resident_words(text: str) -> str:
    """The free-text answers of a form-shaped report, or the text itself when it is not a form.

    The model should learn from what residents write, not from one app's field labels ("Unshovelled location:"
    taught an early model that the word "other" means snow).
    """
    fields = list(_FORM_FIELD.finditer(text))
    if len(fields) < 2:
        return text
    answers = []
    for i, field in enumerate(fields):
        end = fields[i + 1].start() if i + 1 < len(fields) else len(text)
        value = text[field.end() : end].strip(" |[]")
        if value and any(key in field.group(1).lower() for key in _FREE_TEXT_FIELDS):
            answers.append(value)
    return " ".join(answers)
