"""Open311 GeoReport v2 under `/open311/v2/`: services, service definitions, requests (GET and POST), tokens.

Every endpoint answers `.json` or `.xml`; errors come in the spec's shape with the matching HTTP status. A POST
is stored as a raw row and made a ticket by the same pipeline as an email; the answer waits briefly for the
tracking number (`service_request_id`) and otherwise gives a `token` to look it up with.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from gateway.ingest.writer import IngestError
from gateway.open311 import channel as _channel  # noqa: F401  (registers the channel's pipeline hooks)
from gateway.open311.formats import FORMATS, Open311Error, render, render_error
from gateway.open311.ratelimit import RateLimiter
from gateway.open311.records import request_record
from gateway.open311.services import ServiceCatalog, load_catalog
from gateway.open311.submission import build_submission, check_request_form
from gateway.web.deps import WebContext, web_context
from storage.apikeys import find_api_key
from storage.models import RawState
from storage.open311 import RequestQuery, get_submission, latest_public_notes, list_requests, reporter_names

router = APIRouter(prefix="/open311/v2")

MAX_SPAN = timedelta(days=90)  # the spec's default window and the longest one a query may ask for
MAX_RESULTS = 1000
MAX_BODY_BYTES = 64 * 1024
Form = dict[str, list[str]]


def open311_endpoint(handler: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
    """Answers an Open311Error (and an unknown format) in the spec's error shape, in the requested format."""

    @functools.wraps(handler)
    async def wrapper(**kwargs: Any) -> Response:
        fmt = kwargs.get("fmt", "xml")
        try:
            if fmt not in FORMATS:
                raise Open311Error(404, f"unknown format {fmt[:10]!r}: use .json or .xml")
            return await handler(**kwargs)
        except Open311Error as error:
            return render_error(fmt, error)

    return wrapper


def _catalog(ctx: WebContext) -> ServiceCatalog:
    return load_catalog(ctx.settings.rules.file)


def _limiter(ctx: WebContext) -> RateLimiter:
    o = ctx.settings.open311
    return ctx.parts.setdefault("open311_limiter", RateLimiter(per_minute=o.rate_limit_per_minute,
                                                               burst=o.rate_limit_burst))  # fmt: skip


def _one(form: Form, name: str) -> str:
    return (form.get(name) or [""])[0].strip()


def _check_jurisdiction(ctx: WebContext, form: Form) -> None:
    expected = ctx.settings.open311.jurisdiction_id
    if not expected:
        return
    given = _one(form, "jurisdiction_id")
    if not given:
        raise Open311Error(400, "jurisdiction_id was not provided")
    if given != expected:
        raise Open311Error(404, f"jurisdiction_id {given[:50]!r} not found")


async def _params(request: Request, *, with_body: bool = False) -> Form:
    form: Form = {}
    for key, value in request.query_params.multi_items():
        form.setdefault(key, []).append(value)
    if with_body:
        if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:
            raise Open311Error(413, f"the request is larger than {MAX_BODY_BYTES} bytes")
        body_fields: Form = {}
        for key, value in (await request.form()).multi_items():
            if not isinstance(value, UploadFile):  # GeoReport v2 takes a media_url, not uploads
                body_fields.setdefault(key, []).append(value)
        form.update(body_fields)  # the body wins over the query string
    return form


@router.get("/services.{fmt}")
@open311_endpoint
async def get_services(fmt: str, request: Request, ctx: WebContext = Depends(web_context)) -> Response:
    _check_jurisdiction(ctx, await _params(request))
    records = [
        {"service_code": s.code, "service_name": s.name, "description": s.description, "metadata": False,
         "type": "realtime", "keywords": s.keywords, "group": s.group}
        for s in _catalog(ctx).services
    ]  # fmt: skip
    return render(fmt, "services", "service", records)


@router.get("/services/{service_code}.{fmt}")
@open311_endpoint
async def get_service_definition(
    service_code: str, fmt: str, request: Request, ctx: WebContext = Depends(web_context)
) -> Response:
    _check_jurisdiction(ctx, await _params(request))
    service = _catalog(ctx).by_code(service_code)
    if service is None:
        raise Open311Error(404, f"service_code {service_code[:50]!r} not found")
    return render(fmt, "service_definition", None, {"service_code": service.code, "attributes": []})


def _parse_date(form: Form, name: str) -> datetime | None:
    text = _one(form, name)
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace(" ", "+"))  # a "+" in a query string arrives as a space
    except ValueError:
        raise Open311Error(400, f"{name} must be a W3C datetime, e.g. 2010-01-01T00:00:00Z") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _request_query(form: Form, catalog: ServiceCatalog) -> RequestQuery:
    numbers = tuple(n.strip() for n in _one(form, "service_request_id").split(",") if n.strip())
    if numbers:
        return RequestQuery(numbers=numbers[:MAX_RESULTS])
    categories: tuple[str, ...] | None = None
    other_than: tuple[str, ...] | None = None
    codes = [c.strip() for c in ",".join(form.get("service_code", [])).split(",") if c.strip()]
    if codes:
        found = [catalog.by_code(c) for c in codes]
        categories = tuple(s.category for s in found if s is not None)
        if catalog.code_and_name(None)[0] in codes:
            other_than = tuple(s.category for s in catalog.services)
    statuses = tuple(s.strip().lower() for s in ",".join(form.get("status", [])).split(",") if s.strip())
    if any(s not in ("open", "closed") for s in statuses):
        raise Open311Error(400, "status must be open or closed")
    start, end = _parse_date(form, "start_date"), _parse_date(form, "end_date")
    if start is not None and end is not None and end - start > MAX_SPAN:
        raise Open311Error(400, "start_date and end_date may not span more than 90 days")
    if start is not None and end is not None and end < start:
        raise Open311Error(400, "end_date is before start_date")
    if start is None:
        start = (end or datetime.now(UTC)) - MAX_SPAN
    elif end is None:
        end = start + MAX_SPAN
    return RequestQuery(categories=categories, other_than=other_than, statuses=statuses or None, start=start,
                        end=end, limit=MAX_RESULTS)  # fmt: skip


