"""Twilio's webhooks: inbound texts (`/webhooks/twilio/sms`) and delivery receipts (`/webhooks/twilio/status`).

Both are checked with `X-Twilio-Signature` against the URL Twilio signed: `[http] public_base_url` plus the path and
query, or, with `[http] trust_forwarded`, the URL the proxy in front of us says it received. A text is committed to
the raw store (key `twilio:<MessageSid>`) before we answer, and the answer is empty TwiML: replies go through the
outbox, so Twilio's 15-second timeout is never near.

The two paths are answered in plain ASGI in front of the FastAPI app (`TwilioWebhooks`): this is the hot path Twilio
waits on, and a form post needs none of the browser middleware, routing or parameter handling.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

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
FORM_TYPE = "application/x-www-form-urlencoded"  # what Twilio posts to both webhooks
RawHeaders = Sequence[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes = b""
    content_type: bytes | None = None
    headers: RawHeaders = ()


@dataclass(frozen=True, slots=True)
class WebhookPost:
    """A webhook request as received: its ASGI scope, headers (lower-case names, first value) and whole body."""

    scope: Scope
    headers: Mapping[str, str]
    body: bytes

    @property
    def client_host(self) -> str:
        client = self.scope.get("client")
        return client[0] if client else "?"


TWIML_ANSWER = Answer(200, EMPTY_TWIML, b"text/xml; charset=utf-8")


class FormFields(Mapping[str, str]):
    """A posted form: a field's first value by its name, and all its values through `getall`.

    `getall` is the multi-dict method `RequestValidator` asks for first, so a signature is computed over every
    value of a repeated field in one lookup each (a list scan per field made it quadratic in the form's size).
    """

    __slots__ = ("_values",)

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in pairs:
            self._values.setdefault(name, []).append(value)

    def __getitem__(self, name: str) -> str:
        return self._values[name][0]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def getall(self, name: str) -> list[str]:
        return self._values[name]


def signed_urls(scope: Scope, headers: Mapping[str, str], http: HttpSettings) -> list[str]:
    """The URLs Twilio may have signed for this request, the configured public one first."""
    path = scope.get("raw_path", b"").decode("latin-1") or scope.get("root_path", "") + scope["path"]
    query = scope.get("query_string", b"").decode("latin-1")
    path_and_query = f"{path}?{query}" if query else path
    base = urlsplit(http.public_base_url)
    urls = [f"{http.public_base_url}{path_and_query}"]
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


def verified_form(post: WebhookPost, ctx: WebContext) -> FormFields | Answer:
    """The form's fields, or the answer that refuses the request (nothing is stored in that case)."""
    media_type = post.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM_TYPE:
        return Answer(415)
    form = FormFields(parse_qsl(post.body.decode("utf-8", errors="replace"), keep_blank_values=True))
    twilio = ctx.settings.twilio
    if twilio.validate_signature:
        signature = post.headers.get("x-twilio-signature", "")
        if not twilio.auth_token:
            log.error("twilio: webhook refused, [twilio] auth_token is not set (validate_signature is on)")
            return Answer(403)
        urls = signed_urls(post.scope, post.headers, ctx.settings.http)
        if not signature or not signature_valid(twilio.auth_token, urls, form, signature):
            log.warning("twilio: bad or missing signature on %s from %s", post.scope["path"], post.client_host)
            return Answer(403)
    return form


async def inbound_text(post: WebhookPost, ctx: WebContext) -> Answer:
    form = verified_form(post, ctx)
    if isinstance(form, Answer):
        return form
    sid = form.get("MessageSid") or form.get("SmsMessageSid") or form.get("SmsSid")
    if not sid or len(sid) > 64:
        return Answer(400)
    item = NewRaw(
        channel="sms",
        source="twilio",
        idempotency_key=f"twilio:{sid}",
        raw=post.body,
        message_id=sid,
        envelope_from=form.get("From", "")[:500],
        envelope_to=form.get("To", "")[:2000],
    )
    try:
        stored = await ctx.parts["writer"].store(item)
    except IngestError:
        log.exception("twilio: message %s not stored", sid)
        return Answer(503, headers=[(b"retry-after", b"5")])
    (ctx.metrics.duplicates if stored.duplicate else ctx.metrics.accepted).labels("sms").inc()
    if log.isEnabledFor(logging.INFO):
        log.info(
            "raw=%s sms %s from %s%s",
            stored.raw_id,
            sid,
            redact(form.get("From", "")),
            " (already stored)" if stored.duplicate else "",
        )
    return TWIML_ANSWER


async def delivery_receipt(post: WebhookPost, ctx: WebContext) -> Answer:
    form = verified_form(post, ctx)
    if isinstance(form, Answer):
        return form
    sid = form.get("MessageSid") or form.get("SmsSid")
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    if not sid or not status:
        return Answer(400)
    query = dict(parse_qsl(post.scope.get("query_string", b"").decode("latin-1")))
    outbox = query.get("outbox", "")
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
    return Answer(204)


Handler = Callable[[WebhookPost, WebContext], Awaitable[Answer]]


class TwilioWebhooks:
    """The ASGI front door: `POST` on the two webhook paths is answered here, everything else goes to `app`.

    `security_headers` are added to every answer given here, as the web app's own middleware adds them to its pages.
    """

    def __init__(self, app: ASGIApp, ctx: WebContext, *, security_headers: RawHeaders = ()) -> None:
        self.app = app
        self.ctx = ctx
        self._security_headers = list(security_headers)
        self._handlers: dict[str, Handler] = {SMS_PATH: inbound_text, STATUS_PATH: delivery_receipt}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self._handlers.get(scope["path"]) if scope["type"] == "http" else None
        if handler is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            await self._send(send, Answer(405, headers=[(b"allow", b"POST")]))
            return
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in reversed(scope["headers"])}
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_FORM_BYTES:
            await self._send(send, Answer(413))
            return
        body = await _read_body(receive)
        if body is None:  # the client went away: nothing was stored, nobody to answer
            return
        if len(body) > MAX_FORM_BYTES:
            await self._send(send, Answer(413))
            return
        try:
            answer = await handler(WebhookPost(scope, headers, body), self.ctx)
        except Exception:
            log.exception("twilio: webhook %s failed", scope["path"])
            answer = Answer(500)
        await self._send(send, answer)

    async def _send(self, send: Send, answer: Answer) -> None:
        headers = [(b"content-length", str(len(answer.body)).encode())]
        if answer.content_type:
            headers.append((b"content-type", answer.content_type))
        headers.extend(answer.headers)
        headers.extend(self._security_headers)
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, read no further than just past the limit; None when the client disconnected."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_FORM_BYTES or not message.get("more_body", False):
            return b"".join(chunks)
