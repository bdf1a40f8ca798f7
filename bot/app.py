"""The running bot: database, Bot, Dispatcher, delivery engine, HTTP server, in that order."""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import sqlite3
import sys
from datetime import UTC, datetime

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError
from prometheus_client import CollectorRegistry

from bot.checks import StartupCheckError, run_startup_checks
from bot.config import Settings
from bot.delivery.alerts import ParkedAlert
from bot.delivery.engine import DeliveryEngine
from bot.delivery.flood import FloodControl
from bot.delivery.intake import Intake, Poller, WebhookIntake
from bot.desk.board import Board
from bot.desk.commands import OperatorCommands
from bot.desk.icons import IconConfigError, TopicIcons, resolve_icons
from bot.desk.scheduler import DeskScheduler
from bot.http_server import HealthCheck, MetricsPage, build_http_app, start_http_server
from bot.metrics import Metrics
from bot.relay.rights import BotRights
from bot.relay.service import Relay
from bot.telegram import create_bot
from handlers import ALLOWED_UPDATES, setup_routers
from storage import Database, StorageError

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2


def _fail(message: str, status: int = EXIT_FAILURE) -> int:
    print(f"error: {message}", file=sys.stderr)
    return status


async def run(
    settings: Settings, *, check_only: bool = False, stop: asyncio.Event | None = None
) -> int:
    """Start the bot and run it until SIGTERM / SIGINT. Returns the process exit status.

    With `stop` given (tests, embedding), the bot runs until it is set and installs no signal
    handlers.
    """
    db = Database(str(settings.DATABASE_PATH))
    try:
        await db.connect()
        await db.init()
    except (StorageError, sqlite3.Error, OSError) as error:
        await db.close()
        return _fail(f"DATABASE_PATH {settings.DATABASE_PATH}: {error}")

    flood = FloodControl(global_rate=settings.GLOBAL_RATE_LIMIT)
    # A registry per run, not prometheus-client's global one: runs must not share counters.
    metrics = Metrics(CollectorRegistry())
    bot = create_bot(settings, flood)
    try:
        return await _run_bot(settings, db, bot, flood, metrics, check_only=check_only, stop=stop)
    finally:
        await bot.session.close()
        await db.close()


async def _run_bot(
    settings: Settings,
    db: Database,
    bot: Bot,
    flood: FloodControl,
    metrics: Metrics,
    *,
    check_only: bool,
    stop: asyncio.Event | None,
) -> int:
    try:
        identity = await run_startup_checks(bot, settings)
    except StartupCheckError as error:
        return _fail(str(error))
    icons: dict[str, str] | None = None
    if settings.TOPIC_ICONS:
        try:
            icons = await resolve_icons(bot, settings)
        except IconConfigError as error:
            return _fail(f"configuration error: {error}", EXIT_CONFIG)
        except TelegramAPIError as error:
            return _fail(f"cannot read Telegram's topic icons (getForumTopicIconStickers): {error}")
    if check_only:
        print(
            f"ok: @{identity.me.username} can serve operator group "
            f"{identity.operator_chat_title!r} ({settings.OPERATOR_CHAT_ID})"
        )
        return EXIT_OK

    # Long-lived objects reach handlers as Dispatcher keyword arguments (aiogram's DI).
    relay = Relay(bot=bot, db=db, settings=settings, identity=identity, metrics=metrics)
    # No FSM: the bot keeps no per-chat dialogue state, and aiogram's FSM middleware would
    # look a state up for every update.
    dispatcher = Dispatcher(
        disable_fsm=True, db=db, settings=settings, identity=identity, relay=relay
    )
    dispatcher.include_router(setup_routers(settings))
    alert = ParkedAlert(bot, settings.OPERATOR_CHAT_ID)
    engine = DeliveryEngine(
        db=db,
        bot=bot,
        dispatcher=dispatcher,
        max_attempts=settings.MAX_ATTEMPTS,
        concurrency=settings.CONCURRENCY,
        on_parked=alert,
        on_blocked=alert.tell,
        metrics=metrics,
    )
    # The commands need the engine (/retry), which needs the Dispatcher: added to it last.
    commands = OperatorCommands(
        bot=bot, db=db, settings=settings, relay=relay, retry_failed=engine.retry_failed
    )
    dispatcher["commands"] = commands
    dispatcher["rights"] = BotRights(
        bot=bot,
        group_id=settings.OPERATOR_CHAT_ID,
        me=identity.me.id,
        lift=engine.lift,
    )
    desk = DeskScheduler(
        db=db,
        relay=relay,
        group_id=settings.OPERATOR_CHAT_ID,
        room=functools.partial(flood.wait_for_room, posts=True),
        board=(
            Board(
                bot=bot,
                db=db,
                group_id=settings.OPERATOR_CHAT_ID,
                room=functools.partial(flood.wait_for_room, posts=False),
                clock=functools.partial(datetime.now, UTC),
            )
            if settings.BOARD
            else None
        ),
        board_interval=settings.BOARD_INTERVAL,
        icons=(
            TopicIcons(
                bot=bot,
                db=db,
                group_id=settings.OPERATOR_CHAT_ID,
                icons=icons,
                room=functools.partial(flood.wait_for_room, posts=True),
            )
            if icons is not None
            else None
        ),
    )
    await commands.register_menu()
    metrics.watch(engine=engine.stats, flood=flood.stats)
    intake: Intake
    if settings.WEBHOOK_URL:
        intake = WebhookIntake(
            bot=bot,
            engine=engine,
            url=settings.WEBHOOK_URL,
            secret=settings.WEBHOOK_SECRET.get_secret_value(),
            allowed_updates=ALLOWED_UPDATES,
        )
    else:
        intake = Poller(bot=bot, engine=engine, allowed_updates=ALLOWED_UPDATES)

    loop = asyncio.get_running_loop()
    signals: tuple[signal.Signals, ...] = ()
    if stop is None:
        stop = asyncio.Event()
        signals = (signal.SIGTERM, signal.SIGINT)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)

    health = HealthCheck(db=db, engine=engine, intake=intake, flood=flood)
    try:
        runner = await start_http_server(
            build_http_app(
                health=health,
                intake=intake,
                webhook_path=settings.webhook_path,
                metrics=MetricsPage(db=db, metrics=metrics),
            ),
            settings.HTTP_HOST,
            settings.HTTP_PORT,
        )
    except OSError as error:
        return _fail(f"HTTP_HOST/HTTP_PORT {settings.HTTP_HOST}:{settings.HTTP_PORT}: {error}")

    status = EXIT_OK
    try:
        await dispatcher.emit_startup(bot=bot, **dispatcher.workflow_data)
        # What a previous run left in the inbox goes first, ahead of anything new.
        await engine.resume()
        await relay.states.reschedule()
        desk.start()
        await intake.prepare()
        logger.info("Bot @%s is running (%s)", identity.me.username, intake.mode)
        await intake.run(stop)
    except TelegramAPIError as error:
        logger.critical("Stopping: %s", error)
        status = EXIT_FAILURE
    finally:
        logger.info("Shutting down")
        await runner.cleanup()
        # Side by side: the desk's work is redone from stored state, and must not make the
        # customers' handlers lose their time to finish.
        await asyncio.gather(
            desk.stop(settings.SHUTDOWN_TIMEOUT), engine.stop(settings.SHUTDOWN_TIMEOUT)
        )
        await dispatcher.emit_shutdown(bot=bot, **dispatcher.workflow_data)
        for signum in signals:
            loop.remove_signal_handler(signum)
    logger.info("Stopped")
    return status