async def _records(ctx: WebContext, query: RequestQuery) -> list[dict[str, Any]]:
    async with ctx.db.read() as session:
        tickets = await list_requests(session=session, query=query)
        ids = [t.id for t in tickets if t.id is not None]
        notes = await latest_public_notes(session=session, ticket_ids=ids)
        names = await reporter_names(session=session, ticket_ids=ids)
    catalog, settings = _catalog(ctx), ctx.settings
    return [
        request_record(t, catalog=catalog, settings=settings.open311, note=notes.get(t.id or 0),
                       reporter_name=names.get(t.id or 0), region=settings.twilio.default_region)
        for t in tickets
    ]  # fmt: skip


@router.get("/requests.{fmt}")
@open311_endpoint
async def get_requests(fmt: str, request: Request, ctx: WebContext = Depends(web_context)) -> Response:
    form = await _params(request)
    _check_jurisdiction(ctx, form)
    return render(fmt, "service_requests", "request", await _records(ctx, _request_query(form, _catalog(ctx))))


@router.get("/requests/{service_request_id}.{fmt}")
@open311_endpoint
async def get_request(
    service_request_id: str, fmt: str, request: Request, ctx: WebContext = Depends(web_context)
) -> Response:
    _check_jurisdiction(ctx, await _params(request))
    records = await _records(ctx, RequestQuery(numbers=(service_request_id[:32],), limit=1))
    if not records:
        raise Open311Error(404, f"service_request_id {service_request_id[:32]!r} not found")
    return render(fmt, "service_requests", "request", records)


@router.get("/tokens/{token}.{fmt}")
@open311_endpoint
async def get_token(token: str, fmt: str, request: Request, ctx: WebContext = Depends(web_context)) -> Response:
    _check_jurisdiction(ctx, await _params(request))
    async with ctx.db.read() as session:
        submission = await get_submission(session=session, token=token[:64])
    if submission is None:
        raise Open311Error(404, f"token {token[:64]!r} not found")
    record = {"token": token, **({"service_request_id": submission.tracking_number}
                                 if submission.tracking_number else {})}  # fmt: skip
    return render(fmt, "service_requests", "request", [record])


async def _wait_for_ticket(ctx: WebContext, token: str) -> str | None:
    """The tracking number once the pipeline has made the ticket, or None after `post_wait_seconds`."""
    deadline = time.monotonic() + ctx.settings.open311.post_wait_seconds
    delay = 0.02
    while True:
        async with ctx.db.read() as session:
            submission = await get_submission(session=session, token=token)
        in_hand = submission is None or submission.state in (RawState.PENDING, RawState.PROCESSING)
        if submission is not None and (submission.tracking_number or not in_hand):
            return submission.tracking_number  # None when it stopped short of a ticket (held, quarantined)
        if time.monotonic() + delay > deadline:
            return None
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.25)


@router.post("/requests.{fmt}")
@open311_endpoint
async def post_request(fmt: str, request: Request, ctx: WebContext = Depends(web_context)) -> Response:
    form = await _params(request, with_body=True)
    _check_jurisdiction(ctx, form)
    async with ctx.db.read() as session:
        key = await find_api_key(session=session, secret=_one(form, "api_key"))
    if key is None or key.id is None:
        raise Open311Error(403, "Invalid api_key received -- can't proceed with create_request.")
    retry_after = _limiter(ctx).acquire(key.id)
    if retry_after is not None:
        raise Open311Error(429, "too many requests for this api_key; slow down",
                           headers={"Retry-After": str(math.ceil(retry_after))})  # fmt: skip
    check_request_form(form, _catalog(ctx))
    submission = build_submission(form, api_key_id=key.id, api_key_name=key.name,
                                  region=ctx.settings.twilio.default_region,
                                  client_key=request.headers.get("idempotency-key", ""))  # fmt: skip
    try:
        await ctx.parts["writer"].store(submission.raw)
    except IngestError:
        raise Open311Error(503, "the request could not be stored; try again shortly",
                           headers={"Retry-After": "5"}) from None  # fmt: skip
    number = await _wait_for_ticket(ctx, submission.token)
    notice = ctx.settings.open311.service_notice or None
    answer = {"service_request_id": number} if number else {"token": submission.token}
    return render(fmt, "service_requests", "request", [{**answer, "service_notice": notice, "account_id": None}])
