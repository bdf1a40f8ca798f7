"""Storage: `storage.Database` operations per second, against plain `sqlite3` (the floor).

`.venv/bin/python bench/database.py [--sizes 10000,1000000] [--ops 2000] [--workdir DIR]`

For each size, a database with that many logged messages (and their links, two rows each, plus
one user and conversation per 100 messages and up to 50 000 handled inbox rows) is created:
the schema by `Database.init()`, the rows by plain `sqlite3` `executemany` (fast). Then each
operation runs `--ops` times through `storage.Database` (aiosqlite, WAL, synchronous=FULL) and
through a plain `sqlite3` connection with the same pragmas running the same SQL (storage's
own, from storage/message_log.py), on random keys spread over the whole database. Each
measurement runs twice; the better run is reported.

Operations:

- find_user_id_by_topic, find_linked_message_id: the relay's lookups;
- log message + link: `db.log.add_relayed` (message and link, one write);
- relayed message: what the relay's storage does per message, as the issue defines it:
  `db.inbox.add` (one update per transaction, as the webhook and a quiet poller store it), look
  the link up, log message + link, `db.inbox.done`: one message at a time, so three commits each;
- relayed message, 16 at once: the same for 16 messages of different conversations at the same
  time, as the engine handles them (CONCURRENCY=16): their writes share group commits. Reported
  per message;
- relayed user message, full: what `Relay.user_message` asks of storage for a user's message in
  an existing conversation (inbox.add, people.state, find_linked_message_id, log.add_relayed,
  inbox.done);
- round trip: `SELECT 1` through the Database (the fixed cost of one statement).

With `--workdir` the databases are kept there and reused by the next run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from _common import OPERATOR_CHAT_ID, TEXT, table

from storage import LATEST_VERSION, Database, message_log

USER_BASE = 10_000_000
AT_ONCE = 16  # the bot's default CONCURRENCY: conversations handled at the same time
AT_ONCE_OP = f"relayed message, {AT_ONCE} at once"
MESSAGES_PER_USER = 100
INBOX_ROWS = 50_000

# --- the SQL storage/database.py runs (the floor runs it on plain sqlite3) ---------------------

SQL_USER_BY_TOPIC = """
SELECT user_id
FROM conversations
WHERE topic_id = ? AND active = 1
ORDER BY updated_at DESC, user_id DESC
LIMIT 1
"""
SQL_LINKED = """
SELECT target_message_id
FROM message_links
WHERE source_chat_id = ? AND source_message_id = ? AND target_chat_id = ?
"""
SQL_LOG_MESSAGE = message_log.ADD_MESSAGE_SQL
SQL_LOG_LINK = message_log.ADD_LINK_SQL  # both directions of a link in one statement
# For building the databases with executemany: one link row per parameter set.
SQL_LINK_ROW = """
INSERT INTO message_links (
    source_chat_id, source_message_id, target_chat_id, target_message_id, user_id
)
VALUES (?, ?, ?, ?, ?)
"""
SQL_INBOX_ADD = """
INSERT INTO inbox (update_id, queue_key, payload)
VALUES (?, ?, ?)
ON CONFLICT (update_id) DO NOTHING
"""
SQL_INBOX_DONE = """
UPDATE inbox
SET status = 'done', updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
WHERE update_id = ?
"""


# --- building a database -----------------------------------------------------------------------


def payload(user_id: int, message_id: int, text: str) -> str:
    """About what `content.payload_json` stores for a text message."""
    return json.dumps(
        {
            "message_id": message_id,
            "date": 1_780_000_000 + message_id,
            "chat": {"id": user_id, "type": "private", "first_name": "Alice", "username": "al"},
            "from": {
                "id": user_id,
                "is_bot": False,
                "first_name": "Alice",
                "username": "al",
                "language_code": "en",
            },
            "text": text,
        },
        ensure_ascii=False,
    )


def update_json(update_id: int, user_id: int, message_id: int) -> str:
    return json.dumps({"update_id": update_id, "message": json.loads(payload(user_id, 1, TEXT))})


class Layout:
    """Where the rows of a database of `size` messages are, for picking random keys."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.users = max(10, size // MESSAGES_PER_USER)
        self.per_user = size // self.users  # messages of each user (half each way)

    def user(self, u: int) -> int:
        return USER_BASE + u

    def topic(self, u: int) -> int:
        return 2 + u * (self.per_user + 1)  # thread ids in the group: one block per user

    def message(self, k: int) -> tuple[int, int, int, int, int, str]:
        """Message k: (user_id, source chat, source id, target chat, target id, direction)."""
        u, i = divmod(k, self.per_user)
        user_id = self.user(u)
        private_id = i + 1
        group_id = self.topic(u) + 1 + i
        if i % 2 == 0:
            return user_id, user_id, private_id, OPERATOR_CHAT_ID, group_id, "user"
        return user_id, OPERATOR_CHAT_ID, group_id, user_id, private_id, "operator"


