"""Logs: LOG_FORMAT=json lines with the update, user and topic; never the token or contents
above DEBUG."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot import logs
from bot.config import Settings, describe_validation_error
from tests.conftest import BOT_TOKEN, OPERATOR_CHAT_ID
from tests.fake_telegram import FakeTelegram, Group
from tests.harness import BotProcess


def json_lines(log: str) -> list[dict[str, Any]]:
    """Every line the bot wrote, each parsed as JSON (the harness's start markers left out)."""
    return [
        json.loads(line)
        for line in log.splitlines()
        if line.strip() and not line.startswith("===== start")
    ]


async def test_json_logs_carry_the_update_user_and_topic_and_never_the_token(
    fake: FakeTelegram, group: Group, bot_env: dict[str, str], tmp_path: Path
) -> None:
    alice = fake.add_user("Alice")
    secret_text = "my card number is 4111 1111"
    bot = BotProcess(tmp_path, {**bot_env, "LOG_FORMAT": "json", "LOG_LEVEL": "DEBUG"})
    try:
        await bot.start_and_wait_healthy()
        await fake.user_sends(alice, secret_text)
        await fake.wait_for(lambda: fake.topics(group), timeout=10, what="Alice's topic")
        topic_id = fake.topics(group)[0].thread_id
        await fake.wait_for(
            lambda: any(m.get("text") == secret_text for m in fake.topic_messages(group, topic_id)),
            timeout=10,
            what="the copy in the topic",
        )
        assert await bot.terminate() == 0
    finally:
        await bot.close()

    log = bot.log
    entries = json_lines(log)  # fails on the first line that is not JSON
    assert entries
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= entry.keys()
        when = dt.datetime.fromisoformat(entry["time"])
        assert when.utcoffset() == dt.timedelta(0)
    relayed = [e for e in entries if e["message"].startswith("Relayed text message")]
    assert len(relayed) == 1
    line = relayed[0]
    assert line["level"] == "INFO"
    assert line["logger"] == "bot.relay.copier"
    assert line["user_id"] == alice.id
    assert line["topic_id"] == topic_id
    # The update id is the one Telegram gave the message.
    delivered = [
        update["update_id"]
        for call in fake.calls_of("getUpdates")
        if call.ok
        for update in call.result
        if update.get("message", {}).get("text") == secret_text
    ]
    assert line["update_id"] == delivered[0]
    # Lines about no update carry no ids.
    started = next(e for e in entries if e["message"].startswith("Bot @"))
    assert "update_id" not in started
    # Secrets and contents.
    assert BOT_TOKEN not in log
    assert BOT_TOKEN.split(":", 1)[1] not in log
    above_debug = [e for e in entries if e["level"] != "DEBUG"]
    assert not [e for e in above_debug if "4111" in json.dumps(e)]


def test_json_lines_format_exceptions_and_context() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter(secrets=[BOT_TOKEN]))
    logger = logging.getLogger("tests.logs.json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with logs.update_context(41):
            logs.bind(user_id=7, topic_id=9)
            try:
                raise RuntimeError(f"cannot reach https://api.telegram.org/bot{BOT_TOKEN}/getMe")
            except RuntimeError:
                logger.exception("Call failed for %s", "getMe")
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "Call failed for getMe"
    assert first["level"] == "ERROR"
    assert (first["update_id"], first["user_id"], first["topic_id"]) == (41, 7, 9)
    assert first["exception"].startswith("Traceback (most recent call last):")
    assert (
        "RuntimeError: cannot reach https://api.telegram.org/bot[secret]/getMe"
        in (first["exception"])
    )
    assert BOT_TOKEN not in stream.getvalue()
    assert second["message"] == "outside"
    assert not {"update_id", "user_id", "topic_id", "exception"} & second.keys()


def test_text_lines_hide_the_token_too() -> None:
    record = logging.LogRecord(
        "aiohttp.client", logging.ERROR, __file__, 1, "GET %s failed", (f"/bot{BOT_TOKEN}/x",), None
    )
    line = logs.TextFormatter([BOT_TOKEN], logs.TEXT_FORMAT).format(record)
    assert line.endswith("ERROR aiohttp.client: GET /bot[secret]/x failed")


def test_log_format_is_text_or_json() -> None:
    def make(**env: str) -> Settings:
        return Settings(
            _env_file=None,  # type: ignore[call-arg]
            BOT_TOKEN=BOT_TOKEN,  # type: ignore[arg-type]
            OPERATOR_CHAT_ID=OPERATOR_CHAT_ID,
            **env,  # type: ignore[arg-type]
        )

    assert make().LOG_FORMAT == "text"
    assert make(LOG_FORMAT=" JSON ").LOG_FORMAT == "json"
    with pytest.raises(ValidationError) as caught:
        make(LOG_FORMAT="xml")
    assert describe_validation_error(caught.value) == (
        "configuration error: LOG_FORMAT must be one of text, json"
    )


@pytest.mark.parametrize(
    ("level", "aiogram_event_level"),
    [
        (logging.DEBUG, logging.DEBUG),
        (logging.INFO, logging.WARNING),
        (logging.ERROR, logging.ERROR),
    ],
)
def test_aiograms_line_per_update_shows_only_when_debugging(
    level: int, aiogram_event_level: int
) -> None:
    """The relay logs one line per message; aiogram's own "Update id=... is handled" would be a
    second one (and costs at a few hundred messages a second)."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("aiogram.event").level)
    try:
        logs.configure_logging(level=level, log_format="text", stream=io.StringIO())
        assert logging.getLogger("aiogram.event").level == aiogram_event_level
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("aiogram.event").setLevel(saved[2])
