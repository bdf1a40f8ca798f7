"""`python -m bot`: the command line and the composition root, `main()`.

Settings are validated before aiogram is imported (importing it takes seconds on a small
machine), so a mistake in the configuration is reported at once, in one line.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from pydantic import ValidationError

from bot.config import Settings, describe_validation_error

EXIT_OK = 0
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
    _configure_logging(settings)

    from bot.app import run  # deferred: see the module docstring

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
    return parser.parse_args(argv)


def _version() -> str:
    try:
        return version("telegram-support-bot")
    except PackageNotFoundError:
        return "unknown"


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
