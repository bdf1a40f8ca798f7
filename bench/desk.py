"""The desk's questions at volume: the scheduler's and the queue's database time.

`.venv/bin/python bench/desk.py [--conversations 100000] [--messages 1000000] [--runs 200]
[--workdir DIR]`

A database with `--conversations` conversations (each with a user; 2 % waiting, 3 % answered
and open with a close due some day, the rest closed; a reminder due for half of the waiting
ones, some of them overdue) and `--messages` logged messages spread over them is built with
plain `sqlite3` (the schema by `Database.init()`), then `ANALYZE`d as SQLite would be in the
field after a while. Then each question the desk asks runs `--runs` times through
`storage.Database`, and the same SQL once more on a plain `sqlite3` connection for the pure
database time (no event loop, no thread hop):

- the scheduler's pass: `due_reminders`, `due_closes`, `next_due` (every pass runs the three);
- `/queue` and the board: `queue(limit=50)` (the 50 longest waits and the two counts);
- `/mine`: `queue(limit=50, assignee_id=...)`;
- topic icons: `stale_icons(limit=20)`.

Target (issue: the desk at volume): the scheduler's pass and `/queue` each take at most 20 ms of
database time. With `--workdir`, the database is kept there and reused.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import OPERATOR_CHAT_ID, table

from storage import Database

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
OPERATORS = 20
USER_BASE = 10_000_000


def iso(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def build(path: Path, conversations: int, messages: int) -> None:
    asyncio.run(_init(path))
    rng = random.Random(7)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executemany(
            "INSERT INTO operators (user_id, username, first_name) VALUES (?, ?, ?)",
            [(op, f"op{op}", f"Operator{op}") for op in range(1, OPERATORS + 1)],
        )
        conn.executemany(
            "INSERT INTO users (user_id, username, first_name, last_name) VALUES (?, ?, ?, ?)",
            ((USER_BASE + n, f"user{n}", f"User{n}", "Tester") for n in range(conversations)),
        )
        conn.executemany(
            """
            INSERT INTO conversations (
                user_id, topic_id, active, waiting_since, answered_at, assignee_id,
                remind_at, close_at, icon, created_at
            )
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            (_conversation(n, rng) for n in range(conversations)),
        )
        per = max(1, messages // conversations)
        conn.executemany(
            """
            INSERT INTO messages (user_id, direction, chat_id, message_id, content_type, text)
            VALUES (?, ?, ?, ?, 'text', 'hello')
            """,
            (
                (
                    USER_BASE + n,
                    "user" if m % 2 else "operator",
                    USER_BASE + n,
                    m,
                )
                for n in range(conversations)
                for m in range(1, per + 1)
            ),
        )
        conn.execute("ANALYZE")


def _conversation(n: int, rng: random.Random) -> tuple[Any, ...]:
    user_id = USER_BASE + n
    created = NOW - timedelta(days=rng.uniform(1, 700))
    kind = rng.random()
    assignee = rng.randint(1, OPERATORS)
    if kind < 0.02:  # waiting
        since = NOW - timedelta(minutes=rng.uniform(1, 600))
        remind = since + timedelta(minutes=15) if rng.random() < 0.5 else None
        return (user_id, n + 2, 1, iso(since), None, assignee, _iso(remind), None, "waiting",
                iso(created))  # fmt: skip
    if kind < 0.05:  # answered, open, closing one day
        answered = NOW - timedelta(hours=rng.uniform(1, 48))
        close = answered + timedelta(days=3)
        return (user_id, n + 2, 1, None, iso(answered), assignee, None, iso(close), "answered",
                iso(created))  # fmt: skip
    answered = created + timedelta(hours=1)
    return (user_id, n + 2, 0, None, iso(answered), assignee, None, None, "closed", iso(created))


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso(moment)


async def _init(path: Path) -> None:
    db = Database(path)
    await db.connect()
    try:
        await db.init()
    finally:
        await db.close()


def questions(db: Database) -> dict[str, Callable[[], Awaitable[Any]]]:
    async def scheduler_pass() -> None:
        await db.desk.due_reminders(NOW, limit=50)
        await db.desk.due_closes(NOW, limit=50)
        await db.desk.next_due()

    return {
        "scheduler pass (due reminders, closes, next)": scheduler_pass,
        "/queue, board: queue(limit=50)": lambda: db.desk.queue(limit=50),
        "/mine: queue(limit=50, assignee)": lambda: db.desk.queue(limit=50, assignee_id=3),
        "icons: stale_icons(limit=20)": lambda: db.desk.stale_icons(limit=20),
    }


async def time_database(
    path: Path, runs: int
) -> tuple[dict[str, list[float]], dict[str, list[str]]]:
    """Milliseconds per question through Database, and the SQL each question ran."""
    db = Database(path)
    await db.connect()
    timings: dict[str, list[float]] = {}
    statements: dict[str, list[str]] = {}
    try:
        for name, ask in questions(db).items():
            traced: list[str] = []
            await db.trace(traced.append)
            await ask()
            await db.trace(None)
            statements[name] = [sql for sql in traced if sql.lstrip().upper().startswith("SELECT")]
            samples = []
            for _ in range(runs):
                started = time.perf_counter()
                await ask()
                samples.append((time.perf_counter() - started) * 1000)
            timings[name] = samples
    finally:
        await db.close()
    return timings, statements


def time_sqlite(path: Path, statements: dict[str, list[str]], runs: int) -> dict[str, list[float]]:
    """The same SQL on a plain sqlite3 connection: the database's own time."""
    timings: dict[str, list[float]] = {}
    with sqlite3.connect(path) as conn:
        for name, sqls in statements.items():
            samples = []
            for _ in range(runs):
                started = time.perf_counter()
                for sql in sqls:
                    conn.execute(sql).fetchall()
                samples.append((time.perf_counter() - started) * 1000)
            timings[name] = samples
    return timings


def plans(path: Path, statements: dict[str, list[str]]) -> dict[str, list[str]]:
    with sqlite3.connect(path) as conn:
        return {
            name: [row[3] for sql in sqls for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
            for name, sqls in statements.items()
        }


def main(args: argparse.Namespace) -> None:
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench-desk-"))
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"desk-{args.conversations}-{args.messages}.sqlite3"
    if not path.exists():
        started = time.monotonic()
        build(path, args.conversations, args.messages)
        print(f"built {path} in {time.monotonic() - started:.0f} s", flush=True)
    with sqlite3.connect(path) as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages),"
            " (SELECT count(*) FROM conversations WHERE active = 1 AND waiting_since IS NOT NULL)"
        ).fetchone()
    print(
        f"{counts[0]} conversations ({counts[2]} waiting), {counts[1]} messages; "
        f"group {OPERATOR_CHAT_ID}; {args.runs} runs each"
    )
    through_db, statements = asyncio.run(time_database(path, args.runs))
    pure = time_sqlite(path, statements, args.runs)
    rows = []
    for name in through_db:
        db_median = statistics.median(through_db[name])
        pure_median = statistics.median(pure[name])
        pure_p99 = sorted(pure[name])[int(0.99 * (len(pure[name]) - 1))]
        rows.append(
            [
                name,
                f"{db_median:.3f}",
                f"{pure_median:.3f}",
                f"{pure_p99:.3f}",
                "<= 20",
                pure_p99 <= 20,
            ]
        )
    print(
        table(
            [
                "question",
                "through Database, median ms",
                "database time, median ms",
                "database time, p99 ms",
                "target ms",
                "pass",
            ],
            rows,
        )
    )
    print()
    for name, lines in plans(path, statements).items():
        print(f"{name}:")
        for line in lines:
            print(f"    {line}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--workdir", help="keep the database here (and reuse it)")
    main(parser.parse_args())
