"""Words for keyword rules: tokenising a report, and expanding a keyword into the forms it should match.

A keyword is written once, in its base form ("leak", "street light", "fallen tree"), and matches its simple
plurals and verb forms ("leaks", "leaking", "leaked", "street lights"). The expansion happens once, when the
rules load, so matching a report is a set lookup. Expanding the keyword instead of stemming the text keeps
rules precise: "parking" never matches "park". A keyword written with a leading "=" matches only as written
("=park" matches "park" and nothing else).
"""

from __future__ import annotations

import itertools
import re
import unicodedata

_WORD = re.compile(r"[a-z0-9]+")
_VOWELS = frozenset("aeiou")
_MAX_FORMS = 256  # a phrase of several words multiplies forms; cap it so a rules file cannot blow up memory

# Forms a suffix rule cannot make. Keys are base forms; values are added to the generated forms.
_IRREGULAR: dict[str, tuple[str, ...]] = {
    "fall": ("fell", "fallen"),
    "break": ("broke", "broken"),
    "freeze": ("froze", "frozen"),
    "hang": ("hung",),
    "mouse": ("mice",),
    "leaf": ("leaves",),
    "knife": ("knives",),
    "child": ("children",),
    "die": ("dying", "died", "dead"),
    "lie": ("lying", "lay", "lain"),
    "blow": ("blew", "blown"),
    "tear": ("tore", "torn"),
    "run": ("ran",),
    "leave": ("left",),
    "sink": ("sank", "sunk", "sunken"),
    "steal": ("stole", "stolen"),
    "dig": ("dug",),
    "spill": ("spilt",),
    "burst": ("bursting",),
    "go": ("went", "gone"),
}


def fold(text: str) -> str:
    """Lower-case, strip accents and apostrophes ("Driver’s" -> "drivers"), so matching ignores them."""
    text = text.lower()
    if not text.isascii():  # most reports are plain ASCII: skip the per-character work for them
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    return text.replace("'", "").replace("’", "")


def words_of(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(fold(text)))


def phrases_of(words: tuple[str, ...], max_words: int, starts: frozenset[str] | None = None) -> frozenset[str]:
    """Every run of 1..max_words consecutive words, joined by single spaces.

    With `starts` (the first words of every phrase the rules know), longer runs are built only where one of
    them begins: the rest could never match, and building them is most of the cost.
    """
    out: set[str] = set(words)
    count = len(words)
    for i, word in enumerate(words):
        if starts is not None and word not in starts:
            continue
        for n in range(2, min(max_words, count - i) + 1):
            out.add(" ".join(words[i : i + n]))
    return frozenset(out)


def _ends_cvc(word: str) -> bool:
    """ "stop", "dig": a short final consonant-vowel-consonant doubles before -ed/-ing ("stopped")."""
    return (
        len(word) >= 3
        and word[-1] not in _VOWELS | {"w", "x", "y"}
        and word[-2] in _VOWELS
        and word[-3] not in _VOWELS
        and sum(c in _VOWELS for c in word) == 1
    )


def word_forms(word: str) -> frozenset[str]:
    """The base word, its plural, and its -s/-ed/-ing forms (over-generating is harmless: unused forms never match)."""
    forms = {word}
    if not word.isalpha() or len(word) < 3:
        return frozenset(forms)
    if word.endswith(("s", "x", "z", "ch", "sh")):
        forms.add(word + "es")
    elif word.endswith("y") and word[-2] not in _VOWELS:
        forms.update({word[:-1] + "ies", word[:-1] + "ied"})
    else:
        forms.add(word + "s")
    if word.endswith("e"):
        forms.update({word + "d", word[:-1] + "ing"})
    else:
        forms.update({word + "ed", word + "ing"})
        if _ends_cvc(word):
            forms.update({word + word[-1] + "ed", word + word[-1] + "ing"})
    forms.update(_IRREGULAR.get(word, ()))
    return frozenset(forms)


def keyword_forms(keyword: str) -> frozenset[str]:
    """All phrases a keyword matches. Raises ValueError for a keyword with no words in it."""
    exact = keyword.startswith("=")
    words = words_of(keyword[1:] if exact else keyword)
    if not words:
        raise ValueError(f"keyword {keyword!r} has no words")
    if exact:
        return frozenset({" ".join(words)})
    choices = [sorted(word_forms(w)) for w in words]
    phrases = {" ".join(combo) for combo in itertools.islice(itertools.product(*choices), _MAX_FORMS)}
    # the plural of a phrase lives on its last word ("street lights"): make sure those are never cut off
    head = " ".join(words[:-1])
    phrases.update(f"{head} {form}".strip() for form in word_forms(words[-1]))
    return frozenset(phrases)