def build(path: Path, size: int) -> float:
    """Schema by Database.init(), rows by sqlite3 executemany. Returns seconds taken."""
    started = time.perf_counter()

    async def schema() -> None:
        db = Database(path)
        await db.connect()
        await db.init()
        await db.close()

    asyncio.run(schema())
    layout = Layout(size)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO users (user_id, username, first_name, last_name) VALUES (?, ?, ?, ?)",
        ((layout.user(u), f"user{u}", "Alice", None) for u in range(layout.users)),
    )
    conn.executemany(
        "INSERT INTO conversations (user_id, topic_id, active) VALUES (?, ?, 1)",
        ((layout.user(u), layout.topic(u)) for u in range(layout.users)),
    )
    n = layout.users * layout.per_user

    def messages() -> Iterator[tuple[Any, ...]]:
        for k in range(n):
            user_id, chat, mid, _, _, direction = layout.message(k)
            text = f"{TEXT}{k}"
            yield (
                user_id,
                direction,
                chat,
                mid,
                "text",
                text,
                None,
                None,
                payload(chat, mid, text),
            )

    def links() -> Iterator[tuple[int, int, int, int, int]]:
        for k in range(n):
            user_id, chat, mid, target, tid, _ = layout.message(k)
            yield chat, mid, target, tid, user_id
            yield target, tid, chat, mid, user_id

    conn.executemany(SQL_LOG_MESSAGE, messages())
    conn.executemany(SQL_LINK_ROW, links())
    conn.executemany(
        "INSERT INTO inbox (update_id, queue_key, payload, status) VALUES (?, ?, ?, 'done')",
        (
            (u, f"chat:{layout.user(u % layout.users)}", update_json(u, layout.user(0), u))
            for u in range(min(INBOX_ROWS, n))
        ),
    )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
    return time.perf_counter() - started


def count_messages(path: Path) -> int:
    """Messages in a kept database; -1 when it is missing or built by an older schema."""
    conn = sqlite3.connect(path)
    try:
        if int(conn.execute("PRAGMA user_version").fetchone()[0]) != LATEST_VERSION:
            return -1
        return int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])
    except sqlite3.Error:
        return -1
    finally:
        conn.close()


# --- the operations ----------------------------------------------------------------------------


class Keys:
    """Random existing keys, and fresh ids for new messages and updates."""

    def __init__(self, layout: Layout, seed: int) -> None:
        self.layout = layout
        self.rng = random.Random(seed)
        self.next_id = 2_000_000_000 + seed * 10_000_000  # fresh message ids, per run
        self.next_update = 1_000_000_000 + seed * 10_000_000

    def topic(self) -> int:
        return self.layout.topic(self.rng.randrange(self.layout.users))

    def link(self) -> tuple[int, int, int]:
        n = self.layout.users * self.layout.per_user
        _, chat, mid, target, _, _ = self.layout.message(self.rng.randrange(n))
        return chat, mid, target

    def user(self) -> int:
        return self.layout.user(self.rng.randrange(self.layout.users))

    def fresh(self) -> int:
        self.next_id += 1
        return self.next_id

    def update(self) -> int:
        self.next_update += 1
        return self.next_update


def message_row(user_id: int, message_id: int) -> tuple[Any, ...]:
    text = f"{TEXT}{message_id}"
    return (
        user_id,
        "user",
        user_id,
        message_id,
        "text",
        text,
        None,
        None,
        payload(user_id, message_id, text),
    )


