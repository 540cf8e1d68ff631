"""Typed settings loaded from TOML, overridden by `INBOX311__SECTION__KEY` environment variables.

Loaded once in `gateway.cli` and passed down by constructors; nothing reads configuration from a global.
"""

from __future__ import annotations

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
    connections: int = Field(default=4, ge=1, le=64)

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


class WorkerSettings(_Section):
    batch_size: int = Field(default=32, ge=1)
    poll_seconds: float = Field(default=1.0, gt=0)
    lease_seconds: float = Field(default=60.0, gt=0)
    max_attempts: int = Field(default=3, ge=1)


class RepliesSettings(_Section):
    """Limits on automatic replies: the last line of defence against mail loops we failed to detect."""

    per_sender_per_hour: int = Field(default=5, ge=0)
    global_per_hour: int = Field(default=5000, ge=0)
    receipt_interval_minutes: int = Field(default=60, ge=0)


class TicketsSettings(_Section):
    reopen_window_days: int = Field(default=14, ge=0)


class EmailInboundSettings(_Section):
    # What to do with mail whose DMARC (or, without DMARC, SPF and DKIM) verdict from the upstream MTA is "fail":
    # "reply" as usual, "no-reply" (make the ticket, but never auto-reply to a possibly forged sender), or "hold"
    # (keep it for staff review before anything happens).
    auth_failure: Literal["reply", "no-reply", "hold"] = "no-reply"
    max_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=0)
    max_attachments_bytes: int = Field(default=25 * 1024 * 1024, ge=0)


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
    logging: LoggingSettings = LoggingSettings()

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
        from email.utils import parseaddr

        return parseaddr(self.outbound.email.from_)[1].lower()

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
