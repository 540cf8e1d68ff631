"""The client side of GeoReport v2, for a city's existing Open311 endpoint: post a request, resolve a token, and
read the status of requests we forwarded.

Tolerant of what real servers send: ids as numbers or strings, a bare object where a list belongs, and the
spec's own examples' numbers with leading zeros (`"service_code":001`, not valid JSON).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from gateway.settings import Open311UpstreamSettings

_LEADING_ZERO_NUMBER = re.compile(r"(:\s*)(0\d+(?:\.\d+)?)(\s*[,}\]])")
IDS_PER_QUERY = 50  # service_request_id values per GET requests call; keeps the URL short


class UpstreamError(Exception):
    """The upstream refused or could not be reached. `retryable` False: sending the same again cannot help."""

    def __init__(self, reason: str, *, retryable: bool, status: int | None = None) -> None:
        super().__init__(reason)
        self.retryable = retryable
        self.status = status  # the HTTP status, when there was an answer


@dataclass(frozen=True, slots=True)
class UpstreamCreated:
    service_request_id: str | None
    token: str | None
    service_notice: str | None


@dataclass(frozen=True, slots=True)
class UpstreamStatus:
    status: str  # "open" | "closed"
    status_notes: str | None
    updated: str | None


def parse_open311_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return json.loads(_LEADING_ZERO_NUMBER.sub(r'\1"\2"\3', text))


def _records(data: Any) -> list[Mapping[str, Any]]:
    if isinstance(data, Mapping):
        data = data.get("service_requests", data.get("requests", [data]))
    return [r for r in data if isinstance(r, Mapping)] if isinstance(data, list) else []


def _str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


class UpstreamClient:
    def __init__(self, settings: Open311UpstreamSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._settings = settings
        self._http = httpx.AsyncClient(
            base_url=settings.url, timeout=settings.timeout_seconds, transport=transport,
            headers={"User-Agent": "Inbox311 (Open311 GeoReport v2 forwarder)", "Accept": "application/json"},
        )  # fmt: skip

    def _jurisdiction(self) -> dict[str, str]:
        j = self._settings.jurisdiction_id
        return {"jurisdiction_id": j} if j else {}

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise UpstreamError(f"{method} {path}: {type(exc).__name__}: {exc}", retryable=True) from exc
        if response.status_code >= 400:
            detail = response.text[:300]
            try:
                detail = "; ".join(str(e.get("description")) for e in _records(parse_open311_json(response.text)))
            except (json.JSONDecodeError, TypeError, AttributeError):
                pass
            code = response.status_code
            retryable = code >= 500 or code in (408, 429)
            raise UpstreamError(f"{method} {path}: HTTP {code}: {detail}", retryable=retryable, status=code)
        try:
            return parse_open311_json(response.text)
        except json.JSONDecodeError as exc:
            raise UpstreamError(f"{method} {path}: not JSON: {exc}", retryable=True) from exc

    async def post_request(self, fields: Mapping[str, str], *, idempotency_key: str) -> UpstreamCreated:
        form = {**fields, **self._jurisdiction(), "api_key": self._settings.api_key}
        data = await self._call("POST", "/requests.json", data=form, headers={"Idempotency-Key": idempotency_key})
        records = _records(data)
        if not records:
            raise UpstreamError("POST /requests.json: an empty answer", retryable=True)
        first = records[0]
        created = UpstreamCreated(
            service_request_id=_str(first.get("service_request_id")),
            token=_str(first.get("token")),
            service_notice=_str(first.get("service_notice")),
        )
        if created.service_request_id is None and created.token is None:
            raise UpstreamError("POST /requests.json: neither service_request_id nor token", retryable=True)
        return created

    async def resolve_token(self, token: str) -> str | None:
        """The upstream's id for a token, or None while it does not have one yet."""
        try:
            data = await self._call("GET", f"/tokens/{token}.json", params=self._jurisdiction())
        except UpstreamError as exc:
            if exc.status == 404:
                return None
            raise
        return next((_str(r.get("service_request_id")) for r in _records(data) if r.get("service_request_id")), None)

    async def fetch_statuses(self, ids: Sequence[str]) -> dict[str, UpstreamStatus]:
        out: dict[str, UpstreamStatus] = {}
        for start in range(0, len(ids), IDS_PER_QUERY):
            chunk = ids[start : start + IDS_PER_QUERY]
            params = {"service_request_id": ",".join(chunk), **self._jurisdiction()}
            for record in _records(await self._call("GET", "/requests.json", params=params)):
                request_id, status = _str(record.get("service_request_id")), _str(record.get("status"))
                if request_id and status:
                    out[request_id] = UpstreamStatus(
                        status=status.lower(),
                        status_notes=_str(record.get("status_notes")),
                        updated=_str(record.get("updated_datetime")),
                    )
        return out

    async def close(self) -> None:
        await self._http.aclose()
