"""The service list comes from the rules file; XML and JSON bodies have the spec's shape, errors included."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

from gateway.open311.formats import Open311Error, render, render_error, xml_document
from gateway.open311.services import build_catalog, load_catalog, unknown_service_map_categories
from rules.loader import load_rules
from rules.taxonomy import TAXONOMY_SLUGS
from tests.gateway.open311.spec import assert_schema, example_http, example_json, example_xml

CITY_RULES = """
language = "en"
[triage]
label = "Triage"
service_code = "TRI"
[categories.potholes]
label = "Potholes"
department = "streets"
service_code = "001"
[categories.cans]
label = "Cans left out 24x7"
department = "sanitation"
service_code = "002"
[[rule]]
name = "potholes"
description = "Holes in the road"
category = "potholes"
when.keyword_any = ["pothole", "=hole", "crater"]
[[rule]]
name = "cans-out"
category = "cans"
when.keyword_any = ["cans out"]
"""


def test_shipped_rules_give_one_service_per_default_category() -> None:
    catalog = load_catalog("")
    assert {s.category for s in catalog.services} == set(TAXONOMY_SLUGS)
    pothole = catalog.by_code("pothole")
    assert pothole is not None and pothole.name == "Pothole or road surface" and pothole.group == "streets"
    assert pothole.keywords is not None and "pothole" in pothole.keywords.split(", ")
    classification = catalog.classification("pothole")
    assert classification is not None and classification.category == "pothole"
    assert classification.confidence == 1.0 and classification.department == "streets"
    assert catalog.classification("nope") is None
    assert catalog.code_and_name(None) == ("triage", "Needs a person to categorise")


def test_a_citys_rules_file_renames_codes(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(CITY_RULES)
    catalog = build_catalog(load_rules(path), CITY_RULES)
    assert [(s.code, s.name, s.group) for s in catalog.services] == [
        ("001", "Potholes", "streets"),
        ("002", "Cans left out 24x7", "sanitation"),
    ]
    first = catalog.services[0]
    assert first.description == "Holes in the road" and first.keywords == "pothole, hole, crater"
    assert catalog.services[1].description == "Cans left out 24x7"  # no rule description: the label
    assert catalog.code_and_name("something-else") == ("TRI", "Triage")
    assert unknown_service_map_categories(catalog, {"potholes": "P", "*": "X", "pothole": "Y"}) == ["pothole"]


def test_the_spec_examples_pass_the_schemas_our_answers_must_pass() -> None:
    # The schemas and the examples agree once the examples' numbers are read as the strings they stand for.
    services = [{**s, "service_code": str(s["service_code"])} for s in example_json("get_service_list")]
    assert_schema("services.json", services)
    definition = example_json("get_service_definition")
    for attribute in definition["attributes"]:
        attribute["values"] = [{"key": str(v["key"]), "name": v["name"]} for v in attribute["values"]]
        attribute["datatype_description"] = attribute["datatype_description"] or ""
    assert_schema("service-definition.json", definition)


def test_xml_has_the_examples_nesting() -> None:
    definition = {"service_code": "DMV66", "attributes": [
        {"variable": True, "code": "WHISHETN", "datatype": "singlevaluelist", "required": True,
         "datatype_description": None, "order": 1, "description": "What is the ticket/tag/DL number?",
         "values": [{"key": 123, "name": "Ford"}, {"key": 124, "name": "Chrysler"}]},
    ]}  # fmt: skip
    ours = ElementTree.fromstring(xml_document("service_definition", None, definition))
    theirs = example_xml("get_service_definition")
    assert [e.tag for e in ours.iter()] == [e.tag for e in theirs.iter()]
    assert [(e.text or "").strip() for e in ours.iter() if len(e) == 0] == [
        (e.text or "").strip() for e in theirs.iter() if len(e) == 0
    ]


def test_errors_are_byte_for_byte_the_spec_shape() -> None:
    error = Open311Error(403, "Invalid api_key received -- can't proceed with create_request.")
    status, body = example_http("errors__example_response_json")
    response = render_error("json", error)
    assert response.status_code == status == 403
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert json.loads(body) == json.loads(response.body.decode())

    status, body = example_http("errors__example_response_xml")
    response = render_error("xml", error)
    assert response.status_code == status
    assert canonical(ElementTree.fromstring(response.body)) == canonical(ElementTree.fromstring(body.encode()))


def test_unknown_format_errors_fall_back_to_xml_and_text_is_made_xml_safe() -> None:
    response = render_error("html", Open311Error(404, "nope"))
    assert response.body.startswith(b'<?xml version="1.0" encoding="utf-8"?>\n<errors>')
    body = render("xml", "services", "service", [{"description": "bell \x07 <b>&", "metadata": False}]).body
    element = ElementTree.fromstring(body)[0]
    assert element.find("description").text == "bell  <b>&" and element.find("metadata").text == "false"


def canonical(element: ElementTree.Element) -> list[tuple[str, str]]:
    return [(e.tag, (e.text or "").strip()) for e in element.iter()]
