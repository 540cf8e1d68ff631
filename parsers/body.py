"""Message bodies made fit to read and to show: HTML -> plain text, HTML -> sanitised HTML, format=flowed -> lines.

The text rendering keeps what the later stages need: quoted parts (`<blockquote>`) come out as "> " lines so the
reply stripper can find them, and web links keep their address so map links still reach the location stage.
The sanitised HTML keeps structure and links only: no scripts, event handlers, `javascript:` URLs, styles, forms,
frames or remote images (a remote image is a read receipt and a tracker).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3

_SKIPPED = {"script", "style", "head", "title", "template", "noscript", "xml", "svg", "object", "iframe"}
_BLOCKS = {
    "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt", "figcaption", "figure",
    "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p",
    "pre", "section", "table", "tbody", "tfoot", "thead", "tr", "ul", "body", "html", "caption",
}  # fmt: skip
_VOID = {"br", "hr", "img", "meta", "link", "input", "col", "area", "base", "wbr", "source", "track", "embed"}
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0\u200b]+")
_BLANK_RUNS = re.compile(r"\n{3,}")

_SAFE_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "col", "colgroup", "dd", "del", "div", "dl",
    "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p", "pre", "q",
    "s", "small", "span", "strike", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr",
    "u", "ul",
}  # fmt: skip
_SAFE_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
    "ol": {"start"},
    "*": {"dir", "lang"},
}


class _TextRenderer(HTMLParser):
    """Collects (quote depth, text) lines from HTML; tolerant of any markup HTMLParser accepts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, str]] = []
        self._line: list[str] = []
        self._line_depth = 0
        self._depth = 0
        self._skip = 0
        self._pre = 0
        self._href: str | None = None
        self._link_text: list[str] = []

    def _break(self) -> None:
        text = "".join(self._line).strip(" ") if not self._pre else "".join(self._line)
        if text or (self.lines and self.lines[-1][1]):
            self.lines.append((self._line_depth, text))
        self._line = []
        self._line_depth = self._depth

    def _emit(self, text: str) -> None:
        if not self._line:
            self._line_depth = self._depth
        self._line.append(text)
        if self._href is not None:
            self._link_text.append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skip += tag not in _VOID
            return
        if self._skip:
            return
        if tag == "br":
            self._break()
        elif tag in _BLOCKS:
            self._break()
            if tag == "blockquote":
                self._depth += 1
                self._line_depth = self._depth
            elif tag == "pre":
                self._pre += 1
            elif tag == "li":
                self._emit("- ")
        elif tag in {"td", "th"}:
            self._emit(" ")
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            self._href = href if href.lower().startswith(("http://", "https://")) else None
            self._link_text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skip = max(0, self._skip - 1)
            return
        if self._skip:
            return
        if tag in _BLOCKS:
            self._break()
            if tag == "blockquote":
                self._depth = max(0, self._depth - 1)
                self._line_depth = self._depth
            elif tag == "pre":
                self._pre = max(0, self._pre - 1)
        elif tag == "a" and self._href is not None:
            href, shown = self._href, "".join(self._link_text)
            self._href = None
            if href not in shown:
                self._emit(f" <{href}>")

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self._emit(data.replace("\u00a0", " ") if self._pre else _SPACES.sub(" ", data))

    def render(self) -> str:
        self._break()
        out = [("> " * depth + text).rstrip() if depth else text for depth, text in self.lines]
        text = "\n".join(line.rstrip() for line in out)
        return _BLANK_RUNS.sub("\n\n", text).strip("\n")


def html_to_text(html: str) -> str:
    """Readable plain text from an HTML body; blockquotes become "> " lines, web links keep their address."""
    renderer = _TextRenderer()
    try:
        renderer.feed(html)
        renderer.close()
    except (AssertionError, ValueError, IndexError):  # HTMLParser's own asserts on pathological markup
        return _BLANK_RUNS.sub("\n\n", re.sub(r"<[^>]*>", " ", html)).strip()
    return renderer.render()


def _keep_attribute(tag: str, attribute: str, value: str) -> str | None:
    # Only images carried inside the message itself (cid:) survive; a remote image would tell the sender
    # (or a tracker) that staff opened the mail.
    if tag == "img" and attribute == "src" and not value.strip().lower().startswith("cid:"):
        return None
    return value


# Built once: nh3.clean() builds the same cleaner again on every call, which cost as much as the cleaning itself.
_CLEANER = nh3.Cleaner(
    tags=_SAFE_TAGS,
    attributes=_SAFE_ATTRIBUTES,
    url_schemes={"http", "https", "mailto", "cid"},
    attribute_filter=_keep_attribute,
    clean_content_tags={"script", "style", "title", "template", "noscript", "xml", "textarea", "select"},
    link_rel="noopener noreferrer nofollow",
    strip_comments=True,
)


def sanitize_html(html: str) -> str:
    """HTML safe to show staff: structure, text and links only (links get rel="noopener noreferrer nofollow")."""
    return _CLEANER.clean(html).strip()


def unflow(text: str, *, delsp: bool = False) -> str:
    """Join the soft line breaks of a `format=flowed` text part (RFC 3676 §4), keeping quote depths apart."""
    out: list[str] = []
    carry = ""
    carry_depth = -1
    for line in text.split("\n"):
        stripped = line.lstrip(">")
        depth = len(line) - len(stripped)
        if stripped.startswith(" "):  # space-stuffing (RFC 3676 §4.4)
            stripped = stripped[1:]
        if carry and depth != carry_depth:
            out.append(">" * carry_depth + (" " if carry_depth else "") + carry)
            carry = ""
        flowed = stripped.endswith(" ") and stripped != "-- "
        if flowed:
            carry += stripped[:-1] if delsp else stripped
            carry_depth = depth
            continue
        full = carry + stripped
        carry = ""
        out.append(">" * depth + (" " if depth and full else "") + full)
    if carry:
        out.append(">" * carry_depth + (" " if carry_depth else "") + carry)
    return "\n".join(out)
