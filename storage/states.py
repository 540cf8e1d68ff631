"""The states a raw message, an outbox row and a ticket move through: plain constants, cheap to import."""

from __future__ import annotations


class RawState:
    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    QUARANTINED = "quarantined"
    DISCARDED = "discarded"
    HELD = "held"


class OutboxState:
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"  # a retryable failure was recorded; the row is pending again with a later next_attempt_at
    DEAD = "dead"  # gave up after max attempts
    BOUNCED = "bounced"
    SUPPRESSED = "suppressed"  # never sent: opted out, bounced contact, loop budget


class TicketStatus:
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    OPEN_STATES = (NEW, ACKNOWLEDGED, IN_PROGRESS)
    ALL = (NEW, ACKNOWLEDGED, IN_PROGRESS, RESOLVED, CLOSED, DUPLICATE, REJECTED)
