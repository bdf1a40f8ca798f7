"""Rate-limited drain: a burst of new users against the operator group's flood limit.

`.venv/bin/python bench/drain.py [--users 30] [--limit 20] [--window 5] [--rounds 2]`

The fake limits the operator group like Telegram does (`--limit` new messages per `--window`
seconds, a sliding window; beyond it 429 with retry_after in whole seconds, and a call made
before retry_after has passed is recorded as a violation). Telegram's real limit is about 20 a
minute; the default scales the window down to 5 s so that a run takes seconds, not minutes
(`--window 60` for the real thing). The real bot runs with its defaults (GLOBAL_RATE_LIMIT=30).

Once the bot polls, `--users` new users each send one message, all at once. Each costs three
messages in the group: createForumTopic (its service message), the user card, the copy. Measured:
the time from the burst to the last copy, against the minimum the limit allows, given two ways:
the issue's "group messages / rate" (3K x window / limit) and the exact minimum of a sliding window
that starts full ((ceil(3K / limit) - 1) x window: the first `limit` go at once). Also the 429s
the bot got, violations of retry_after, and whether anything was lost (copies missing, or updates
left pending / failed in the bot's inbox).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from _common import Proc, real_bot, running_fake, table, wait_polling

from tests.fake_telegram.faults import MESSAGE_CREATING_METHODS


async def health(proc: Proc) -> dict[str, Any]:
    url = f"http://127.0.0.1:{proc.env['HTTP_PORT']}/healthz"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        body: dict[str, Any] = await response.json()
        return body


async def one_round(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-drain-") as tmp:
        async with running_fake() as (fake, group, watch):
            users = [fake.add_user(f"New{i}", username=f"new_user_{i}") for i in range(args.users)]
            fake.rate_limit(group.id, limit=args.limit, window=args.window)
            proc = real_bot(fake, Path(tmp))
            await proc.start()
            try:
                await wait_polling(proc, watch)
                await asyncio.sleep(0.5)  # let start-up calls settle
                started = time.monotonic()
                sent = [await fake.user_sends(u, f"hello from {u.id}") for u in users]
                keys = [(u.id, int(m["message_id"])) for u, m in zip(users, sent, strict=True)]
                await watch.until(
                    lambda: all(k in watch.copies for k in keys),
                    args.window * math.ceil(3 * args.users / args.limit) * 3 + 60,
                )
                arrived = [watch.copies[k].done for k in keys if k in watch.copies]
                elapsed = max(arrived) - started if arrived else float("nan")
                inbox: dict[str, Any] = {}
                for _ in range(50):  # an update is marked done just after its copy
                    inbox = (await health(proc))["inbox"]
                    if inbox.get("pending") == 0:
                        break
                    await asyncio.sleep(0.05)
            finally:
                code = await proc.stop()
            if code not in (0, None):
                print(f"warning: the bot exited with {code}:\n{proc.log_tail()}")
            group_calls = [
                c
                for c in fake.calls
                if c.chat_id == group.id and c.method in MESSAGE_CREATING_METHODS
            ]
            copies_ok = sum(1 for c in group_calls if c.method == "copyMessage" and c.ok)
            return {
                "elapsed": elapsed,
                "delivered": len(arrived),
                "group_messages": sum(1 for c in group_calls if c.ok),
                "calls_429": sum(1 for c in group_calls if c.error_code == 429),
                "violations": len(fake.violations),
                "copies_ok": copies_ok,
                "inbox": inbox,
            }


async def main(args: argparse.Namespace) -> None:
    k = args.users
    needed = 3 * k
    by_rate = needed * args.window / args.limit
    exact = (math.ceil(needed / args.limit) - 1) * args.window
    rows = []
    for r in range(args.rounds):
        result = await one_round(args)
        lost = k - result["delivered"] + result["inbox"].get("pending", 0)
        lost += result["inbox"].get("failed", 0)
        rows.append(
            [
                r + 1,
                result["elapsed"],
                result["elapsed"] / by_rate,
                result["elapsed"] / exact if exact else float("nan"),
                result["group_messages"],
                result["calls_429"],
                result["violations"],
                result["copies_ok"] - k,
                lost,
            ]
        )
        print(f"round {r + 1}: done", flush=True)
    print()
    print(
        f"{k} new users, one message each; operator group limited to {args.limit} messages per "
        f"{args.window:g} s; {needed} group messages needed; minimum {by_rate:.1f} s by "
        f"messages/rate, {exact:.1f} s by the sliding window"
    )
    print(
        table(
            [
                "round",
                "drain s",
                "x min (msgs/rate)",
                "x min (window)",
                "group msgs",
                "429s",
                "violations",
                "duplicates",
                "lost",
            ],
            rows,
        )
    )
    best = min(row[2] for row in rows)
    print()
    print(
        table(
            ["check", "result", "target", "pass"],
            [
                ["drain time / minimum (msgs/rate), best", f"{best:.3f}", "<= 1.15", best <= 1.15],
                [
                    "calls during a running retry_after",
                    max(row[6] for row in rows),
                    "0",
                    all(row[6] == 0 for row in rows),
                ],
                ["lost", max(row[8] for row in rows), "0", all(row[8] == 0 for row in rows)],
            ],
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=30, help="new users in the burst")
    parser.add_argument("--limit", type=int, default=20, help="group messages per window")
    parser.add_argument("--window", type=float, default=5.0, help="seconds")
    parser.add_argument("--rounds", type=int, default=2)
    asyncio.run(main(parser.parse_args()))
