"""Checks of our Open311 answers against the spec: its JSON Schemas (draft 4) and the shape of its own examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from gateway.open311.upstream import parse_open311_json

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "open311"
SCHEMAS = FIXTURES / "json_schema"
EXAMPLES = FIXTURES / "spec_examples"


def _load(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / name).read_text())


def _registry() -> Registry:
    names = ("request.json", "requests.json", "service.json", "services.json", "service-definition.json")
    return Registry().with_resources(
        (name, Resource.from_contents(_load(name), default_specification=DRAFT4)) for name in names
    )


REGISTRY = _registry()
SWAGGER = _load("swagger.json")


def assert_schema(name: str, data: Any) -> None:
    """Validate against one of the schema files (requests.json, services.json, service-definition.json)."""
    validator = Draft4Validator(_load(name), registry=REGISTRY)
    errors = sorted(validator.iter_errors(data), key=str)
    assert not errors, f"{name}: {errors[0].message} at {list(errors[0].path)}"


def assert_swagger(definition: str, data: Any) -> None:
    """Validate a list of records against a Swagger definition (RequestResponse, TokenResponse).

    Swagger 2.0 cannot say "or null", but the spec's own example answers `"account_id":null`: null is allowed.
    """
    item = json.loads(json.dumps(SWAGGER["definitions"][definition]))
    for prop in item["properties"].values():
        prop["type"] = [prop["type"], "null"]
    schema = {"type": "array", "minItems": 1, "items": item}
    errors = list(Draft4Validator(schema).iter_errors(data))
    assert not errors, f"{definition}: {errors[0].message} at {list(errors[0].path)}"


def example_json(name: str) -> Any:
    """A spec example, read tolerantly (the spec writes `"service_code":001`)."""
    return parse_open311_json((EXAMPLES / f"{name}__example_response.json").read_text())


def example_xml(name: str) -> ElementTree.Element:
    return ElementTree.fromstring((EXAMPLES / f"{name}__example_response.xml").read_bytes())


def example_http(name: str) -> tuple[int, str]:
    """(HTTP status, body) of an `.http` example."""
    text = (EXAMPLES / f"{name}.http").read_text()
    head, _, body = text.partition("\n\n")
    return int(head.split()[1]), body.strip()


def example_post_body() -> str:
    """The form-encoded body of the spec's POST example."""
    text = (EXAMPLES / "post_service_request__example_request.http").read_text()
    return text.partition("\n\n")[2].strip()


def xml_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def assert_xml_mirrors_json(xml: bytes, records: list[dict[str, Any]], root: str, item: str) -> ElementTree.Element:
    """The XML answer holds the same records as the JSON one, field for field and in order."""
    assert xml.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    top = ElementTree.fromstring(xml)
    assert top.tag == root
    assert [e.tag for e in top] == [item] * len(records)
    for element, record in zip(top, records, strict=True):
        assert [c.tag for c in element] == list(record)
        for child, (key, value) in zip(element, record.items(), strict=True):
            if not isinstance(value, list):
                assert (child.text or "") == xml_text(value), key
    return top
