"""Header and charset decoding that survives what real mail systems send."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from parsers.charsets import decode_bytes
from parsers.headers import decode_words, message_ids, parse_addresses, parse_date


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=?utf-8?B?QmFjaGUgZW4gbGEgY2FsbGU=?=", "Bache en la calle"),
        ("=?iso-8859-1?Q?Stra=DFe_kaputt?=", "Straße kaputt"),
        ("=?utf-8?q?a?= =?utf-8?q?b?=", "ab"),  # white space between encoded words goes (RFC 2047 §6.2)
        ("Re: =?utf-8?q?caf=C3=A9?= open", "Re: café open"),
        ("=?utf-8?B?w6k=?= and =?UTF-8?Q?=E8=B7=AF=E7=81=AF?=", "é and 路灯"),
        ("=?utf-8?q?=C3?= =?utf-8?q?=A9?=", "é"),  # a character split across two words
        ("=?unknown-8bit?q?Caf=E9?=", "Café"),
        ("=?utf-8?B?SGVsbG8?=", "Hello"),  # missing base64 padding
        ("=?ks_c_5601-1987?B?x9GxuQ==?=", "한국"),
        ("Folded\r\n subject", "Folded subject"),
        ("Caf\udcc3\udca9 raw 8-bit", "Café raw 8-bit"),  # RFC 6532 UTF-8 header, as the stdlib hands it over
    ],
)
def test_decode_words(value: str, expected: str) -> None:
    assert decode_words(value) == expected


def test_addresses_keep_quoted_commas_and_decode_names() -> None:
    assert parse_addresses('"Smith, John" <J@X.ORG>, =?utf-8?q?Ren=C3=A9?= <k@y.org>, broken') == [
        ("Smith, John", "j@x.org"),
        ("René", "k@y.org"),
        ("", "broken"),
    ]


@pytest.mark.parametrize(
    ("value", "expected", "defect"),
    [
        ("Mon, 05 Jan 2026 10:00:00 -0500", datetime(2026, 1, 5, 10, tzinfo=timezone(timedelta(hours=-5))), None),
        ("Mon, 5 Jan 2026 10:00:00 GMT", datetime(2026, 1, 5, 10, tzinfo=UTC), None),
        ("5 Jan 2026 10:00 EST", datetime(2026, 1, 5, 10, tzinfo=timezone(timedelta(hours=-5))), None),
        ("Mon, 5 Jan 2026 10:00:00", datetime(2026, 1, 5, 10, tzinfo=UTC), "date-without-zone"),
        ("yesterday", None, "bad-date"),
        ("Mon, 5 Jan 2026 10:00:00 +9999", None, "bad-date"),
    ],
)
def test_dates_are_aware_or_none(value: str, expected: datetime | None, defect: str | None) -> None:
    assert parse_date(value) == (expected, defect)


def test_message_ids_lose_their_brackets() -> None:
    assert message_ids("<a@b.example>\r\n <c@d.example> <a@b.example>") == ("a@b.example", "c@d.example")
    assert message_ids("a@b.example (comment)") == ("a@b.example",)
    assert message_ids("") == ()


@pytest.mark.parametrize(
    ("data", "declared", "text", "defect"),
    [
        ("Straße".encode(), "utf-8", "Straße", None),
        ("Straße".encode("cp1252"), None, "Straße", "charset-guessed:cp1252"),
        ("Straße".encode(), None, "Straße", "charset-guessed:utf-8"),
        ("Straße".encode(), "iso-8859-1", "Straße", "charset-mismatch:cp1252->utf-8"),  # wrong declaration
        ("“quoted”".encode("cp1252"), "iso-8859-1", "“quoted”", None),  # latin-1 label, Windows bytes
        ("路灯坏了".encode("gb18030"), "gb2312", "路灯坏了", None),
        ("すみません".encode("iso2022_jp"), "iso-2022-jp", "すみません", None),
        (b"caf\xe9", "no-such-charset", "café", "charset-guessed:cp1252"),
    ],
)
def test_decode_bytes(data: bytes, declared: str | None, text: str, defect: str | None) -> None:
    assert decode_bytes(data, declared) == (text, defect)
