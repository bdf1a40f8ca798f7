"""The inbox of Telegram updates: dedup, ordering, retries, parking, requeueing, pruning."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from storage import Database, InboxItem, UnknownUpdateError
from tests.storage_helpers import ISO_UTC, committed, open_database, write_directly

LONG_AGO = "2000-01-01T00:00:00.000Z"


def update(update_id: int, chat_id: int = 1) -> tuple[int, str, str]:
    """An inbox row as the delivery engine makes it: (update_id, queue_key, raw JSON)."""
    payload = {"update_id": update_id, "message": {"chat": {"id": chat_id}, "text": "hi"}}
    return update_id, f"user:{chat_id}", json.dumps(payload)


def item(update_id: int, chat_id: int = 1, attempts: int = 0) -> InboxItem:
    update_id, queue_key, payload = update(update_id, chat_id)
    return InboxItem(update_id=update_id, queue_key=queue_key, payload=payload, attempts=attempts)


def status_of(path: Path, update_id: int) -> tuple[str, int, str | None]:
    [row] = committed(
        path, "SELECT status, attempts, last_error FROM inbox WHERE update_id = ?", (update_id,)
    )
    return row


def test_inbox_item_is_a_frozen_dataclass() -> None:
    assert [f.name for f in dataclasses.fields(InboxItem)] == [
        "update_id",
        "queue_key",
        "payload",
        "attempts",
        "last_error",
    ]
    with pytest.raises(dataclasses.FrozenInstanceError):
        item(1).attempts = 2  # type: ignore[misc]


# --- adding ----------------------------------------------------------------------------------


async def test_inbox_add_returns_the_new_ids_in_the_order_given(db: Database, path: Path) -> None:
    added = await db.inbox.add([update(5), update(3, chat_id=2), update(9)])

    assert added == [5, 3, 9]
    assert committed(
        path, "SELECT update_id, queue_key, status, attempts FROM inbox ORDER BY update_id"
    ) == [(3, "user:2", "pending", 0), (5, "user:1", "pending", 0), (9, "user:1", "pending", 0)]
    [(received_at, updated_at)] = committed(
        path, "SELECT received_at, updated_at FROM inbox WHERE update_id = 5"
    )
    assert ISO_UTC.match(received_at)
    assert ISO_UTC.match(updated_at)


async def test_inbox_add_of_nothing_adds_nothing(db: Database) -> None:
    assert await db.inbox.add([]) == []
    assert await db.inbox.counts() == {"pending": 0, "failed": 0, "done": 0}


@pytest.mark.parametrize("status", ["pending", "done", "failed"])
async def test_a_redelivered_update_is_ignored_in_any_status(
    db: Database, path: Path, status: str
) -> None:
    await db.inbox.add([update(1)])
    if status == "done":
        await db.inbox.done(1)
    elif status == "failed":
        await db.inbox.park(1, error="gave up")

    added = await db.inbox.add([(1, "user:other", '{"update_id": 1, "changed": true}'), update(2)])

    assert added == [2]
    assert committed(path, "SELECT update_id, queue_key, payload, status FROM inbox") == [
        (1, "user:1", update(1)[2], status),
        (2, "user:1", update(2)[2], "pending"),
    ]


async def test_a_repeat_within_one_batch_is_added_once(db: Database, path: Path) -> None:
    added = await db.inbox.add([update(1), update(2), update(1)])

    assert added == [1, 2]
    assert committed(path, "SELECT count(*) FROM inbox") == [(2,)]


async def test_inbox_add_is_all_or_nothing(db: Database, path: Path) -> None:
    broken = (3, "user:1", None)  # payload is NOT NULL

    with pytest.raises(Exception, match="NOT NULL constraint failed"):
        await db.inbox.add([update(1), update(2), broken])  # type: ignore[list-item]

    assert committed(path, "SELECT count(*) FROM inbox") == [(0,)]


async def test_added_updates_survive_a_restart(path: Path) -> None:
    async with open_database(path) as db:
        await db.inbox.add([update(1), update(2)])

    async with open_database(path) as reopened:
        assert await reopened.inbox.pending() == [item(1), item(2)]


# --- reading ---------------------------------------------------------------------------------


async def test_inbox_pending_is_ordered_by_update_id(db: Database) -> None:
    await db.inbox.add([update(30), update(10), update(20, chat_id=2)])

    assert await db.inbox.pending() == [item(10), item(20, chat_id=2), item(30)]


async def test_inbox_pending_honours_the_limit(db: Database) -> None:
    await db.inbox.add([update(i) for i in range(1, 6)])

    assert [i.update_id for i in await db.inbox.pending(limit=2)] == [1, 2]
    assert await db.inbox.pending(limit=0) == []
    with pytest.raises(ValueError, match="limit"):
        await db.inbox.pending(limit=-1)


async def test_inbox_pending_leaves_out_done_and_failed(db: Database) -> None:
    await db.inbox.add([update(1), update(2), update(3)])
    await db.inbox.done(1)
    await db.inbox.park(3, error="bad")

    assert await db.inbox.pending() == [item(2)]


async def test_inbox_counts_every_status(db: Database) -> None:
    await db.inbox.add([update(i) for i in range(1, 7)])
    await db.inbox.done(1)
    await db.inbox.done(2)
    await db.inbox.park(3, error="bad")

    assert await db.inbox.counts() == {"pending": 3, "failed": 1, "done": 2}


# --- handling --------------------------------------------------------------------------------


async def test_inbox_done_marks_it_done_and_keeps_the_row(db: Database, path: Path) -> None:
    await db.inbox.add([update(1)])
    write_directly(path, "UPDATE inbox SET updated_at = ?", (LONG_AGO,))

    await db.inbox.done(1)

    assert status_of(path, 1) == ("done", 0, None)
    [(updated_at,)] = committed(path, "SELECT updated_at FROM inbox")
    assert updated_at > LONG_AGO


async def test_inbox_done_of_an_unknown_update_is_harmless(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await db.inbox.done(404)

    assert "404 is not in the inbox" in caplog.text


async def test_inbox_attempt_failed_counts_and_stays_pending(db: Database, path: Path) -> None:
    await db.inbox.add([update(1)])

    first = await db.inbox.attempt_failed(1, error="TelegramRetryAfter: 5")
    second = await db.inbox.attempt_failed(1, error="TelegramServerError: 502")

    assert (first, second) == (1, 2)
    assert status_of(path, 1) == ("pending", 2, "TelegramServerError: 502")
    assert await db.inbox.pending() == [item(1, attempts=2)]


async def test_inbox_attempt_failed_of_an_unknown_update_raises(db: Database) -> None:
    with pytest.raises(UnknownUpdateError, match="update 404 is not in the inbox"):
        await db.inbox.attempt_failed(404, error="x")


async def test_inbox_park_fails_it_with_the_reason(db: Database, path: Path) -> None:
    await db.inbox.add([update(1), update(2)])
    await db.inbox.attempt_failed(1, error="first")

    await db.inbox.park(1, error="gave up after 8 attempts")

    assert status_of(path, 1) == ("failed", 1, "gave up after 8 attempts")
    assert await db.inbox.failed() == [item(1, attempts=1)]
    assert await db.inbox.pending() == [item(2)]


async def test_inbox_park_of_an_unknown_update_is_harmless(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await db.inbox.park(404, error="x")

    assert await db.inbox.counts() == {"pending": 0, "failed": 0, "done": 0}
    assert "404 is not in the inbox" in caplog.text


async def test_inbox_failed_is_ordered_and_limited(db: Database) -> None:
    await db.inbox.add([update(i) for i in (7, 3, 5, 1)])
    for update_id in (7, 3, 5):
        await db.inbox.park(update_id, error="bad")

    assert [i.update_id for i in await db.inbox.failed()] == [3, 5, 7]
    assert [i.update_id for i in await db.inbox.failed(limit=2)] == [3, 5]


async def test_inbox_requeue_failed_puts_them_back_with_attempts_reset(
    db: Database, path: Path
) -> None:
    await db.inbox.add([update(1), update(2), update(3)])
    await db.inbox.attempt_failed(1, error="e1")
    await db.inbox.attempt_failed(1, error="e2")
    await db.inbox.park(1, error="gave up")
    await db.inbox.park(3, error="bad payload")
    await db.inbox.done(2)

    requeued = await db.inbox.requeue_failed()

    assert requeued == 2
    assert await db.inbox.failed() == []
    assert await db.inbox.pending() == [item(1), item(3)]
    assert status_of(path, 1) == ("pending", 0, "gave up")  # the reason is kept as a record
    assert status_of(path, 2) == ("done", 0, None)
    assert await db.inbox.requeue_failed() == 0


# --- pruning ---------------------------------------------------------------------------------


async def test_inbox_prune_deletes_only_old_done_updates(db: Database, path: Path) -> None:
    await db.inbox.add([update(i) for i in range(1, 7)])
    for update_id in (1, 2, 3):
        await db.inbox.done(update_id)
    await db.inbox.park(4, error="bad")
    # 1 and 4 and 5 were last touched long ago; 2 two minutes ago; 3 and 6 just now.
    write_directly(
        path, "UPDATE inbox SET updated_at = ? WHERE update_id IN (1, 4, 5)", (LONG_AGO,)
    )
    write_directly(
        path,
        "UPDATE inbox SET updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-120 seconds') "
        "WHERE update_id = 2",
    )

    pruned = await db.inbox.prune(older_than_seconds=60)

    assert pruned == 2
    assert committed(path, "SELECT update_id, status FROM inbox ORDER BY update_id") == [
        (3, "done"),
        (4, "failed"),
        (5, "pending"),
        (6, "pending"),
    ]
    assert await db.inbox.prune(older_than_seconds=60) == 0


async def test_inbox_prune_keeps_done_updates_younger_than_the_age(
    db: Database, path: Path
) -> None:
    await db.inbox.add([update(1)])
    await db.inbox.done(1)

    assert await db.inbox.prune(older_than_seconds=3600) == 0
    assert status_of(path, 1)[0] == "done"


async def test_a_pruned_update_is_no_longer_recognised(db: Database, path: Path) -> None:
    await db.inbox.add([update(1)])
    await db.inbox.done(1)
    write_directly(path, "UPDATE inbox SET updated_at = ?", (LONG_AGO,))
    await db.inbox.prune(older_than_seconds=86400)

    # Which is why prune must only forget updates older than Telegram would ever re-deliver.
    assert await db.inbox.add([update(1)]) == [1]


@pytest.mark.parametrize("age", [-1.0, float("nan"), float("inf")])
async def test_inbox_prune_rejects_a_meaningless_age(db: Database, age: float) -> None:
    with pytest.raises(ValueError, match="older_than_seconds"):
        await db.inbox.prune(older_than_seconds=age)
