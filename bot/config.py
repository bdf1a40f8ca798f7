"""Configuration: environment variables and a `.env` file in the working directory.

The variable names are part of the product's interface (deployments, docker-compose files and
other tools set them), so they are spelled out here exactly as operators write them.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.hours import WorkingHours, WorkingHoursError

# A token from @BotFather: the bot's numeric id, a colon, and a 35-character secret.
# The secret part is matched loosely (at least 30 URL-safe characters) so that a future change
# in its length does not lock anybody out, while typos like a missing id or a pasted URL fail.
_TOKEN_RE = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{30,}$")
# Telegram accepts 1-256 characters A-Z, a-z, 0-9, _ and - as a webhook secret token.
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
_LOG_FORMATS = ("text", "json")
# Telegram's limit for a message text.
_TEXT_LIMIT = 4096


class Settings(BaseSettings):
    """Everything the bot reads from its environment. Created once, in `main()`."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        case_sensitive=True,
        extra="ignore",
        hide_input_in_errors=True,
    )

    BOT_TOKEN: SecretStr
    OPERATOR_CHAT_ID: int
    DATABASE_PATH: Path = Path("support_bot.sqlite3")
    TELEGRAM_API_URL: str = "https://api.telegram.org"
    HTTP_HOST: str = "127.0.0.1"
    HTTP_PORT: Annotated[int, Field(ge=1, le=65535)] = 8080
    WEBHOOK_URL: str = ""
    WEBHOOK_SECRET: SecretStr = SecretStr("")
    LOG_LEVEL: str = "INFO"
    LOG_FORMAT: str = "text"

    # Delivery engine.
    MAX_ATTEMPTS: Annotated[int, Field(ge=1, le=1000)] = 8
    GLOBAL_RATE_LIMIT: Annotated[float, Field(gt=0, le=1000)] = 30.0
    CONCURRENCY: Annotated[int, Field(ge=1, le=1000)] = 16
    SHUTDOWN_TIMEOUT: Annotated[float, Field(ge=0, le=600)] = 10.0

    # Texts sent to users (HTML; "\n" in the value is a line break). Unset: the built-in text in
    # the user's language (English or Russian); set: this text for everyone; empty: not sent.
    WELCOME_TEXT: str | None = None
    CLOSED_TEXT: str | None = None
    BANNED_TEXT: str | None = None
    OFFLINE_TEXT: str | None = None

    # Operators' tools.
    NOTE_PREFIX: Annotated[str, Field(max_length=32)] = "//"
    WORKING_HOURS: str = ""
    TIMEZONE: str = "UTC"

    # The desk: the board in General, topic icons, reminders, closing by itself.
    BOARD: bool = True
    BOARD_INTERVAL: Annotated[float, Field(ge=1, le=3600)] = 30.0
    TOPIC_ICONS: bool = False
    TOPIC_ICON_WAITING: str = "\u2757\ufe0f"  # ❗️
    TOPIC_ICON_ANSWERED: str = "💬"
    TOPIC_ICON_CLOSED: str = "\u2705"  # ✅
    REMIND_AFTER: timedelta | None = None
    AUTO_CLOSE_AFTER: timedelta | None = None

    @field_validator("BOT_TOKEN")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        if not _TOKEN_RE.fullmatch(value.get_secret_value().strip()):
            raise ValueError(
                "does not look like a bot token from @BotFather (expected '<digits>:<secret>')"
            )
        return SecretStr(value.get_secret_value().strip())

    @field_validator("OPERATOR_CHAT_ID")
    @classmethod
    def _supergroup_id(cls, value: int) -> int:
        # Supergroup ids are negative and start with -100 in the Bot API.
        if value >= 0:
            raise ValueError(
                "must be the negative id of a supergroup, like -1001234567890 "
                "(a positive id is a user, not a group)"
            )
        return value

    @field_validator("TELEGRAM_API_URL")
    @classmethod
    def _api_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL, like https://api.telegram.org")
        return value

    @field_validator("WEBHOOK_URL")
    @classmethod
    def _webhook_url(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                "must be empty (long polling) or a full URL, like https://bot.example.com/webhook"
            )
        return value

    @field_validator("WEBHOOK_SECRET")
    @classmethod
    def _webhook_secret(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value().strip()
        if secret and not _SECRET_RE.fullmatch(secret):
            raise ValueError("may hold only A-Z, a-z, 0-9, _ and -, at most 256 characters")
        return SecretStr(secret)

    @field_validator("LOG_LEVEL")
    @classmethod
    def _log_level(cls, value: str) -> str:
        return _one_of(value.strip().upper(), _LOG_LEVELS)

    @field_validator("LOG_FORMAT")
    @classmethod
    def _log_format(cls, value: str) -> str:
        return _one_of(value.strip().lower(), _LOG_FORMATS)

    @field_validator("WELCOME_TEXT", "CLOSED_TEXT", "BANNED_TEXT", "OFFLINE_TEXT")
    @classmethod
    def _user_text(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        # Environment variables cannot easily hold a line break; "\n" stands for one.
        value = value.replace("\\n", "\n").strip()
        if not value and info.field_name == "WELCOME_TEXT":
            raise ValueError("must not be empty (it answers /start)")
        if len(value) > _TEXT_LIMIT:
            raise ValueError(f"must be at most {_TEXT_LIMIT} characters (Telegram's limit)")
        return value

    @field_validator("NOTE_PREFIX")
    @classmethod
    def _note_prefix(cls, value: str) -> str:
        return value.strip()

    @field_validator("BOARD", "TOPIC_ICONS", mode="before")
    @classmethod
    def _switch(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() not in _SWITCHES:
            raise ValueError("must be on or off")
        return (
            value.strip().lower() in ("on", "true", "yes", "1") if isinstance(value, str) else value
        )

    @field_validator("TOPIC_ICON_WAITING", "TOPIC_ICON_ANSWERED", "TOPIC_ICON_CLOSED")
    @classmethod
    def _icon(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must be an emoji of Telegram's topic icons, like 💬")
        return value

    @field_validator("REMIND_AFTER", "AUTO_CLOSE_AFTER", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_duration(value)
        return value

    @field_validator("TIMEZONE")
    @classmethod
    def _timezone(cls, value: str) -> str:
        value = value.strip()
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" is a folder
            raise ValueError(
                f"{value!r} is not a time zone name like UTC, Europe/Berlin or America/New_York"
            ) from None
        return value

    @model_validator(mode="after")
    def _working_hours(self) -> Settings:
        try:
            self.working_hours()
        except WorkingHoursError as error:
            raise ValueError(f"WORKING_HOURS: {error}") from None
        return self

    @model_validator(mode="after")
    def _reminder_fits_the_hours(self) -> Settings:
        hours = self.working_hours()
        if hours is not None and self.REMIND_AFTER is not None:
            try:
                hours.after_open_time(datetime.now(UTC), self.REMIND_AFTER)
            except ValueError:
                raise ValueError(
                    f"REMIND_AFTER is more open time than WORKING_HOURS ({hours.text}) have in "
                    "a year: shorten it, or widen the hours"
                ) from None
        return self

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        # Without a secret anybody who learns the URL could post fake customer messages.
        if self.WEBHOOK_URL and not self.WEBHOOK_SECRET.get_secret_value():
            raise ValueError(
                "WEBHOOK_SECRET must be set when WEBHOOK_URL is set "
                "(any 1-256 characters of A-Z, a-z, 0-9, _ and -)"
            )
        return self

    @property
    def webhook_path(self) -> str:
        """The path part of WEBHOOK_URL: where the bot's HTTP server takes webhook calls."""
        return urlsplit(self.WEBHOOK_URL).path or "/"

    def working_hours(self) -> WorkingHours | None:
        """The parsed WORKING_HOURS in TIMEZONE; None when the desk is always open."""
        return WorkingHours.parse(self.WORKING_HOURS, ZoneInfo(self.TIMEZONE))

    @property
    def log_level(self) -> int:
        return logging.getLevelNamesMapping()[self.LOG_LEVEL]


_SWITCHES = ("on", "off", "true", "false", "yes", "no", "1", "0")
_DURATION_RE = re.compile(r"(\d+)\s*([smhd])")
_DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_LONGEST_DURATION = timedelta(days=365)


def parse_duration(text: str) -> timedelta | None:
    """`90s`, `15m`, `2h`, `3d` (or several: `1h30m`) as a timedelta; empty: None."""
    text = text.strip().lower()
    if not text:
        return None
    parts = _DURATION_RE.findall(text)
    if not parts or "".join(_DURATION_RE.sub("", text).split()):
        raise ValueError(f"{text!r} is not a duration like 90s, 15m, 2h or 3d (empty: off)")
    try:
        duration = sum(
            (timedelta(**{_DURATION_UNITS[unit]: int(number)}) for number, unit in parts),
            timedelta(),
        )
    except OverflowError:
        duration = _LONGEST_DURATION * 2
    if duration <= timedelta(0):
        raise ValueError("must be longer than 0 (empty: off)")
    if duration > _LONGEST_DURATION:
        raise ValueError("must be at most 365d")
    return duration


def _one_of(value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"must be one of {', '.join(choices)}")
    return value


def describe_validation_error(error: ValidationError) -> str:
    """One line naming each bad variable and what is wrong with it, for a person to fix."""
    problems = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"])
        kind = item["type"]
        if kind == "missing":
            message = "is required but not set (set it in the environment or in .env)"
        elif kind == "int_parsing":
            message = "must be a whole number"
        elif kind == "float_parsing":
            message = "must be a number"
        else:
            message = str(item["msg"]).removeprefix("Value error, ")
        if not item["loc"]:  # a rule across several variables names them itself
            problems.append(message)
        else:
            problems.append(f"{name} {message[:1].lower()}{message[1:]}")
    return "configuration error: " + "; ".join(problems)
