"""What the durable inbox costs per update: `python bench/inbox.py [N]`.

Stores N synthetic updates (about the size of a text message update) in a fresh database in the
system's temp directory, the way the intake does: in batches of one getUpdates answer (up to
100 updates, one transaction) and, for comparison, one transaction per update (a webhook call);
then marks each one handled, as the engine does. Prints the cost per update of each step.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage import Database


def update(update_id: int) -> tuple[int, str, str]:
    payload = {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_780_000_000,
            "chat": {"id": 1000 + update_id % 50, "type": "private", "first_name": "Alice"},
            "from": {"id": 1000 + update_id % 50, "is_bot": False, "first_name": "Alice"},
            "text": "Hello, my order #12345 has not arrived yet, can you help?",
        },
    }
    return update_id, f"chat:{1000 + update_id % 50}", json.dumps(payload)


async def measure(n: int) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        db = Database(Path(workdir) / "bench.sqlite3")
        await db.connect()
        await db.init()
        try:
            started = time.perf_counter()
            for first in range(0, n, 100):
                await db.inbox.add([update(i) for i in range(first, min(first + 100, n))])
            batched = (time.perf_counter() - started) / n

            started = time.perf_counter()
            for i in range(n, 2 * n):
                await db.inbox.add([update(i)])
            single = (time.perf_counter() - started) / n

            started = time.perf_counter()
            for i in range(n):
                await db.inbox.done(i)
            done = (time.perf_counter() - started) / n
        finally:
            await db.close()
    print(f"updates: {n}")
    print(f"inbox_add, batches of 100 (getUpdates): {batched * 1000:.3f} ms per update")
    print(f"inbox_add, one per transaction (webhook): {single * 1000:.3f} ms per update")
    print(f"inbox_done, one per transaction:          {done * 1000:.3f} ms per update")


if __name__ == "__main__":
    asyncio.run(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