def database_ops(db: Database, keys: Keys) -> dict[str, Callable[[], Awaitable[Any]]]:
    async def by_topic() -> Any:
        return await db.find_user_id_by_topic(keys.topic())

    async def linked() -> Any:
        chat, mid, target = keys.link()
        return await db.find_linked_message_id(
            source_chat_id=chat, source_message_id=mid, target_chat_id=target
        )

    async def log_pair(user_id: int, message_id: int) -> None:
        await db.log.add_relayed(
            user_id=user_id,
            direction="user",
            chat_id=user_id,
            message_id=message_id,
            content_type="text",
            text=f"{TEXT}{message_id}",
            caption=None,
            file_id=None,
            payload_json=payload(user_id, message_id, f"{TEXT}{message_id}"),
            target_chat_id=OPERATOR_CHAT_ID,
            target_message_id=message_id,
        )

    async def log() -> None:
        await log_pair(keys.user(), keys.fresh())

    async def relayed() -> None:
        user_id, message_id, update_id = keys.user(), keys.fresh(), keys.update()
        await db.inbox.add([(update_id, f"chat:{user_id}", update_json(update_id, user_id, 1))])
        await db.find_linked_message_id(
            source_chat_id=user_id, source_message_id=message_id, target_chat_id=OPERATOR_CHAT_ID
        )
        await log_pair(user_id, message_id)
        await db.inbox.done(update_id)

    async def relayed_at_once() -> None:
        # The engine handles up to CONCURRENCY (16) conversations at once: their writes share
        # group commits. One call = 16 messages, reported per message by `time_database`.
        await asyncio.gather(*(relayed() for _ in range(AT_ONCE)))

    async def relayed_one_commit() -> None:
        user_id, message_id, update_id = keys.user(), keys.fresh(), keys.update()
        await db.inbox.add([(update_id, f"chat:{user_id}", update_json(update_id, user_id, 1))])
        await db.find_linked_message_id(
            source_chat_id=user_id, source_message_id=message_id, target_chat_id=OPERATOR_CHAT_ID
        )
        async with db.transaction():
            await log_pair(user_id, message_id)
            await db.inbox.done(update_id)

    async def inbox_add() -> None:
        update_id, user_id = keys.update(), keys.user()
        await db.inbox.add([(update_id, f"chat:{user_id}", update_json(update_id, user_id, 1))])

    async def inbox_done() -> None:
        await db.inbox.done(keys.next_update)
        keys.next_update -= 1  # the updates inbox_add added, newest first

    async def relayed_full() -> None:
        user_id, message_id, update_id = keys.user(), keys.fresh(), keys.update()
        await db.inbox.add([(update_id, f"chat:{user_id}", update_json(update_id, user_id, 1))])
        await db.people.state(user_id)
        await db.find_linked_message_id(
            source_chat_id=user_id, source_message_id=message_id, target_chat_id=OPERATOR_CHAT_ID
        )
        await log_pair(user_id, message_id)
        await db.inbox.done(update_id)

    async def round_trip() -> Any:
        return await db.fetch_all("SELECT 1")

    return {
        "find_user_id_by_topic": by_topic,
        "find_linked_message_id": linked,
        "log message + link (1 tx)": log,
        "relayed message": relayed,
        AT_ONCE_OP: relayed_at_once,
        "relayed user message, full": relayed_full,
        "relayed, inbox_done in the log tx": relayed_one_commit,
        "inbox_add (1 update, 1 tx)": inbox_add,
        "inbox_done (1 tx)": inbox_done,
        "round trip (SELECT 1)": round_trip,
    }


def sqlite_ops(conn: sqlite3.Connection, keys: Keys) -> dict[str, Callable[[], Any]]:
    def by_topic() -> Any:
        return conn.execute(SQL_USER_BY_TOPIC, (keys.topic(),)).fetchall()

    def linked() -> Any:
        return conn.execute(SQL_LINKED, keys.link()).fetchall()

    def log_statements(user_id: int, message_id: int) -> None:
        conn.execute(SQL_LOG_MESSAGE, message_row(user_id, message_id))
        link = message_log.link_parameters(
            user_id, user_id, message_id, OPERATOR_CHAT_ID, message_id
        )
        conn.execute(SQL_LOG_LINK, link)

    def log_pair(user_id: int, message_id: int) -> None:
        conn.execute("BEGIN IMMEDIATE")
        log_statements(user_id, message_id)
        conn.execute("COMMIT")

    def log() -> None:
        log_pair(keys.user(), keys.fresh())

    def relayed() -> None:
        user_id, message_id, update_id = keys.user(), keys.fresh(), keys.update()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            SQL_INBOX_ADD, (update_id, f"chat:{user_id}", update_json(update_id, user_id, 1))
        )
        conn.execute("COMMIT")
        conn.execute(SQL_LINKED, (user_id, message_id, OPERATOR_CHAT_ID)).fetchall()
        log_pair(user_id, message_id)
        conn.execute(SQL_INBOX_DONE, (update_id,))

    def relayed_one_commit() -> None:
        user_id, message_id, update_id = keys.user(), keys.fresh(), keys.update()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            SQL_INBOX_ADD, (update_id, f"chat:{user_id}", update_json(update_id, user_id, 1))
        )
        conn.execute("COMMIT")
        conn.execute(SQL_LINKED, (user_id, message_id, OPERATOR_CHAT_ID)).fetchall()
        conn.execute("BEGIN IMMEDIATE")
        log_statements(user_id, message_id)
        conn.execute(SQL_INBOX_DONE, (update_id,))
        conn.execute("COMMIT")

    def inbox_add() -> None:
        update_id, user_id = keys.update(), keys.user()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            SQL_INBOX_ADD, (update_id, f"chat:{user_id}", update_json(update_id, user_id, 1))
        )
        conn.execute("COMMIT")

    def inbox_done() -> None:
        conn.execute(SQL_INBOX_DONE, (keys.next_update,))
        keys.next_update -= 1

    def round_trip() -> Any:
        return conn.execute("SELECT 1").fetchall()

    return {
        "find_user_id_by_topic": by_topic,
        "find_linked_message_id": linked,
        "log message + link (1 tx)": log,
        "relayed message": relayed,
        "relayed, inbox_done in the log tx": relayed_one_commit,
        "inbox_add (1 update, 1 tx)": inbox_add,
        "inbox_done (1 tx)": inbox_done,
        "round trip (SELECT 1)": round_trip,
    }


