"""Prometheus metrics, one registry per running service (so tests can run several side by side)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.accepted = Counter(
            "inbox311_messages_accepted", "Messages committed to the raw store", ["channel"], registry=self.registry
        )
        self.duplicates = Counter(
            "inbox311_messages_duplicate",
            "Redeliveries of a message already stored",
            ["channel"],
            registry=self.registry,
        )
        self.processed = Counter(
            "inbox311_messages_processed",
            "Messages the pipeline turned into ticket changes",
            ["channel"],
            registry=self.registry,
        )
        self.outcomes = Counter(
            "inbox311_messages_settled",
            "Messages that ended other than processed",
            ["channel", "state"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "inbox311_pipeline_latency_seconds",
            "From commit of the raw message to done",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.sent = Counter(
            "inbox311_outbox_sent",
            "Outbound messages handed to a relay or provider",
            ["channel"],
            registry=self.registry,
        )
        self.send_failures = Counter(
            "inbox311_outbox_failures", "Failed send attempts", ["channel"], registry=self.registry
        )
        self.outbox = Gauge("inbox311_outbox_rows", "Outbox rows by state", ["state"], registry=self.registry)
        self.raw = Gauge("inbox311_raw_rows", "Raw inbound rows by state", ["state"], registry=self.registry)

    def observe_processed(self, channel: str, seconds: float) -> None:
        self.processed.labels(channel).inc()
        self.latency.labels(channel).observe(max(seconds, 0.0))

    def count_outcome(self, channel: str, state: str) -> None:
        self.outcomes.labels(channel, state).inc()

    async def render(self, refresh: Callable[[], Awaitable[tuple[dict[str, int], dict[str, int]]]]) -> bytes:
        """The exposition text, with the by-state gauges read fresh from the database."""
        raw_counts, outbox_counts = await refresh()
        for state, n in raw_counts.items():
            self.raw.labels(state).set(n)
        for state, n in outbox_counts.items():
            self.outbox.labels(state).set(n)
        return generate_latest(self.registry)
