"""A POSTed service request at the edge: check it against the spec, name it with a token, store it as a raw row.

The stored document is the form exactly as received (minus the api_key, replaced by the key's id and name), so the
pipeline can replay it like any raw message. The token is a hash of the key id and the body, or of the key id and
a client's `Idempotency-Key` header: posting the same request twice finds the first one instead of a new ticket.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gateway.open311.formats import Open311Error
from gateway.open311.services import ServiceCatalog
from storage.open311 import SUBMISSION_KEY_PREFIX
from storage.raw import NewRaw

RAW_FORMAT = "open311-georeport-v2"
MAX_DESCRIPTION = 4000
MAX_FIELD = 500
MAX_URL = 2000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_ATTRIBUTE = re.compile(r"^attribute\[([^\]]{1,100})\](?:\[\])?$")
SCALAR_FIELDS = (
    "service_code", "lat", "long", "address_string", "address_id", "email", "device_id", "account_id",
    "first_name", "last_name", "phone", "description", "media_url",
)  # fmt: skip

Form = Mapping[str, Sequence[str]]


@dataclass(frozen=True, slots=True)
class Submission:
    token: str
    raw: NewRaw


def _one(form: Form, name: str) -> str:
    values = form.get(name) or ()
    return values[0].strip() if values else ""


def _coordinate(form: Form, name: str, limit: float) -> float | None:
    text = _one(form, name)
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise Open311Error(400, f"{name} must be a decimal number (WGS84)") from None
    if not math.isfinite(value) or abs(value) > limit:
        raise Open311Error(400, f"{name} must be between -{limit:g} and {limit:g}")
    return value


def check_request_form(form: Form, catalog: ServiceCatalog) -> None:
    """Raise the spec's 400 for a request that cannot become a ticket; the pipeline does the rest."""
    code = _one(form, "service_code")
    if not code:
        raise Open311Error(400, "service_code was not provided")
    if catalog.by_code(code) is None:
        raise Open311Error(400, f"service_code {code[:50]!r} is not a known service")
    lat, lon = _coordinate(form, "lat", 90), _coordinate(form, "long", 180)
    if (lat is None) != (lon is None):
        raise Open311Error(400, "lat and long must be given together")
    if lat is None and not _one(form, "address_string") and not _one(form, "address_id"):
        raise Open311Error(400, "a location is required: lat and long, address_string or address_id")
    email = _one(form, "email")
    if email and (len(email) > 320 or not _EMAIL.match(email)):
        raise Open311Error(400, "email is not a valid email address")
    if len(_one(form, "description")) > MAX_DESCRIPTION:
        raise Open311Error(400, f"description is longer than {MAX_DESCRIPTION} characters")
    media = _one(form, "media_url")
    if media and (len(media) > MAX_URL or not media.lower().startswith(("http://", "https://"))):
        raise Open311Error(400, "media_url must be an http or https URL")
    for name in SCALAR_FIELDS:
        if name not in ("description", "media_url") and len(_one(form, name)) > MAX_FIELD:
            raise Open311Error(400, f"{name} is longer than {MAX_FIELD} characters")


def kept_fields(form: Form) -> dict[str, list[str]]:
    """The fields the spec defines (and attribute[CODE]); anything else, and the api_key, is not stored."""
    kept: dict[str, list[str]] = {}
    for name, values in form.items():
        if name in SCALAR_FIELDS or _ATTRIBUTE.match(name):
            kept[name] = [v[:MAX_DESCRIPTION] for v in values][:20]
    return kept


def submission_token(*, api_key_id: int, fields: Mapping[str, Sequence[str]], client_key: str = "") -> str:
    basis = f"key:{client_key}" if client_key else json.dumps(sorted((k, list(v)) for k, v in fields.items()))
    return hashlib.sha256(f"{api_key_id}\n{basis}".encode()).hexdigest()[:32]


def build_submission(
    form: Form, *, api_key_id: int, api_key_name: str, region: str, client_key: str = ""
) -> Submission:
    fields = kept_fields(form)
    token = submission_token(api_key_id=api_key_id, fields=fields, client_key=client_key.strip()[:200])
    document = {
        "format": RAW_FORMAT,
        "token": token,
        "api_key": {"id": api_key_id, "name": api_key_name},
        "region": region,  # how phone numbers without a country code are read
        "fields": fields,
    }
    raw = json.dumps(document, ensure_ascii=False, sort_keys=True).encode("utf-8")
    return Submission(
        token=token,
        raw=NewRaw(
            channel="open311",
            source=f"open311:{api_key_name}"[:200],
            idempotency_key=SUBMISSION_KEY_PREFIX + token,
            raw=raw,
            envelope_from=f"api-key:{api_key_name}"[:500],
        ),
    )
