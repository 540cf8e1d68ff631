"""Open311 response bodies in the spec's two formats: JSON arrays and XML documents, errors included.

Every response is a list of records under a root element (`services/service`, `service_requests/request`,
`errors/error`); the service definition is the one object. Values are strings, numbers, booleans or null; XML
writes null as an empty element and booleans as `true`/`false`, as the spec's examples do.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

from fastapi.responses import Response

FORMATS = ("json", "xml")
JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"
XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'
# Lists inside a record and the tag of each of their items (service definition attributes and their values).
ITEM_TAGS = {"attributes": "attribute", "values": "value"}
# Characters XML 1.0 cannot carry at all, even escaped: dropped rather than producing a document no parser reads.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

Record = Mapping[str, Any]


class Open311Error(Exception):
    """An error answered in the spec's shape, `[{"code": 400, "description": "..."}]`, with that HTTP status."""

    def __init__(self, code: int, description: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.headers = dict(headers or {})


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("", str(value))


def _fill(parent: Element, record: Record) -> None:
    for key, value in record.items():
        child = SubElement(parent, key)
        if isinstance(value, Mapping):
            _fill(child, value)
        elif isinstance(value, list | tuple):
            for item in value:
                node = SubElement(child, ITEM_TAGS.get(key, "item"))
                if isinstance(item, Mapping):
                    _fill(node, item)
                else:
                    node.text = _text(item)
        else:
            child.text = _text(value)


def xml_document(root: str, item: str | None, records: Sequence[Record] | Record) -> bytes:
    """`<root><item>…</item>…</root>`, or `<root>…</root>` for a single object when `item` is None."""
    top = Element(root)
    if item is None:
        assert isinstance(records, Mapping)
        _fill(top, records)
    else:
        for record in records:
            _fill(SubElement(top, item), record)
    return XML_DECLARATION.encode() + tostring(top, encoding="unicode").encode("utf-8")


def render(
    fmt: str, root: str, item: str | None, records: Sequence[Record] | Record, *, status_code: int = 200
) -> Response:
    if fmt == "json":
        body = json.dumps(records, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return Response(body, status_code=status_code, media_type=JSON_TYPE)
    return Response(xml_document(root, item, records), status_code=status_code, media_type=XML_TYPE)


def render_error(fmt: str, error: Open311Error) -> Response:
    response = render(
        fmt if fmt in FORMATS else "xml",  # XML is the spec's default format
        "errors",
        "error",
        [{"code": error.code, "description": error.description}],
        status_code=error.code,
    )
    response.headers.update(error.headers)
    return response
