"""A small guess at the language a message is written in, from its script and its most common words.

Enough to pick reply-stripping rules and a reply template; not a classifier. No model, no download: scripts decide
CJK, Cyrillic and the like, and a handful of frequent function words decide among the Latin-script languages.
"""

from __future__ import annotations

import re

_SAMPLE_CHARS = 1500
_MIN_HITS = 2
_WORD = re.compile(r"[a-zà-ÿœ]+")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Frequent function words (and the words of a 311 report: street, thanks) that set these languages apart.
_COMMON_WORDS: dict[str, frozenset[str]] = {
    "en": _words(
        "the and is are was were to of in on it this that there with for please not have has my you at from "
        "street road near been will would can could they we our an be"
    ),
    "es": _words(
        "el la los las que y en es por para una un con no hay calle gracias muy está del al pero como se lo "
        "su hace desde esta este"
    ),
    "fr": _words(
        "le la les des et est une un dans pour pas que qui il sur rue merci avec du au ce sont mais nous vous "
        "je cette depuis"
    ),
    "de": _words(
        "der die das und ist nicht ein eine mit auf für den dem es ich sie wir straße bitte danke auch zu von "
        "bei seit wird sind noch"
    ),
    "pt": _words(
        "o a os as que e em é um uma para com não rua obrigado obrigada do da no na está há mas muito desde foi são"
    ),
    "it": _words("il lo la di che e è un una per con non sono della del via grazie nel alla gli questa anche"),
    "nl": _words("de het een en is van niet op dat die met voor straat bedankt ook er zijn bij wij"),
}

# Scripts that name their language outright (share of letters needed).
_SCRIPTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ja", re.compile(r"[\u3040-\u30ff]")),  # kana first: Japanese also uses Han characters
    ("ko", re.compile(r"[\uac00-\ud7af]")),
    ("zh", re.compile(r"[\u4e00-\u9fff]")),
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("el", re.compile(r"[\u0370-\u03ff]")),
)
_NON_LATIN = re.compile(r"[\u0370-\u03ff\u0400-\u04ff\u0600-\u06ff\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]")
_LETTERS = re.compile(r"[^\W\d_]+")
# word -> the languages it counts for, so each word is looked up once
_LANGUAGES_OF: dict[str, tuple[str, ...]] = {}
for _code, _words in _COMMON_WORDS.items():
    for _word in _words:
        _LANGUAGES_OF[_word] = (*_LANGUAGES_OF.get(_word, ()), _code)


def guess_language(text: str) -> str | None:
    """An ISO 639-1 code, or None when the text is too short or too mixed to say."""
    sample = text[:_SAMPLE_CHARS]
    if _NON_LATIN.search(sample):
        letters = sum(map(len, _LETTERS.findall(sample)))
        for code, script in _SCRIPTS:
            if len(script.findall(sample)) >= max(2, letters * 0.2):
                return code
    counts = dict.fromkeys(_COMMON_WORDS, 0)
    for word in _WORD.findall(sample.lower()):
        for code in _LANGUAGES_OF.get(word, ()):
            counts[code] += 1
    ranked = sorted(counts.items(), key=lambda item: item[1], reverse=True)
    (best, hits), (_, runner_up) = ranked[0], ranked[1]
    if hits < _MIN_HITS or hits < runner_up * 1.25:
        return None
    return best
