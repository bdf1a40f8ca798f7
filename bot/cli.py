"""`python -m bot`: the command line and the composition root, `main()`.

Settings are validated before aiogram is imported (importing it takes seconds on a small
machine), so a mistake in the configuration is reported at once, in one line.
`python -m bot backup PATH` never imports aiogram at all (see `bot.backup`).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from pydantic import ValidationError

from bot.backup import BackupError, backup_database
from bot.config import Settings, describe_validation_error
from bot.logs import configure_logging

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.version:
        print(f"telegram-support-bot {_version()}")
        return EXIT_OK
    try:
        settings = Settings()
    except ValidationError as error:
        print(describe_validation_error(error), file=sys.stderr)
        return EXIT_CONFIG
    except (OSError, UnicodeDecodeError) as error:  # the .env file: unreadable, or not UTF-8
        print(f"error: cannot read the .env file: {error}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "backup":
        return _backup(settings, args.path, overwrite=args.force)
    configure_logging(
        level=settings.log_level,
        log_format=settings.LOG_FORMAT,
        secrets=(
            settings.BOT_TOKEN.get_secret_value(),
            settings.WEBHOOK_SECRET.get_secret_value(),
        ),
    )

    from bot.app import run  # deferred: see the module docstring

    # aiogram leaves ~190 000 long-lived objects (its pydantic models); moved out of the garbage
    # collector's generations, a full collection no longer walks them (a ~150 ms pause).
    gc.freeze()

    try:
        return asyncio.run(run(settings, check_only=args.check))
    except KeyboardInterrupt:  # a second Ctrl+C while shutting down
        return EXIT_OK


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Telegram support bot: one forum topic per customer. "
        "Configured by environment variables (see config.example.env).",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="check the configuration, the database and Telegram (token, operator group, "
        "rights), then exit: 0 when all pass",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    backup = commands.add_parser(
        "backup",
        help="copy the database (DATABASE_PATH) to PATH; safe while the bot runs",
        description="Copy the database (DATABASE_PATH) to PATH with SQLite's online backup: "
        "a consistent copy, safe to take while the bot runs.",
    )
    backup.add_argument("path", metavar="PATH", type=Path, help="the file to write")
    backup.add_argument("--force", action="store_true", help="replace PATH if it exists")
    return parser.parse_args(argv)


def _backup(settings: Settings, path: Path, *, overwrite: bool) -> int:
    try:
        result = backup_database(settings.DATABASE_PATH, path, overwrite=overwrite)
    except BackupError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except OSError as error:
        print(f"error: backup to {path} failed: {error}", file=sys.stderr)
        return EXIT_FAILURE
    print(
        f"ok: backed up {settings.DATABASE_PATH} to {result.path} "
        f"({result.size} bytes, schema version {result.schema_version})"
    )
    return EXIT_OK


def _version() -> str:
    try:
        return version("telegram-support-bot")
    except PackageNotFoundError:
        return "unknown"
