"""`python -m bot backup PATH`: a consistent copy of a database the bot is writing to."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from bot.config import Settings
from storage import Database
from tests.conftest import BOT_TOKEN, OPERATOR_CHAT_ID
from tests.harness import ROOT


def cli_env(database: Path, **extra: str) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if k not in Settings.model_fields}
    return {
        **inherited,
        "PYTHONPATH": str(ROOT),
        "BOT_TOKEN": BOT_TOKEN,
        "OPERATOR_CHAT_ID": str(OPERATOR_CHAT_ID),
        "DATABASE_PATH": str(database),
        **extra,
    }


def run_backup(
    workdir: Path, database: Path, *args: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "backup", *args],
        cwd=workdir,
        env=cli_env(database, **extra),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def update(update_id: int) -> tuple[int, str, str]:
    payload = {"update_id": update_id, "message": {"text": f"message {update_id}"}}
    return (update_id, f"chat:{update_id % 7}", json.dumps(payload))


def inbox_ids(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT update_id FROM inbox ORDER BY update_id")]


def integrity(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("PRAGMA integrity_check")]


async def test_a_backup_taken_while_the_bot_writes_is_a_consistent_database(
    db: Database, path: Path, tmp_path: Path
) -> None:
    committed: list[int] = []
    stop = asyncio.Event()
    warmed_up = asyncio.Event()

    async def write() -> None:
        # The bot's own connection (WAL, synchronous=FULL), one committed update at a time.
        update_id = 0
        while not stop.is_set():
            update_id += 1
            await db.inbox.add([update(update_id)])
            committed.append(update_id)
            if update_id == 200:
                warmed_up.set()
            await asyncio.sleep(0)

    writer = asyncio.create_task(write())
    try:
        await asyncio.wait_for(warmed_up.wait(), 30)
        before = len(committed)
        copy = tmp_path / "backups" / "copy.sqlite3"
        copy.parent.mkdir()
        result = await asyncio.to_thread(run_backup, tmp_path, path, str(copy))
        during = len(committed)
    finally:
        stop.set()
        await writer
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"ok: backed up {path} to {copy} (")
    assert result.stderr == ""
    assert during > before, "the writer kept writing while the backup ran"
    assert integrity(copy) == ["ok"]
    ids = inbox_ids(copy)
    # Everything committed before the backup started, and a snapshot: no gaps, nothing torn.
    assert len(ids) >= before
    assert ids == list(range(1, len(ids) + 1))
    # One self-contained file; the temporary file is gone.
    assert sorted(p.name for p in copy.parent.iterdir()) == ["copy.sqlite3"]
    with sqlite3.connect(copy) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"

    # Restored, the copy is a database the bot opens as its own.
    restored = Database(copy)
    await restored.connect()
    try:
        await restored.init()
        counts = await restored.inbox.counts()
        health = await restored.healthcheck()
    finally:
        await restored.close()
    assert counts["pending"] == len(ids)
    assert health["journal_mode"] == "wal"


async def test_an_existing_file_is_replaced_only_with_force(
    db: Database, path: Path, tmp_path: Path
) -> None:
    await db.inbox.add([update(1), update(2)])
    target = tmp_path / "backup.sqlite3"
    target.write_text("an older backup", encoding="utf-8")

    refused = run_backup(tmp_path, path, str(target))
    assert refused.returncode == 1
    assert refused.stderr == f"error: {target} already exists (use --force to replace it)\n"
    assert target.read_text(encoding="utf-8") == "an older backup"

    forced = run_backup(tmp_path, path, str(target), "--force")
    assert forced.returncode == 0, forced.stderr
    assert inbox_ids(target) == [1, 2]


def test_errors_are_one_line_with_the_cli_exit_codes(tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here.sqlite3"
    result = run_backup(tmp_path, missing, str(tmp_path / "copy.sqlite3"))
    assert (result.returncode, result.stderr) == (
        1,
        f"error: DATABASE_PATH {missing}: no such database file\n",
    )
    assert not missing.exists()  # the backup never creates a database

    unconfigured = run_backup(tmp_path, missing, str(tmp_path / "copy.sqlite3"), BOT_TOKEN="x")
    assert unconfigured.returncode == 2
    assert unconfigured.stderr.startswith("configuration error: BOT_TOKEN ")
    assert unconfigured.stderr.count("\n") == 1

    no_directory = run_backup(tmp_path, missing, str(tmp_path / "no" / "copy.sqlite3"))
    assert no_directory.returncode == 1


def test_the_backup_command_does_not_import_aiogram(path: Path, tmp_path: Path) -> None:
    """Like the configuration check, a backup must not wait seconds for aiogram to load."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    script = (
        "import sys\n"
        "from bot.cli import main\n"
        f"status = main(['backup', {str(tmp_path / 'copy.sqlite3')!r}])\n"
        "assert status == 0, status\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('aiogram', 'aiohttp'))\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=cli_env(path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
