"""Typed settings loaded from TOML, overridden by `INBOX311__SECTION__KEY` environment variables.

Loaded once in `gateway.cli` and passed down by constructors; nothing reads configuration from a global.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ENV_PREFIX = "INBOX311__"


class ConfigError(Exception):
    """A configuration problem, phrased as one line that names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///./var/inbox311.db"
    echo: bool = False


class SmtpSettings(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=2525, ge=0, le=65535)
    hostname: str = "localhost"  # the name we greet with
    domains: tuple[str, ...] = ("city.example",)
    max_message_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    tls_cert: str = ""
    tls_key: str = ""
    require_starttls: bool = False
    # Flow control (gateway/ingest/admission.py): DATA waits while more mail waits for the pipeline than it
    # settles in `backlog_seconds` of work (0: never wait), or than `max_backlog`; after `busy_wait_seconds`, 451.
    backlog_seconds: float = Field(default=0.25, ge=0)
    max_backlog: int = Field(default=1000, ge=1)
    busy_wait_seconds: float = Field(default=120.0, gt=0)

    @field_validator("domains")
    @classmethod
    def _lower(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("at least one domain is required")
        return tuple(d.strip().lower() for d in v)


class HttpSettings(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8311, ge=0, le=65535)
    public_base_url: str = "http://127.0.0.1:8311"
    trust_forwarded: bool = False  # honour X-Forwarded-Proto/Host from a reverse proxy

    @field_validator("public_base_url")
    @classmethod
    def _strip(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")


class EmailOutboundSettings(_Section):
    from_: str = Field(default="City 311 <reports@city.example>", alias="from")
    relay_host: str = "127.0.0.1"
    relay_port: int = Field(default=1025, ge=1, le=65535)
    starttls: bool = False
    use_tls: bool = False
    username: str = ""
    password: str = ""
    timeout_seconds: float = Field(default=30.0, gt=0)
    connections: int = Field(default=16, ge=1, le=64)
    sender_process: bool = True  # false: the relay conversations run in the service's own process

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class OutboxSettings(_Section):
    max_attempts: int = Field(default=8, ge=1)
    backoff_base_seconds: float = Field(default=2.0, gt=0)
    backoff_max_seconds: float = Field(default=900.0, gt=0)
    lease_seconds: float = Field(default=60.0, gt=0)
    batch_size: int = Field(default=64, ge=1)
    poll_seconds: float = Field(default=1.0, gt=0)


class OutboundSettings(_Section):
    email: EmailOutboundSettings = EmailOutboundSettings()


class ImapAccountSettings(_Section):
    name: str
    host: str
    port: int = Field(default=993, ge=1, le=65535)
    tls: Literal["ssl", "starttls", "plain"] = "ssl"
    username: str
    password: str = ""
    password_file: str = ""  # read at each login: a secrets mount keeps the password out of the config
    auth: Literal["login", "plain", "xoauth2"] = "login"
    oauth2_token_command: str = ""
    oauth2_token_file: str = ""
    folder: str = "INBOX"
    processed_folder: str = ""  # empty: flag \Seen instead of moving
    idle: bool = True
    poll_seconds: float = Field(default=60.0, gt=0)
    batch_size: int = Field(default=100, ge=1)
    ca_file: str = ""
    timeout_seconds: float = Field(default=60.0, gt=0)  # socket connect and read timeout
    idle_renew_seconds: float = Field(default=1500.0, gt=0, le=1740)  # RFC 2177: re-issue IDLE within 29 minutes
    backoff_base_seconds: float = Field(default=1.0, gt=0)  # first reconnect delay, doubled per failure
    backoff_max_seconds: float = Field(default=300.0, gt=0)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v or not all(c.isalnum() or c in "-_." for c in v):
            raise ValueError("must be letters, digits, '-', '_' or '.'")
        return v

    @model_validator(mode="after")
    def _transport(self) -> ImapAccountSettings:
        if self.tls == "plain" and not _is_loopback(self.host):
            raise ValueError('tls = "plain" is only allowed for a loopback host; use "ssl" or "starttls"')
        if self.password and self.password_file:
            raise ValueError("set password or password_file, not both")
        if self.auth == "xoauth2" and not (self.oauth2_token_command or self.oauth2_token_file):
            raise ValueError('auth = "xoauth2" needs oauth2_token_command or oauth2_token_file')
        return self


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class TwilioSettings(_Section):
    account_sid: str = ""
    auth_token: str = ""
    from_number: str = ""
    messaging_service_sid: str = ""
    api_base: str = ""  # empty: Twilio's own API; a URL sends every request there instead (tests, proxies)
    validate_signature: bool = True
    default_region: str = "US"
    conversation_window_minutes: int = Field(default=30, ge=0)
    ack_max_segments: int = Field(default=2, ge=1, le=10)  # an acknowledgement is cut to fit this many segments
    keyword_replies: bool = True  # answer STOP/START/HELP ourselves (off when Twilio's Advanced Opt-Out does)
    help_text: str = ""  # empty: the shipped sms/help template
    timeout_seconds: float = Field(default=30.0, gt=0)  # per API request
    media_max_bytes: int = Field(default=5 * 1024 * 1024, ge=0)  # per MMS media item (Twilio's own cap is 5 MB)
    media_types: tuple[str, ...] = (
        "image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "image/heif", "video/mp4", "video/3gpp",
    )  # fmt: skip
    media_attempts: int = Field(default=3, ge=1, le=10)  # tries per media item before it is noted as missing
    media_timeout_seconds: float = Field(default=20.0, gt=0)

    @field_validator("api_base")
    @classmethod
    def _api_base(cls, v: str) -> str:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @field_validator("default_region")
    @classmethod
    def _region(cls, v: str) -> str:
        import phonenumbers

        if v.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError("must be a two-letter region code such as US, CA or MX")
        return v.upper()


class TrackingSettings(_Section):
    prefix: str = "SR"

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not v.isalnum() or len(v) > 8:
            raise ValueError("must be 1 to 8 letters or digits")
        return v.upper()


class RulesSettings(_Section):
    file: str = ""  # empty: the rules shipped with Inbox311
    model: str = ""  # empty: the model shipped with Inbox311
    triage_threshold: float = Field(default=0.5, ge=0, le=1)
    ask_missing: bool = True  # the acknowledgement asks where (or what) when a report does not say


class DedupeSettings(_Section):
    """Linking a new report to an open ticket about the same problem (rules.dedupe)."""

    enabled: bool = True
    distance_m: float = Field(default=50.0, ge=0)
    window_days: float = Field(default=14.0, gt=0)
    text_similarity: float = Field(default=0.8, gt=0, le=1)  # only used when the report has no location


class WorkerSettings(_Section):
    enabled: bool = True  # false: an ingest-only instance; another instance on the same database processes
    batch_size: int = Field(default=32, ge=1)
    poll_seconds: float = Field(default=1.0, gt=0)
    lease_seconds: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    parse_processes: int = Field(default=1, ge=0)  # 0: the pure stages run in the service's own process
    parse_timeout_seconds: float = Field(default=30.0, gt=0)


class RepliesSettings(_Section):
    """Limits on automatic replies: the last line of defence against mail loops we failed to detect."""

    per_sender_per_hour: int = Field(default=5, ge=0)
    global_per_hour: int = Field(default=5000, ge=0)
    receipt_interval_minutes: int = Field(default=60, ge=0)
    # A folder of the city's own templates (`email/<kind>.<lang>.txt.j2`, `sms/...`, `canned/...`), tried before the
    # shipped ones with the same name; empty: only the shipped templates.
    templates_dir: str = ""


class TicketsSettings(_Section):
    reopen_window_days: int = Field(default=14, ge=0)


class EmailInboundSettings(_Section):
    # What to do with mail whose DMARC (or, without DMARC, SPF and DKIM) verdict from the upstream MTA is "fail":
    # "reply" as usual, "no-reply" (make the ticket, but never auto-reply to a possibly forged sender), or "hold"
    # (keep it for staff review before anything happens).
    auth_failure: Literal["reply", "no-reply", "hold"] = "no-reply"
    max_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=0)
    max_attachments_bytes: int = Field(default=25 * 1024 * 1024, ge=0)


class Open311UpstreamSettings(_Section):
    """A city's existing Open311 endpoint that new tickets are forwarded to (empty `url`: no forwarding)."""

    url: str = ""  # the GeoReport v2 base, e.g. https://crm.city.example/open311/v2
    api_key: str = ""
    jurisdiction_id: str = ""
    service_map: dict[str, str] = Field(default_factory=dict)  # our category -> their service_code; "*": the rest
    poll_minutes: float = Field(default=10.0, gt=0)  # how often forwarded tickets' statuses are fetched
    timeout_seconds: float = Field(default=30.0, gt=0)
    include_contact: bool = False  # also send the reporter's email, phone and name

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")


class Open311Settings(_Section):
    """The GeoReport v2 API we serve under /open311/v2/."""

    enabled: bool = True
    jurisdiction_id: str = ""  # when set, requests must name it
    rate_limit_per_minute: int = Field(default=60, ge=1)  # POSTs per API key
    rate_limit_burst: int = Field(default=10, ge=1)
    post_wait_seconds: float = Field(default=5.0, ge=0)  # wait for the ticket number before answering with a token
    public_location: Literal["street", "exact"] = "street"
    publish_description: bool = True
    service_notice: str = ""
    upstream: Open311UpstreamSettings = Open311UpstreamSettings()


class WebSettings(_Section):
    """The staff inbox (sessions, logins) and the public forms (report, subscribe)."""

    secret_key: str = ""  # signs session cookies and unsubscribe links; empty: made once, kept in the database
    session_hours: float = Field(default=12.0, gt=0)
    cookie_secure: Literal["auto", "always", "never"] = "auto"  # auto: Secure when public_base_url is https
    login_max_failures: int = Field(default=5, ge=1)  # failures in a row before an account is locked
    login_lockout_seconds: float = Field(default=60.0, gt=0)  # first lockout; doubled per further failure
    login_lockout_max_seconds: float = Field(default=3600.0, gt=0)
    login_attempts_per_minute: int = Field(default=20, ge=1)  # per client address
    page_size: int = Field(default=50, ge=5, le=500)
    report_enabled: bool = True
    report_per_hour: int = Field(default=10, ge=1)  # web reports per client address
    report_max_photos: int = Field(default=3, ge=0, le=10)
    report_max_photo_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    report_photo_types: tuple[str, ...] = ("image/jpeg", "image/png", "image/webp", "image/gif", "image/heic")
    report_frame_ancestors: str = "*"  # CSP frame-ancestors for /report: who may embed the form in an iframe
    subscribe_per_hour: int = Field(default=5, ge=1)  # subscription requests per client address


class GeocoderSettings(_Section):
    """Turning a report's address text into coordinates: an offline street list, or an HTTP service."""

    kind: Literal["offline", "nominatim", "census", "none"] = "offline"
    streets_file: str = ""  # CSV of street segments with address ranges; empty: no street list
    url: str = ""  # empty: the service's public endpoint
    user_agent: str = "Inbox311"  # Nominatim's usage policy asks for an identifying User-Agent
    email: str = ""
    country_codes: str = "us"
    viewbox: str = ""  # "lon1,lat1,lon2,lat2": prefer results inside the city
    query_suffix: str = ""  # appended to every query, e.g. ", Chicago, IL"
    timeout_seconds: float = Field(default=5.0, gt=0)
    min_interval_seconds: float = Field(default=1.0, ge=0)  # public Nominatim allows one request a second
    cache_size: int = Field(default=4096, ge=0)


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class Settings(_Section):
    database: DatabaseSettings = DatabaseSettings()
    smtp: SmtpSettings = SmtpSettings()
    http: HttpSettings = HttpSettings()
    outbound: OutboundSettings = OutboundSettings()
    outbox: OutboxSettings = OutboxSettings()
    imap: tuple[ImapAccountSettings, ...] = ()
    twilio: TwilioSettings = TwilioSettings()
    tracking: TrackingSettings = TrackingSettings()
    rules: RulesSettings = RulesSettings()
    worker: WorkerSettings = WorkerSettings()
    replies: RepliesSettings = RepliesSettings()
    tickets: TicketsSettings = TicketsSettings()
    email: EmailInboundSettings = EmailInboundSettings()
    open311: Open311Settings = Open311Settings()
    web: WebSettings = WebSettings()
    logging: LoggingSettings = LoggingSettings()
    geocoder: GeocoderSettings = GeocoderSettings()
    dedupe: DedupeSettings = DedupeSettings()

    @field_validator("imap")
    @classmethod
    def _unique_imap_names(cls, v: tuple[ImapAccountSettings, ...]) -> tuple[ImapAccountSettings, ...]:
        names = [a.name for a in v]
        if len(names) != len(set(names)):  # the name keys checkpoints and raw rows, so it must be unique
            raise ValueError("every [[imap]] entry needs its own name")
        return v

    @property
    def from_address(self) -> str:
        """The bare address of `[outbound.email] from`, e.g. reports@city.example."""
        return _bare_address(self.outbound.email.from_)

    def replace(self, **sections: Any) -> Settings:
        """A copy with whole sections or nested keys replaced: `replace(smtp={"port": 0})`."""
        data = self.model_dump(by_alias=True)
        for name, value in sections.items():
            if isinstance(value, dict) and isinstance(data.get(name), dict):
                data[name] = _merge(data[name], value)
            else:
                data[name] = value
        return Settings.model_validate(data)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in override.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    """`INBOX311__OUTBOUND__EMAIL__RELAY_PORT=2526` -> {"outbound": {"email": {"relay_port": 2526}}}.

    Values are read as TOML literals when they parse as one (numbers, booleans, arrays), else as strings.
    """
    tree: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if not path:
            continue
        try:
            parsed: Any = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{name}: conflicts with another override")
        node[path[-1]] = parsed
    return tree


def _describe(err: ValidationError) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"])
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    return f"config key {key}: {msg}"


def load_settings(path: str | Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read the TOML file (or the built-in defaults when `path` is None) and apply environment overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {p}: not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {p}: {exc}") from None
    data = _merge(data, _env_overrides(dict(os.environ if environ is None else environ)))
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


@functools.lru_cache(maxsize=64)
def _bare_address(mailbox: str) -> str:
    """Read several times for every message on the pipeline's path: parsing it each time was some 6% of the
    pipeline's transaction."""
    from email.utils import parseaddr

    return parseaddr(mailbox)[1].lower()
