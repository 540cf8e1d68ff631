"""Twilio's webhooks: inbound texts (`/webhooks/twilio/sms`) and delivery receipts (`/webhooks/twilio/status`).

Both are checked with `X-Twilio-Signature` against the URL Twilio signed: `[http] public_base_url` plus the path and
query, or, with `[http] trust_forwarded`, the URL the proxy in front of us says it received. A text is committed to
the raw store (key `twilio:<MessageSid>`) before we answer, and the answer is empty TwiML: replies go through the
outbox, so Twilio's 15-second timeout is never near.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit

from starlette.datastructures import ImmutableMultiDict
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from twilio.request_validator import RequestValidator

from gateway.ingest.writer import IngestError
from gateway.redact import redact
from gateway.settings import HttpSettings
from gateway.web.deps import WebContext
from storage.raw import NewRaw
from storage.sms import record_sms_status

log = logging.getLogger(__name__)

SMS_PATH = "/webhooks/twilio/sms"
STATUS_PATH = "/webhooks/twilio/status"
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
MAX_FORM_BYTES = 256 * 1024  # a text is at most 1,600 characters; Twilio's whole form is a few KB


def signed_urls(request: Request, http: HttpSettings) -> list[str]:
    """The URLs Twilio may have signed for this request, the configured public one first."""
    path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
    query = request.scope.get("query_string", b"").decode("latin-1")
    path_and_query = f"{path}?{query}" if query else path
    base = urlsplit(http.public_base_url)
    urls = [f"{http.public_base_url}{path_and_query}"]
    headers = request.headers
    if http.trust_forwarded and ("x-forwarded-host" in headers or "x-forwarded-proto" in headers):
        proto = _first(headers.get("x-forwarded-proto")) or base.scheme
        host = _first(headers.get("x-forwarded-host")) or headers.get("host", base.netloc)
        port = _first(headers.get("x-forwarded-port"))
        if port and ":" not in host and port != {"https": "443", "http": "80"}.get(proto):
            host = f"{host}:{port}"
        prefix = (_first(headers.get("x-forwarded-prefix")) or base.path).rstrip("/")
        urls.append(f"{proto}://{host}{prefix}{path_and_query}")
    return urls


def _first(value: str | None) -> str:
    """The client-side value of a header a chain of proxies appends to ("https, http" -> "https")."""
    return (value or "").split(",")[0].strip()


def signature_valid(token: str, urls: list[str], params: Mapping[str, str] | str, signature: str) -> bool:
    """Whether Twilio signed one of `urls` with these params.

    A quote in the query may have been percent-encoded on the way (or not): both spellings are tried, as Twilio's
    own Node validator does. The exact URL is checked first with one signature computation (the usual case, and
    the hot path); only when it fails does `RequestValidator.validate` also try each URL with and without its port.
    """
    validator = RequestValidator(token)
    candidates = list(
        dict.fromkeys(variant for url in urls for variant in (url, url.replace("%27", "'"), url.replace("'", "%27")))
    )
    expected = signature.encode()
    if isinstance(params, Mapping) and any(
        hmac.compare_digest(validator.compute_signature(url, params).encode(), expected) for url in candidates
    ):
        return True
    return any(validator.validate(url, params, signature) for url in candidates)


async def _verified_form(request: Request, ctx: WebContext) -> tuple[bytes, ImmutableMultiDict] | Response:
    """The raw body and its fields, or the response that refuses the request (nothing stored in that case)."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_FORM_BYTES:
        return Response(status_code=413)
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return Response(status_code=413)
    form = ImmutableMultiDict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
    twilio = ctx.settings.twilio
    if twilio.validate_signature:
        signature = request.headers.get("x-twilio-signature", "")
        if not twilio.auth_token:
            log.error("twilio: webhook refused, [twilio] auth_token is not set (validate_signature is on)")
            return Response(status_code=403)
        if not signature or not signature_valid(
            twilio.auth_token, signed_urls(request, ctx.settings.http), form, signature
        ):
            log.warning(
                "twilio: bad or missing signature on %s from %s",
                request.url.path,
                request.client.host if request.client else "?",
            )
            return Response(status_code=403)
    return body, form


async def inbound_text(request: Request) -> Response:
    ctx: WebContext = request.app.state.ctx
    verified = await _verified_form(request, ctx)
    if isinstance(verified, Response):
        return verified
    body, form = verified
    sid = form.get("MessageSid") or form.get("SmsMessageSid") or form.get("SmsSid")
    if not sid or len(sid) > 64:
        return Response(status_code=400)
    item = NewRaw(
        channel="sms",
        source="twilio",
        idempotency_key=f"twilio:{sid}",
        raw=body,
        message_id=sid,
        envelope_from=form.get("From", "")[:500],
        envelope_to=form.get("To", "")[:2000],
    )
    try:
        stored = await ctx.parts["writer"].store(item)
    except IngestError:
        log.exception("twilio: message %s not stored", sid)
        return Response(status_code=503, headers={"Retry-After": "5"})
    (ctx.metrics.duplicates if stored.duplicate else ctx.metrics.accepted).labels("sms").inc()
    log.info(
        "raw=%s sms %s from %s%s",
        stored.raw_id,
        sid,
        redact(form.get("From", "")),
        " (already stored)" if stored.duplicate else "",
    )
    return Response(EMPTY_TWIML, media_type="text/xml")


async def delivery_receipt(request: Request) -> Response:
    ctx: WebContext = request.app.state.ctx
    verified = await _verified_form(request, ctx)
    if isinstance(verified, Response):
        return verified
    _, form = verified
    sid = form.get("MessageSid") or form.get("SmsSid")
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    if not sid or not status:
        return Response(status_code=400)
    outbox = request.query_params.get("outbox", "")
    async with ctx.db.write() as session:
        row = await record_sms_status(
            session=session,
            provider_id=sid,
            status=status,
            outbox_id=int(outbox) if outbox.isdigit() and len(outbox) < 10 else None,
            error_code=form.get("ErrorCode"),
            error_message=form.get("ErrorMessage"),
        )
    if row is None:
        log.info("twilio: status %s for %s, not a text of ours", status, sid)
    return Response(status_code=204)


class TwilioWebhooks:
    """Answers `POST` on the two webhook paths before FastAPI's routing; everything else passes through.

    This is the hot path Twilio waits on: its form needs none of FastAPI's parameter handling, and skipping the
    router and its exception and dependency wrappers takes a large share off the cost of each text.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._handlers = {SMS_PATH: inbound_text, STATUS_PATH: delivery_receipt}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self._handlers.get(scope["path"]) if scope["type"] == "http" else None
        if handler is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            response = Response(status_code=405, headers={"Allow": "POST"})
        else:
            response = await handler(Request(scope, receive))
        await response(scope, receive, send)
