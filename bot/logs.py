"""Logging: set up once in `main()`, as text for people or as JSON lines for log collectors.

`LOG_FORMAT=json` writes one JSON object per line: `time` (ISO 8601, UTC), `level`, `logger`,
`message`, the `update_id` / `user_id` / `topic_id` the line is about when they are known, and
`exception` with the traceback when there is one.

The ids come from context variables: the delivery engine opens an `update_context` around the
handling of each update, and the relay `bind`s the user and topic once it knows them. Whatever
runs inside (aiogram, flood control, storage) logs with them too.

Every line, in both formats, passes through `_redact`: the bot token (and the webhook secret)
never reach the log, whatever a library puts in an error message. Python's warnings are log
lines too (see `log_warning`). This module must not import aiogram (see `bot.cli`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TextIO

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

update_id_var: ContextVar[int | None] = ContextVar("update_id", default=None)
user_id_var: ContextVar[int | None] = ContextVar("user_id", default=None)
topic_id_var: ContextVar[int | None] = ContextVar("topic_id", default=None)
_CONTEXT = (("update_id", update_id_var), ("user_id", user_id_var), ("topic_id", topic_id_var))

# The name `logging.captureWarnings` uses, so the lines read as they would with it.
warnings_logger = logging.getLogger("py.warnings")


@contextmanager
def update_context(update_id: int) -> Iterator[None]:
    """Log lines inside the block carry `update_id`; user and topic start unknown."""
    tokens = [
        (update_id_var, update_id_var.set(update_id)),
        (user_id_var, user_id_var.set(None)),
        (topic_id_var, topic_id_var.set(None)),
    ]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def bind(*, user_id: int | None = None, topic_id: int | None = None) -> None:
    """Add the user and / or topic to the log lines of the update being handled."""
    if user_id is not None:
        user_id_var.set(user_id)
    if topic_id is not None:
        topic_id_var.set(topic_id)


def context_fields() -> dict[str, int]:
    """The ids known in the running code's context."""
    fields: dict[str, int] = {}
    for name, var in _CONTEXT:
        value = var.get()
        if value is not None:
            fields[name] = value
    return fields


class _Redacting(logging.Formatter):
    """A formatter that replaces secrets in the finished line."""

    def __init__(self, secrets: Iterable[str], fmt: str | None = None) -> None:
        super().__init__(fmt)
        self._secrets = [s for s in secrets if s]

    def _redact(self, line: str) -> str:
        for secret in self._secrets:
            line = line.replace(secret, "[secret]")
        return line


class TextFormatter(_Redacting):
    def format(self, record: logging.LogRecord) -> str:
        return self._redact(super().format(record))


class JsonFormatter(_Redacting):
    """One JSON object per line; see the module docstring for the fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **context_fields(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return self._redact(json.dumps(entry, ensure_ascii=False, default=str))


def configure_logging(
    *, level: int, log_format: str, secrets: Iterable[str] = (), stream: TextIO | None = None
) -> None:
    """Send every logger's records at `level` and above to `stream` (stderr), in `log_format`."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    formatter: logging.Formatter
    if log_format == "json":
        formatter = JsonFormatter(secrets)
    else:
        formatter = TextFormatter(secrets, TEXT_FORMAT)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Installed here, with the handler: in the bot's process, never at import (the tests'
    # process keeps its own warning capture).
    warnings.showwarning = log_warning
    # aiogram logs "Update id=... is handled" for every update at INFO; the relay's own line
    # says more, and at a few hundred messages a second the second line costs (bench/).
    logging.getLogger("aiogram.event").setLevel(
        level if level <= logging.DEBUG else max(level, logging.WARNING)
    )


def log_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """`warnings.showwarning` for the bot: a warning is a log line like any other.

    Python would print it to stderr as it is: several lines, not JSON under `LOG_FORMAT=json`,
    not redacted, and with whatever the library put in it (aiogram quotes a whole update, a
    customer's words included, after its first line). So the category and the first line go
    out at WARNING, through the handler and its formatter; the rest only at DEBUG. `file`
    and `line` are not used: the log is where every warning goes, and the source line adds
    nothing to the file and line number.
    """
    first, _, rest = str(message).partition("\n")
    warnings_logger.warning("%s: %s (%s:%d)", category.__name__, first, filename, lineno)
    if rest:
        warnings_logger.debug(
            "%s (%s:%d), continued: %s", category.__name__, filename, lineno, rest
        )
