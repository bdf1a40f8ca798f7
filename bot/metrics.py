"""Prometheus metrics: what `GET /metrics` serves, and the hooks the bot's parts report through.

One `Metrics` object per run, on a `CollectorRegistry` of its own (built in `bot.app.run`), never
prometheus-client's global registry: several bots may run in one process (the tests do).

Domain code calls plain methods (`message_relayed`, `delivery_failed`, ...) and does not know
about Prometheus. Counters the delivery engine and flood control already keep (`EngineStats`,
`FloodStats`) are read at scrape time rather than counted twice; so are the inbox's counts, which
the HTTP handler fetches from the database just before it renders the page.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

PREFIX = "support_bot"
#: The content type of what `Metrics.render` returns.
CONTENT_TYPE = CONTENT_TYPE_LATEST

#: Why a message did not reach its destination. `parked` is an update the delivery engine set
#: aside after `MAX_ATTEMPTS`; the others are messages of operators that did not reach the user
#: (`unsupported`: in either direction, a message Telegram would let the bot neither copy nor
#: forward).
FAILURE_REASONS = ("blocked", "deactivated", "refused", "unsupported", "parked")

# Handling one update is a few Bot API round trips (tens of ms each); retries wait outside the
# handler, but flood control's 429 waits happen inside it.
HANDLER_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class EngineCounters(Protocol):
    """What the delivery engine counts (`bot.delivery.engine.EngineStats`)."""

    received: int
    duplicates: int
    handled: int
    retried: int


class FloodCounters(Protocol):
    """What flood control counts (`bot.delivery.flood.FloodStats`)."""

    retry_after_waits: int
    retried_errors: int


class Metrics:
    """The bot's metrics, registered on `registry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # A registry of its own unless given: never prometheus-client's global one.
        self.registry = registry if registry is not None else CollectorRegistry()
        self._relayed = Counter(
            f"{PREFIX}_messages_relayed",
            "Messages copied between a user's chat and their topic, by who sent them "
            "(user, operator) and content type.",
            ["direction", "content_type"],
            registry=self.registry,
        )
        self._failures = Counter(
            f"{PREFIX}_delivery_failures",
            "Messages that did not reach the other side (blocked, deactivated, refused, "
            "unsupported) and updates the delivery engine set aside (parked).",
            ["reason"],
            registry=self.registry,
        )
        for reason in FAILURE_REASONS:
            self._failures.labels(reason=reason)
        self._topics = Counter(
            f"{PREFIX}_topics_created",
            "Forum topics the bot created for users.",
            registry=self.registry,
        )
        self._handler = Histogram(
            f"{PREFIX}_handler_duration_seconds",
            "Time the delivery engine spent handling one update (or one album), per attempt.",
            buckets=HANDLER_BUCKETS,
            registry=self.registry,
        )
        self._inbox_pending = Gauge(
            f"{PREFIX}_inbox_pending_updates",
            "Updates stored in the inbox and not handled yet.",
            registry=self.registry,
        )
        self._inbox_failed = Gauge(
            f"{PREFIX}_inbox_failed_updates",
            "Updates set aside as failed, still in the inbox.",
            registry=self.registry,
        )

    # --- hooks for the bot's parts ------------------------------------------------------------

    def message_relayed(self, direction: str, content_type: str) -> None:
        self._relayed.labels(direction=direction, content_type=content_type).inc()

    def delivery_failed(self, reason: str) -> None:
        self._failures.labels(reason=reason).inc()

    def topic_created(self) -> None:
        self._topics.inc()

    def update_handled(self, seconds: float) -> None:
        self._handler.observe(seconds)

    def watch(self, *, engine: EngineCounters, flood: FloodCounters) -> None:
        """Serve the counters the engine and flood control keep themselves."""
        self.registry.register(_StatsCollector(engine, flood))

    # --- scraping -----------------------------------------------------------------------------

    def set_inbox(self, counts: dict[str, int] | None) -> None:
        """The inbox's counts, read just before a scrape (None: the database did not answer)."""
        nan = float("nan")
        self._inbox_pending.set(counts.get("pending", 0) if counts is not None else nan)
        self._inbox_failed.set(counts.get("failed", 0) if counts is not None else nan)

    def render(self) -> bytes:
        """The Prometheus text exposition of everything registered."""
        return generate_latest(self.registry)


class _StatsCollector(Collector):
    """Reads the engine's and flood control's plain counters at scrape time."""

    def __init__(self, engine: EngineCounters, flood: FloodCounters) -> None:
        self._engine = engine
        self._flood = flood

    def collect(self) -> Iterator[CounterMetricFamily]:
        engine, flood = self._engine, self._flood
        for name, documentation, value in (
            ("updates_received", "Updates taken into the inbox.", engine.received),
            ("updates_duplicate", "Re-delivered updates ignored.", engine.duplicates),
            ("updates_handled", "Updates handled to the end.", engine.handled),
            (
                "update_retries",
                "Times the delivery engine tried an update again after a transient error.",
                engine.retried,
            ),
            (
                "telegram_flood_waits",
                "429 answers from Telegram waited out by flood control (retry_after).",
                flood.retry_after_waits,
            ),
            (
                "telegram_retried_errors",
                "5xx answers and network errors retried by flood control.",
                flood.retried_errors,
            ),
        ):
            yield CounterMetricFamily(f"{PREFIX}_{name}", documentation, value=value)
