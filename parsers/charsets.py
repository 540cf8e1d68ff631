"""Bytes -> text for mail, whatever charset a sender declared, mis-declared or forgot.

Mail in the wild lies about its charset: Windows clients say `iso-8859-1` and send cp1252, web forms say nothing
and send UTF-8, Korean Outlook says `ks_c_5601-1987`. Decoding never fails here; what had to be guessed is
reported back so the caller can record it as a defect.
"""

from __future__ import annotations

import codecs

# Labels seen in real mail that Python does not know, or that name a subset of what senders actually use
# (the WHATWG Encoding Standard makes the same substitutions for the web).
_ALIASES = {
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "euc-kr": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "big5": "big5hkscs",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "x-sjis": "cp932",
    "sjis": "cp932",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "ascii",
    "ansi_x3.4-1968": "ascii",
    "iso-8859-8-i": "iso-8859-8",
    "windows-874": "cp874",
    "tis-620": "cp874",
    "unicode-1-1-utf-7": "utf-7",
    "utf8": "utf-8",
    "x-user-defined": "cp1252",
}
# Declarations that carry no information: decode as if nothing were declared.
_MEANINGLESS = {"", "unknown", "unknown-8bit", "x-unknown", "default", "charset", "us", "8bit", "binary"}
# Single-byte western labels that are often stuck on UTF-8 text by a misconfigured client.
_OFTEN_WRONG = {"ascii", "cp1252", "iso8859-15", "iso-8859-15"}
# Stateful 7-bit encodings: pure ASCII bytes may still need decoding.
_SEVEN_BIT = {"iso2022_jp", "iso2022_jp_1", "iso2022_jp_2", "iso2022_jp_3", "iso2022_jp_ext", "iso2022_kr", "utf-7",
              "hz"}  # fmt: skip
# A declared charset that decodes with fewer bad bytes than this share is trusted, damaged bytes replaced.
_TOLERATED_DAMAGE = 0.02


def normalise_charset(label: str | None) -> str | None:
    """The Python codec for a MIME charset label, or None when the label is empty, meaningless or unknown."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = name.split("*", 1)[0]  # RFC 2231 language suffix: utf-8*en
    if name in _MEANINGLESS:
        return None
    name = _ALIASES.get(name, name)
    if not name.isascii() or not name.isprintable() or len(name) > 40:
        return None
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):
        return None


def decode_bytes(data: bytes, declared: str | None = None) -> tuple[str, str | None]:
    """Decode `data`, trusting `declared` only as far as the bytes allow. Returns (text, defect or None)."""
    charset = normalise_charset(declared)
    if data.isascii():
        if b"\x1b" in data or charset in _SEVEN_BIT:  # ISO-2022-JP and friends are 7-bit on the wire
            try:
                return data.decode(charset if charset in _SEVEN_BIT else "iso2022_jp_ext"), None
            except (UnicodeDecodeError, LookupError):
                pass
        return data.decode("ascii"), None
    if charset is not None and codecs.lookup(charset).name not in _OFTEN_WRONG:
        try:
            return data.decode(charset), None
        except UnicodeDecodeError:
            text = data.decode(charset, errors="replace")
            if text.count("\ufffd") <= len(text) * _TOLERATED_DAMAGE:
                return text, f"charset-damaged:{charset}"
        except LookupError:  # a codec that exists but cannot decode (rare: utf-7 variants)
            charset = None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if charset is None:
            return text, "charset-guessed:utf-8"
        return text, f"charset-mismatch:{charset}->utf-8"
    if charset is not None:  # 8-bit bytes under an ASCII label are nearly always Windows-1252
        fallback = "cp1252" if charset == "ascii" else charset
        defect = f"charset-mismatch:{charset}->{fallback}" if fallback != charset else None
        return data.decode(fallback, errors="replace"), defect
    text = data.decode("utf-8", errors="replace")
    if text.count("\ufffd") <= len(text) * _TOLERATED_DAMAGE:
        return text, "charset-guessed:utf-8"
    return data.decode("cp1252", errors="replace"), "charset-guessed:cp1252"
