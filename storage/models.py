"""The database tables. Only `storage` opens sessions on them; other code calls the query modules beside this."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON as SAJSON
from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, LargeBinary, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from storage.states import OutboxState, RawState, TicketStatus


def utcnow() -> datetime:
    return datetime.now(UTC)


class RawInbound(SQLModel, table=True):
    """One message as it arrived, committed before the sender is told it was accepted: the queue row, whose state
    changes as the pipeline takes it; its bytes are in `RawBody`."""

    __tablename__ = "raw_inbound"
    __table_args__ = (Index("ix_raw_inbound_state_id", "state", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    source: str = Field(default="", max_length=200)  # listener or account name, e.g. "smtp", "imap:city"
    idempotency_key: str = Field(max_length=500, unique=True)
    message_id: str | None = Field(default=None, max_length=500, index=True)
    envelope_from: str = Field(default="", max_length=500)
    envelope_to: str = Field(default="", max_length=2000)
    size: int = 0  # of its bytes
    state: str = Field(default=RawState.PENDING, max_length=16)
    reason: str | None = Field(default=None, max_length=2000)
    attempts: int = 0
    lease_owner: str | None = Field(default=None, max_length=100)
    lease_until: datetime | None = None
    received_at: datetime = Field(default_factory=utcnow)
    processed_at: datetime | None = None
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)


class RawBody(SQLModel, table=True):
    """The bytes of one `raw_inbound` row, written with it and never changed.

    Apart from the row because SQLite writes a whole row again, its overflow pages too, whenever any column of it
    changes: each claim and settlement of a 10 MB email with photos wrote 20 MB to the WAL, and each of a 4 KB
    report rewrote its 4 KB."""

    __tablename__ = "raw_body"

    raw_id: int = Field(sa_column=Column(Integer, ForeignKey("raw_inbound.id"), primary_key=True, autoincrement=False))
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Contact(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("kind", "address"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=8)  # "email" | "phone"
    address: str = Field(max_length=320)  # lower-cased email or E.164 phone
    name: str | None = Field(default=None, max_length=200)
    language: str | None = Field(default=None, max_length=8)
    opted_out: bool = False
    bounced: bool = False
    bounce_reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class TrackingCounter(SQLModel, table=True):
    """The last tracking number handed out per prefix and year (SR-2026-000042)."""

    __tablename__ = "tracking_counter"

    prefix: str = Field(primary_key=True, max_length=16)
    year: int = Field(primary_key=True)
    last: int = 0


# Open tickets that are not themselves duplicates: those a new report may duplicate. The statuses are literals, not
# parameters, so that both databases see a query with these same terms as within the partial index below.
OPEN_ORIGINAL_SQL = (
    "status IN (" + ", ".join(f"'{s}'" for s in TicketStatus.OPEN_STATES) + ") AND duplicate_of_id IS NULL"
)


class Ticket(SQLModel, table=True):
    __table_args__ = (
        Index("ix_ticket_status_activity", "status", "last_activity_at"),
        Index("ix_ticket_activity_id", "last_activity_at", "id"),  # the inbox's default order, paged by keyset
        Index("ix_ticket_assignee_activity", "assignee_id", "last_activity_at"),  # "assigned to me"
        Index("ix_ticket_category_place", "category", "address_key"),  # duplicates of the same place
        # Candidates for a report's duplicate, latest first, however many closed tickets the category has had.
        Index(
            "ix_ticket_open_category",
            "category",
            "created_at",
            sqlite_where=text(OPEN_ORIGINAL_SQL),
            postgresql_where=text(OPEN_ORIGINAL_SQL),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    tracking_number: str = Field(max_length=32, unique=True)
    public_token: str = Field(max_length=64)
    reply_token: str = Field(max_length=64, unique=True)  # the +token in our Reply-To address
    status: str = Field(default=TicketStatus.NEW, max_length=16)  # indexed first in ix_ticket_status_activity
    channel: str = Field(max_length=16)
    category: str | None = Field(default=None, max_length=64)  # indexed first in ix_ticket_category_place
    category_confidence: float | None = None
    category_decided_by: str | None = Field(default=None, max_length=100)
    department: str | None = Field(default=None, max_length=64)
    priority: str = Field(default="normal", max_length=16)
    summary: str = Field(default="", max_length=300)
    description: str = ""
    address: str | None = Field(default=None, max_length=500)
    lat: float | None = None
    lon: float | None = None
    location_source: str | None = Field(default=None, max_length=32)
    location_confidence: float | None = None
    address_key: str | None = Field(default=None, max_length=200)  # parsers.location.address_key of the place
    reporter_id: int | None = Field(default=None, foreign_key="contact.id", index=True)
    assignee_id: int | None = Field(default=None, foreign_key="staff_user.id")
    duplicate_of_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    linked_from_id: int | None = Field(default=None, foreign_key="ticket.id")  # re-report of a closed ticket
    language: str | None = Field(default=None, max_length=8)
    upstream_id: str | None = Field(default=None, max_length=100)  # id at a forwarded-to Open311 system
    upstream_token: str | None = Field(default=None, max_length=100)
    needs_review: bool = False
    created_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)
    last_activity_at: datetime = Field(default_factory=utcnow)
    closed_at: datetime | None = None


class Message(SQLModel, table=True):
    """One message on a ticket, inbound or outbound, on any channel."""

    __table_args__ = (Index("ix_message_external_id", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    direction: str = Field(max_length=8)  # "in" | "out" | "note"
    channel: str = Field(max_length=16)
    contact_id: int | None = Field(default=None, foreign_key="contact.id")
    external_id: str | None = Field(default=None, max_length=500)  # Message-ID (no brackets) or MessageSid
    in_reply_to: str | None = Field(default=None, max_length=500)
    subject: str = Field(default="", max_length=1000)
    body: str = ""  # the new words only
    body_full: str = ""
    body_html: str | None = None  # sanitised
    kind: str = Field(default="message", max_length=32)  # "message" | "auto-reply" | "bounce" | "ack" | "notification"
    flagged: bool = False  # e.g. a follow-up from someone other than the reporter
    raw_id: int | None = Field(default=None, foreign_key="raw_inbound.id")
    outbox_id: int | None = Field(default=None, foreign_key="outbox.id")
    staff_id: int | None = Field(default=None, foreign_key="staff_user.id")
    created_at: datetime = Field(default_factory=utcnow)


class Attachment(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id", index=True)
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=100)
    size: int = 0
    sha256: str = Field(max_length=64, index=True)
    lat: float | None = None
    lon: float | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Blob(SQLModel, table=True):
    """Attachment bytes, content-addressed, stored once however often they arrive."""

    sha256: str = Field(primary_key=True, max_length=64)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    size: int = 0


class Outbox(SQLModel, table=True):
    """A message we owe someone. Written in the same transaction as the change that caused it."""

    __table_args__ = (Index("ix_outbox_state_next", "state", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    channel: str = Field(max_length=16)  # "email" | "sms" | "open311"
    kind: str = Field(default="ack", max_length=32)  # template name: "ack", "receipt", "status", "reply", ...
    recipient: str = Field(max_length=500)
    message_id: str | None = Field(default=None, max_length=500, index=True)  # our Message-ID, no brackets
    payload: dict = Field(default_factory=dict, sa_column=Column(SAJSON, nullable=False))
    state: str = Field(default=OutboxState.PENDING, max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    lease_owner: str | None = Field(default=None, max_length=100)
    lease_until: datetime | None = None
    provider_id: str | None = Field(default=None, max_length=100, index=True)  # e.g. Twilio MessageSid
    error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None


class Event(SQLModel, table=True):
    """The audit log of a ticket: who did what, when, and why."""

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    actor: str = Field(max_length=200)  # "system", "rule:<name>", "staff:<email>", "resident"
    action: str = Field(max_length=64)
    data: dict = Field(default_factory=dict, sa_column=Column(SAJSON, nullable=False))
    public: bool = False  # shown on the public tracking page
    created_at: datetime = Field(default_factory=utcnow)


class StaffUser(SQLModel, table=True):
    __tablename__ = "staff_user"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    name: str | None = Field(default=None, max_length=200)
    password_hash: str = Field(max_length=500)
    role: str = Field(default="agent", max_length=16)  # "admin" | "agent" | "viewer"
    active: bool = True
    failed_logins: int = 0
    locked_until: datetime | None = None
    # In every session cookie; logging out adds one, so a copied cookie stops working too (sessions are stateless).
    session_epoch: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(default_factory=utcnow)


class ImapCheckpoint(SQLModel, table=True):
    __tablename__ = "imap_checkpoint"
    __table_args__ = (UniqueConstraint("account", "folder"),)

    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(max_length=100)
    folder: str = Field(max_length=200)
    # RFC 3501: UIDVALIDITY and UIDs are unsigned 32-bit numbers, beyond PostgreSQL's INTEGER.
    uidvalidity: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    last_uid: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    key_hash: str = Field(max_length=128, unique=True)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class ReplyBudget(SQLModel, table=True):
    """How many automatic replies went to one address in the current hour (loop protection)."""

    __tablename__ = "reply_budget"

    address: str = Field(primary_key=True, max_length=320)
    window_start: datetime = Field(primary_key=True)
    count: int = 0


class TicketView(SQLModel, table=True):
    """When a staff member last opened a ticket: "unread" means activity since then."""

    __tablename__ = "ticket_view"

    staff_id: int = Field(foreign_key="staff_user.id", primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", primary_key=True, index=True)
    seen_at: datetime = Field(default_factory=utcnow)


class Subscription(SQLModel, table=True):
    """Another address that asked, on the tracking page, to hear about a ticket: used only once confirmed."""

    __table_args__ = (UniqueConstraint("ticket_id", "email"),)

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    email: str = Field(max_length=320)
    language: str | None = Field(default=None, max_length=8)
    token: str = Field(max_length=64, unique=True)  # in the confirmation and unsubscribe links
    confirmed_at: datetime | None = None
    unsubscribed_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class SiteSecret(SQLModel, table=True):
    """Keys made once and shared by every instance (session cookies, unsubscribe links) unless the config sets one."""

    __tablename__ = "site_secret"

    name: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
