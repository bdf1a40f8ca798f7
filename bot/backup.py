"""`python -m bot backup PATH`: a consistent copy of the database, taken while the bot runs.

SQLite's online backup API (`sqlite3.Connection.backup`) copies the database as of one moment:
with every page copied in one step, the copy is made inside one read transaction, so it holds
exactly the transactions committed before it started, whatever the bot writes meanwhile (in WAL
mode readers do not block the writer, and the writer does not block them).

The copy is written next to PATH under a temporary name, checked (`PRAGMA integrity_check`), and
only then renamed to PATH: a failed or interrupted backup never leaves a half-written file under
the name a restore would use. This module uses only the standard library: it runs without
importing aiogram (see `bot.cli`).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path


class BackupError(Exception):
    """A backup that could not be made; the message is one line for a person."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    schema_version: int


def backup_database(source: Path, target: Path, *, overwrite: bool = False) -> BackupResult:
    """Copy the database at `source` to `target`; refuse to replace `target` unless told to."""
    if not source.is_file():
        raise BackupError(f"DATABASE_PATH {source}: no such database file")
    if target.exists() and not overwrite:
        raise BackupError(f"{target} already exists (use --force to replace it)")
    if target.exists() and not target.is_file():
        raise BackupError(f"{target} is not a file")
    if source.resolve() == target.resolve():
        raise BackupError(f"{target} is the database itself")
    directory = target.parent
    if not directory.is_dir():
        raise BackupError(f"{directory} is not a directory")
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as error:
        raise BackupError(f"cannot write in {directory}: {error.strerror or error}") from None
    os.close(fd)
    try:
        version = _copy(source, Path(temporary))
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return BackupResult(path=target, size=target.stat().st_size, schema_version=version)


def _copy(source: Path, temporary: Path) -> int:
    """Back `source` up into the (empty) file `temporary`; returns the copy's schema version."""
    try:
        # mode=rw: never create a database where there was none.
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=rw", uri=True)
    except sqlite3.Error as error:
        raise BackupError(f"DATABASE_PATH {source}: {error}") from None
    try:
        # The bot holds the write lock for a moment at a time; wait for it rather than fail.
        src.execute("PRAGMA busy_timeout = 10000")
        dst = sqlite3.connect(temporary)
        try:
            # pages=-1: everything in one step, i.e. in one read transaction — one snapshot.
            # (Copied in several steps, a write by the bot in between would restart the copy.)
            src.backup(dst, pages=-1)
            # A self-contained file: no -wal / -shm beside it. The bot switches a restored
            # database back to WAL when it opens it.
            dst.execute("PRAGMA journal_mode = DELETE")
            problems = [row[0] for row in dst.execute("PRAGMA integrity_check")]
            if problems != ["ok"]:
                raise BackupError(f"the copy failed its integrity check: {problems[0]}")
            version = int(dst.execute("PRAGMA user_version").fetchone()[0])
        finally:
            dst.close()
    except sqlite3.Error as error:
        raise BackupError(f"backup of {source} failed: {error}") from None
    finally:
        src.close()
    return version
