"""The bot's HTTP server: `GET /healthz` and `GET /metrics` always, the webhook in webhook mode.

Health and metrics read the database, the delivery engine, intake and flood control; the webhook
route hands updates to intake. None of it is delivery itself, so it sits above `bot.delivery`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from aiohttp import web

from bot.delivery.engine import DeliveryEngine, describe_error
from bot.delivery.flood import FloodControl
from bot.delivery.intake import Intake, WebhookIntake
from bot.metrics import CONTENT_TYPE, Metrics
from storage import Database

logger = logging.getLogger(__name__)


async def inbox_counts(db: Database) -> dict[str, int]:
    """The inbox's counts, or TimeoutError: a health check must answer while a long
    transaction holds the database (Docker gives up on it after a few seconds)."""
    async with asyncio.timeout(db.HEALTHCHECK_TIMEOUT):
        return await db.inbox.counts()


class HealthCheck:
    """200 with `"ok": true` while the database answers and intake is alive, else 503."""

    def __init__(
        self, *, db: Database, engine: DeliveryEngine, intake: Intake, flood: FloodControl
    ) -> None:
        self._db = db
        self._engine = engine
        self._intake = intake
        self._flood = flood

    async def handle(self, request: web.Request) -> web.Response:
        database = await self._db.healthcheck()
        inbox: dict[str, int] | None = None
        if database.get("ok"):
            try:
                inbox = await inbox_counts(self._db)
            except TimeoutError:
                database = {"ok": False, "error": "the inbox did not answer in time"}
            except Exception as error:
                database = {"ok": False, "error": describe_error(error)}
        alive = self._intake.alive()
        ok = bool(database.get("ok")) and alive
        stats = self._engine.stats
        last = stats.last_update_at
        body = {
            "ok": ok,
            "database": database,
            "intake": {"mode": self._intake.mode, "alive": alive},
            "inbox": {
                "pending": inbox.get("pending", 0) if inbox else None,
                "failed": inbox.get("failed", 0) if inbox else None,
            },
            "last_update_at": (
                dt.datetime.fromtimestamp(last, dt.UTC).isoformat() if last else None
            ),
            # Counters since start.
            "received": stats.received,
            "duplicates": stats.duplicates,
            "handled": stats.handled,
            "retried": stats.retried,
            "parked": stats.parked,
            "telegram": {
                "retry_after_waits": self._flood.stats.retry_after_waits,
                "retried_errors": self._flood.stats.retried_errors,
            },
        }
        return web.json_response(body, status=200 if ok else 503)


class MetricsPage:
    """`GET /metrics`: the Prometheus text format; the inbox's counts are read at each scrape."""

    def __init__(self, *, db: Database, metrics: Metrics) -> None:
        self._db = db
        self._metrics = metrics

    async def handle(self, request: web.Request) -> web.Response:
        counts: dict[str, int] | None
        try:
            counts = await inbox_counts(self._db)
        except Exception as error:
            # The gauges read NaN; /healthz says what is wrong.
            logger.warning("/metrics: no inbox counts (%s)", describe_error(error))
            counts = None
        self._metrics.set_inbox(counts)
        return web.Response(body=self._metrics.render(), headers={"Content-Type": CONTENT_TYPE})


def build_http_app(
    *,
    health: HealthCheck,
    intake: Intake,
    webhook_path: str,
    metrics: MetricsPage | None = None,
) -> web.Application:
    app = web.Application()
    app.router.add_get("/healthz", health.handle)
    if metrics is not None:
        app.router.add_get("/metrics", metrics.handle)
    if isinstance(intake, WebhookIntake):
        app.router.add_post(webhook_path, intake.handle)
    return app


async def start_http_server(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    logger.info("HTTP server listening on %s:%d", host, port)
    return runner
