"""Rate-limited drain: a burst of new users against the operator group's flood limit.

`.venv/bin/python bench/drain.py [--users 30] [--limit 20] [--window 5] [--rounds 2] [--desk]`

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

With `--desk` the bot runs with the desk on (`BOARD=on`, `BOARD_INTERVAL=1`, `TOPIC_ICONS=on`):
the board is edited and each new topic's icon changes, both in flood control's background lane.
Their calls are counted apart: the drain is the customers' messages only, and the table says how
many icon changes and board edits were made while the customers' messages were still draining
(icons must wait for room: none) and when the icons were all set after it.
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
            desk = {"BOARD": "on", "BOARD_INTERVAL": "1", "TOPIC_ICONS": "on"} if args.desk else {}
            proc = real_bot(fake, Path(tmp), **desk)
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
                drained = max(arrived) if arrived else float("nan")
                elapsed = drained - started
                icons_done = float("nan")
                if args.desk:  # the icons come after the customers: wait for them, apart
                    icons_left = lambda: len(icon_calls(fake, group.id, ok=True)) < args.users  # noqa: E731
                    await watch.until(lambda: not icons_left(), 180)
                    if not icons_left():
                        icons_done = time.monotonic() - started
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
            desk_calls = [c for c in group_calls if _is_desk(c)]
            return {
                "icons_in_drain": sum(
                    1 for c in icon_calls(fake, group.id, ok=True) if c.time <= drained
                ),
                "board_edits_in_drain": sum(
                    1
                    for c in fake.calls
                    if c.method == "editMessageText" and c.chat_id == group.id and c.time <= drained
                ),
                "icons_done": icons_done,
                "desk_messages": sum(1 for c in desk_calls if c.ok),
                "elapsed": elapsed,
                "delivered": len(arrived),
                "group_messages": sum(1 for c in group_calls if c.ok and not _is_desk(c)),
                "calls_429": sum(1 for c in group_calls if c.error_code == 429),
                "violations": len(fake.violations),
                "copies_ok": copies_ok,
                "inbox": inbox,
            }


def icon_calls(fake: Any, group_id: int, *, ok: bool) -> list[Any]:
    """editForumTopic calls that change a topic's icon (they post a service message)."""
    return [
        c
        for c in fake.calls
        if c.method == "editForumTopic"
        and c.chat_id == group_id
        and "icon_custom_emoji_id" in c.params
        and c.ok == ok
    ]


def _is_desk(call: Any) -> bool:
    """A group message the desk posts (an icon change, the board and its pin), not a customer's."""
    if call.method in ("editForumTopic", "pinChatMessage"):
        return True
    return call.method == "sendMessage" and str(call.params.get("text", "")).startswith("📋")


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
                *(
                    [
                        result["icons_in_drain"],
                        result["board_edits_in_drain"],
                        result["desk_messages"],
                        result["icons_done"],
                    ]
                    if args.desk
                    else []
                ),
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
                *(
                    ["icons in drain", "board edits in drain", "desk msgs", "icons done s"]
                    if args.desk
                    else []
                ),
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
                *(
                    [
                        [
                            "icon changes while customers' messages drained",
                            max(row[9] for row in rows),
                            "0",
                            all(row[9] == 0 for row in rows),
                        ]
                    ]
                    if args.desk
                    else []
                ),
            ],
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=30, help="new users in the burst")
    parser.add_argument("--limit", type=int, default=20, help="group messages per window")
    parser.add_argument("--window", type=float, default=5.0, help="seconds")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--desk", action="store_true", help="BOARD=on, TOPIC_ICONS=on")
    asyncio.run(main(parser.parse_args()))
