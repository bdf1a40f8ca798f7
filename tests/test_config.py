"""Configuration: defaults, validation, and the one-line errors a person deploying will read."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config import Settings, describe_validation_error, parse_duration

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.isupper() and name in Settings.model_fields:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's checkout


def settings(**env: str) -> Settings:
    return Settings(_env_file=None, **env)  # type: ignore[arg-type]


def error_line(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    return describe_validation_error(caught.value)


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("OPERATOR_CHAT_ID", "-1001234567890")
    config = Settings()
    assert config.OPERATOR_CHAT_ID == -1001234567890
    assert str(config.DATABASE_PATH) == "support_bot.sqlite3"
    assert config.TELEGRAM_API_URL == "https://api.telegram.org"
    assert (config.HTTP_HOST, config.HTTP_PORT) == ("127.0.0.1", 8080)
    assert config.WEBHOOK_URL == ""
    assert config.LOG_LEVEL == "INFO"
    assert config.BOT_TOKEN.get_secret_value() == TOKEN
    assert (config.NOTE_PREFIX, config.WORKING_HOURS, config.TIMEZONE) == ("//", "", "UTC")
    assert config.working_hours() is None
    texts = (config.WELCOME_TEXT, config.CLOSED_TEXT, config.BANNED_TEXT, config.OFFLINE_TEXT)
    assert texts == (None, None, None, None)  # the built-in texts, in the user's language
    desk = (config.BOARD, config.BOARD_INTERVAL, config.TOPIC_ICONS)
    assert desk == (True, 30.0, False)
    assert (config.REMIND_AFTER, config.AUTO_CLOSE_AFTER) == (None, None)


@pytest.mark.parametrize(
    ("text", "duration"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("3d", timedelta(days=3)),
        (" 2H ", timedelta(hours=2)),
        ("", None),
    ],
)
def test_durations(text: str, duration: timedelta | None) -> None:
    assert parse_duration(text) == duration


def test_reads_dotenv_file_and_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(
        f"BOT_TOKEN={TOKEN}\nOPERATOR_CHAT_ID=-1001\nLOG_LEVEL=debug\n", encoding="utf-8"
    )
    monkeypatch.setenv("OPERATOR_CHAT_ID", "-1002")
    config = Settings()
    assert config.OPERATOR_CHAT_ID == -1002
    assert config.LOG_LEVEL == "DEBUG"


def test_token_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("OPERATOR_CHAT_ID", "-1001")
    config = Settings()
    assert TOKEN not in repr(config)
    assert TOKEN not in str(config.model_dump())


def test_missing_variables_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    line = error_line(monkeypatch)
    assert line.startswith("configuration error: ")
    assert "BOT_TOKEN is required but not set" in line
    assert "OPERATOR_CHAT_ID is required but not set" in line
    assert "\n" not in line


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"BOT_TOKEN": "not-a-token"}, "BOT_TOKEN does not look like a bot token"),
        ({"BOT_TOKEN": "123:short"}, "BOT_TOKEN does not look like a bot token"),
        ({"OPERATOR_CHAT_ID": "support"}, "OPERATOR_CHAT_ID must be a whole number"),
        ({"OPERATOR_CHAT_ID": "12345"}, "OPERATOR_CHAT_ID must be the negative id of a supergroup"),
        ({"HTTP_PORT": "70000"}, "HTTP_PORT input should be less than or equal to 65535"),
        ({"HTTP_PORT": "0"}, "HTTP_PORT input should be greater than or equal to 1"),
        ({"HTTP_PORT": "http"}, "HTTP_PORT must be a whole number"),
        ({"TELEGRAM_API_URL": "api.telegram.org"}, "TELEGRAM_API_URL must be an http"),
        ({"WEBHOOK_URL": "bot.example.com"}, "WEBHOOK_URL must be empty (long polling) or"),
        ({"WEBHOOK_URL": "https://bot.example.com/hook"}, "WEBHOOK_SECRET must be set when"),
        (
            {"WEBHOOK_URL": "https://bot.example.com/hook", "WEBHOOK_SECRET": "no spaces"},
            "WEBHOOK_SECRET may hold only",
        ),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL must be one of"),
        ({"MAX_ATTEMPTS": "0"}, "MAX_ATTEMPTS input should be greater than or equal to 1"),
        ({"TIMEZONE": "Europe/Atlantis"}, "TIMEZONE 'Europe/Atlantis' is not a time zone name"),
        ({"TIMEZONE": "../etc/passwd"}, "TIMEZONE '../etc/passwd' is not a time zone name"),
        ({"TIMEZONE": "Europe"}, "TIMEZONE 'Europe' is not a time zone name"),  # a folder
        ({"WORKING_HOURS": "9-18"}, "WORKING_HOURS: '9-18' is not 'Day HH:MM-HH:MM'"),
        ({"WORKING_HOURS": "Mon-Fry 09:00-18:00"}, "WORKING_HOURS: 'fry' in"),
        ({"NOTE_PREFIX": "#" * 33}, "NOTE_PREFIX string should have at most 32 characters"),
        ({"BOARD": "maybe"}, "BOARD must be on or off"),
        ({"BOARD_INTERVAL": "0.5"}, "BOARD_INTERVAL input should be greater than or equal to 1"),
        ({"REMIND_AFTER": "soon"}, "REMIND_AFTER 'soon' is not a duration like 90s, 15m"),
        ({"REMIND_AFTER": "15 minutes"}, "REMIND_AFTER '15 minutes' is not a duration"),
        ({"AUTO_CLOSE_AFTER": "0d"}, "AUTO_CLOSE_AFTER must be longer than 0"),
        ({"AUTO_CLOSE_AFTER": "999999999999d"}, "AUTO_CLOSE_AFTER must be at most 365d"),
        (
            {"REMIND_AFTER": "3d", "WORKING_HOURS": "Mon 09:00-10:00"},
            "REMIND_AFTER is more open time than WORKING_HOURS (Mon 09:00-10:00) have in a year",
        ),
        ({"TOPIC_ICON_CLOSED": " "}, "TOPIC_ICON_CLOSED must be an emoji of Telegram's topic"),
    ],
)
def test_invalid_values_are_explained(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    base = {"BOT_TOKEN": TOKEN, "OPERATOR_CHAT_ID": "-1001234567890"}
    line = error_line(monkeypatch, **{**base, **env})
    assert expected in line
    assert line.count("\n") == 0


def test_webhook_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("OPERATOR_CHAT_ID", "-1001")
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example.com/tg/hook")
    monkeypatch.setenv("WEBHOOK_SECRET", "s3cret_-")
    config = Settings()
    assert config.webhook_path == "/tg/hook"
    assert config.WEBHOOK_SECRET.get_secret_value() == "s3cret_-"


def run_bot(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in Settings.model_fields}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "BOT_TOKEN is required but not set"),
        ({"BOT_TOKEN": "oops", "OPERATOR_CHAT_ID": "-1001"}, "BOT_TOKEN does not look like"),
        ({"BOT_TOKEN": TOKEN, "OPERATOR_CHAT_ID": "abc"}, "OPERATOR_CHAT_ID must be a whole"),
        (
            {"BOT_TOKEN": TOKEN, "OPERATOR_CHAT_ID": "-1001", "HTTP_PORT": "99999"},
            "HTTP_PORT input should be less than or equal to 65535",
        ),
        (
            {"BOT_TOKEN": TOKEN, "OPERATOR_CHAT_ID": "-1001", "WORKING_HOURS": "weekdays"},
            "WORKING_HOURS: 'weekdays' is not",
        ),
    ],
)
def test_python_m_bot_exits_2_with_one_line(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    result = run_bot(env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


def test_a_dotenv_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"BOT_TOKEN=" + TOKEN.encode() + b"\nNAME=\xff\xfe\n")
    result = run_bot(env={}, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: cannot read the .env file: ")


def test_python_m_bot_version(tmp_path: Path) -> None:
    result = run_bot("--version", env={}, cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("telegram-support-bot ")