async def time_database(path: Path, layout: Layout, ops: int, seed: int) -> dict[str, float]:
    db = Database(path)
    await db.connect()
    try:
        keys = Keys(layout, seed)
        result = {}
        for name, op in database_ops(db, keys).items():
            per_call = AT_ONCE if name == AT_ONCE_OP else 1
            calls = max(1, ops // per_call)
            for _ in range(min(50, calls)):  # warm the cache and the thread
                await op()
            started = time.perf_counter()
            for _ in range(calls):
                await op()
            result[name] = (time.perf_counter() - started) / (calls * per_call)
        return result
    finally:
        await db.close()


def time_sqlite(path: Path, layout: Layout, ops: int, seed: int) -> dict[str, float]:
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in (
        "PRAGMA journal_mode = WAL",
        "PRAGMA foreign_keys = ON",
        "PRAGMA busy_timeout = 5000",
        "PRAGMA synchronous = FULL",
    ):
        conn.execute(pragma)
    try:
        keys = Keys(layout, seed)
        result = {}
        for name, op in sqlite_ops(conn, keys).items():
            for _ in range(min(50, ops)):
                op()
            started = time.perf_counter()
            for _ in range(ops):
                op()
            result[name] = (time.perf_counter() - started) / ops
        return result
    finally:
        conn.close()


def main(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        results: dict[int, tuple[dict[str, float], dict[str, float]]] = {}
        for size in sizes:
            layout = Layout(size)
            path = workdir / f"storage-{size}.sqlite3"
            expected = layout.users * layout.per_user
            if count_messages(path) < expected:
                path.unlink(missing_ok=True)
                for suffix in ("-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
                seconds = build(path, size)
                print(f"built {path.name}: {expected} messages in {seconds:.1f} s", flush=True)
            mb = path.stat().st_size / 1e6
            print(f"{path.name}: {mb:.0f} MB", flush=True)
            db_runs = [asyncio.run(time_database(path, layout, args.ops, seed)) for seed in (1, 2)]
            lite_runs = [time_sqlite(path, layout, args.ops, seed) for seed in (3, 4)]
            best_db = {k: min(run[k] for run in db_runs) for k in db_runs[0]}
            best_lite = {k: min(run[k] for run in lite_runs) for k in lite_runs[0]}
            results[size] = (best_db, best_lite)

    rows = []
    for size, (db, lite) in results.items():
        for name, seconds in db.items():
            floor = lite.get(name)
            rows.append(
                [
                    f"{size:,}",
                    name,
                    1 / seconds,
                    seconds * 1000,
                    floor * 1000 if floor else float("nan"),
                    seconds / floor if floor else float("nan"),
                ]
            )
    print()
    print(f"{args.ops} operations each, best of 2 runs; synchronous=FULL, WAL")
    print(
        table(
            ["messages", "operation", "Database ops/s", "Database ms/op", "sqlite3 ms/op", "ratio"],
            rows,
        )
    )
    if len(sizes) >= 2:
        small, large = results[sizes[0]][0], results[sizes[-1]][0]
        checks = []
        for name in ("find_user_id_by_topic", "find_linked_message_id"):
            ratio = large[name] / small[name]
            checks.append(
                [f"{name}: {sizes[-1]:,} vs {sizes[0]:,}", f"{ratio:.2f}x", "<= 1.5x", ratio <= 1.5]
            )
        for size in sizes:
            for name in ("relayed message", AT_ONCE_OP):
                ms = results[size][0][name] * 1000
                checks.append([f"{name} at {size:,}", f"{ms:.3f} ms", "<= 0.5 ms", ms <= 0.5])
        print()
        print(table(["check", "result", "target", "pass"], checks))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,1000000", help="logged messages, comma-separated")
    parser.add_argument("--ops", type=int, default=2000, help="operations per measurement")
    parser.add_argument("--workdir", help="keep the databases here (and reuse them)")
    main(parser.parse_args())
