"""Fetches MMS media (`MediaUrlN`) for the pipeline: with the account's credentials, within size and type limits,
retrying what may pass on a second try. Never called from the webhook, which must answer Twilio at once.

Twilio's media URLs answer with a redirect to its storage; httpx drops the credentials when a redirect leaves the
origin, so they reach Twilio only.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from gateway.redact import redact
from gateway.settings import TwilioSettings
from parsers.attachments import build_attachment, sniff_type
from parsers.types import AttachmentPart, MediaRef

log = logging.getLogger(__name__)

TWILIO_API_HOST = "api.twilio.com"
_PERMANENT = "permanent"


@dataclass(frozen=True, slots=True)
class MediaFailure:
    index: int
    url: str
    reason: str  # "http-404", "too-large", "type-not-allowed:text/html", "unreachable: ConnectError"


class _GiveUp(Exception):
    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


def media_request_url(url: str, api_base: str) -> str:
    """Twilio's own media URLs go to `api_base` when one is set, like every other request to Twilio."""
    parts = urlsplit(url)
    if not api_base or parts.hostname != TWILIO_API_HOST:
        return url
    base = urlsplit(api_base)
    return urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + parts.path, parts.query, ""))


async def fetch_media(
    refs: tuple[MediaRef, ...], settings: TwilioSettings, *, backoff_seconds: float = 0.5
) -> tuple[list[AttachmentPart], list[MediaFailure]]:
    """Download every media item; what could not be had is reported, never raised."""
    parts: list[AttachmentPart] = []
    failures: list[MediaFailure] = []
    if not refs:
        return parts, failures
    auth = (settings.account_sid, settings.auth_token) if settings.account_sid else None
    timeout = httpx.Timeout(settings.media_timeout_seconds)
    async with httpx.AsyncClient(auth=auth, timeout=timeout, follow_redirects=True, max_redirects=5) as client:
        for index, ref in enumerate(refs):
            try:
                data, declared = await _fetch_with_retries(client, ref, settings, backoff_seconds)
                parts.append(_attachment(data, declared, index, settings))
            except _GiveUp as exc:
                failures.append(MediaFailure(index=index, url=ref.url, reason=exc.reason))
                log.warning("mms media %d not fetched: %s", index, exc.reason)
    return parts, failures


async def _fetch_with_retries(
    client: httpx.AsyncClient, ref: MediaRef, settings: TwilioSettings, backoff_seconds: float
) -> tuple[bytes, str]:
    url = media_request_url(ref.url, settings.api_base)
    for attempt in range(1, settings.media_attempts + 1):
        try:
            return await _fetch_once(client, url, ref, settings.media_max_bytes)
        except _GiveUp as exc:
            if not exc.retryable or attempt == settings.media_attempts:
                raise
            log.info("mms media from %s: attempt %d failed (%s), retrying", urlsplit(url).hostname, attempt, exc.reason)
        await asyncio.sleep(backoff_seconds * 2 ** (attempt - 1))
    raise AssertionError("unreachable")  # the loop returns or raises


async def _fetch_once(client: httpx.AsyncClient, url: str, ref: MediaRef, max_bytes: int) -> tuple[bytes, str]:
    try:
        async with client.stream("GET", url) as response:
            if response.status_code in (408, 425, 429) or response.status_code >= 500:
                raise _GiveUp(f"http-{response.status_code}", retryable=True)
            if response.status_code != 200:
                raise _GiveUp(f"http-{response.status_code}", retryable=False)
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) > max_bytes:
                raise _GiveUp("too-large", retryable=False)
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:  # a missing or lying Content-Length does not get past the limit
                    raise _GiveUp("too-large", retryable=False)
                chunks.append(chunk)
            served = response.headers.get("content-type", "").split(";")[0].strip().lower()
    except httpx.UnsupportedProtocol as exc:
        raise _GiveUp("unsupported-url", retryable=False) from exc
    except httpx.TransportError as exc:
        raise _GiveUp(f"unreachable: {type(exc).__name__}", retryable=True) from exc
    except httpx.TooManyRedirects as exc:
        raise _GiveUp("too-many-redirects", retryable=False) from exc
    return b"".join(chunks), ref.content_type or served or "application/octet-stream"


def _attachment(data: bytes, declared: str, index: int, settings: TwilioSettings) -> AttachmentPart:
    # What the bytes are decides, not what the URL said: an HTML error page labelled image/jpeg is not a photo.
    kind = sniff_type(data, "application/octet-stream")
    if kind not in settings.media_types:
        raise _GiveUp(f"type-not-allowed:{kind}", retryable=False)
    if kind != declared:
        log.info("mms media %d: declared %s, the bytes are %s", index, declared, kind)
    return build_attachment(None, kind, data, None, index + 1)


def describe_failures(failures: list[MediaFailure], sender: str) -> str:
    """A line per missing item for the message's full text, so staff can still find the media at Twilio."""
    if failures:
        log.warning("mms from %s: %d media item(s) not stored", redact(sender), len(failures))
    return "\n".join(f"[media {f.index + 1} not stored ({f.reason}): {f.url}]" for f in failures)
