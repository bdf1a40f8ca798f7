"""A customer's words never reach the log through a warning: an update of a type the bot's
aiogram does not know is one WARNING line with its id and type, and Python's warnings are log
lines like the others (one line, the format, the redaction; the rest only at DEBUG)."""

from __future__ import annotations

import io
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import pytest

from bot import logs
from tests.conftest import BOT_TOKEN
from tests.fake_telegram import FakeTelegram, Group
from tests.harness import BotProcess, settled_health

SECRET_WORDS = "my secret words"


def json_lines(output: str) -> list[dict[str, Any]]:
    """Every line the bot wrote, each parsed as JSON (the harness's start markers left out)."""
    return [
        json.loads(line)
        for line in output.splitlines()
        if line.strip() and not line.startswith("===== start")
    ]


async def test_an_update_of_an_unknown_type_is_one_warning_line_without_the_customers_words(
    fake: FakeTelegram, group: Group, bot_env: dict[str, str], tmp_path: Path
) -> None:
    alice = fake.add_user("Alice")
    bot = BotProcess(tmp_path, {**bot_env, "LOG_FORMAT": "json", "LOG_LEVEL": "INFO"})
    try:
        await bot.start_and_wait_healthy()
        unknown = fake.push_raw_update(
            "future_thing", {"from": alice.to_api(), "date": 1767225600, "text": SECRET_WORDS}
        )
        await fake.user_sends_command(alice, "/start")
        await fake.wait_for(lambda: fake.messages_from_bot(alice), timeout=10, what="the welcome")
        health = await settled_health(
            bot, lambda body: body["handled"] == 2 and body["inbox"]["pending"] == 0, timeout=10
        )
        assert await bot.terminate() == 0
    finally:
        await bot.close()

    output = bot.log  # the bot's stdout and stderr
    assert SECRET_WORDS not in output
    entries = json_lines(output)  # fails on the first line that is not a JSON object
    assert all(isinstance(entry, dict) for entry in entries)
    about_it = [entry for entry in entries if "future_thing" in json.dumps(entry)]
    assert len(about_it) == 1, about_it
    [line] = about_it
    assert line["level"] == "WARNING"
    assert str(unknown["update_id"]) in line["message"]
    assert "upgrade the bot" in line["message"]
    assert line["update_id"] == unknown["update_id"]
    # Done with, not parked or retried: nothing is left for a person or for the next start.
    assert (health["handled"], health["parked"], health["inbox"]["failed"]) == (2, 0, 0)


@pytest.mark.parametrize(
    ("level", "lines"), [(logging.INFO, 1), (logging.DEBUG, 2)], ids=["INFO", "DEBUG"]
)
def test_a_python_warning_is_one_json_line_and_its_rest_only_at_debug(
    level: int, lines: int
) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("aiogram.event").level)
    pytests_capture = warnings.showwarning
    try:
        # The test suite turns warnings into errors; the bot's process shows them.
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            logs.configure_logging(
                level=level, log_format="json", secrets=[BOT_TOKEN], stream=stream
            )
            warnings.warn(
                f"Something is odd with bot{BOT_TOKEN}\nUpdate: {{'text': '{SECRET_WORDS}'}}",
                RuntimeWarning,
                stacklevel=1,
            )
        # Outside the bot's logging set-up, pytest's own capture is in charge again.
        assert warnings.showwarning is pytests_capture
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("aiogram.event").setLevel(saved[2])

    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(entries) == lines
    first = entries[0]
    assert first["level"] == "WARNING"
    assert first["logger"] == "py.warnings"
    assert first["message"].startswith("RuntimeWarning: Something is odd with bot[secret] (")
    assert f"{Path(__file__).name}:" in first["message"]
    assert SECRET_WORDS not in json.dumps(first)
    assert BOT_TOKEN not in stream.getvalue()
    if level == logging.DEBUG:
        assert entries[1]["level"] == "DEBUG"
        assert SECRET_WORDS in entries[1]["message"]
