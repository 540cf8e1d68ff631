"""Write Twilio's OpenAPI spec for the Prism mock, with the form encoding of array fields made explicit.

Twilio's client sends list parameters as repeated form keys (MediaUrl=a&MediaUrl=b). That is OpenAPI's default
for form bodies (style=form, explode=true), but Prism only accepts it when the spec says so (stoplightio/prism#2473),
so every array property of an x-www-form-urlencoded request body gets that encoding written out.

    python3.11 .ci/twilio_spec.py SOURCE.json TARGET.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

FORM = "application/x-www-form-urlencoded"


def with_explicit_form_arrays(spec: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The spec, changed in place, and how many array fields were given an explicit encoding."""
    changed = 0
    for path_item in spec.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue  # path-level "parameters" lists, "summary" strings
            form = operation.get("requestBody", {}).get("content", {}).get(FORM)
            if not form:
                continue
            properties = form.get("schema", {}).get("properties", {})
            arrays = [name for name, schema in properties.items() if schema.get("type") == "array"]
            for name in arrays:
                form.setdefault("encoding", {}).setdefault(name, {}).update(style="form", explode=True)
            changed += len(arrays)
    return spec, changed


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    source, target = (Path(arg) for arg in argv)
    spec, changed = with_explicit_form_arrays(json.loads(source.read_text(encoding="utf-8")))
    if not changed:
        print(f"{source}: no array form fields found; is this Twilio's api_v2010 spec?", file=sys.stderr)
        return 1
    target.write_text(json.dumps(spec), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
