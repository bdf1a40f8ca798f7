"""Summarise a py-spy profile of the bot (collapsed stacks) by what the time is spent on.

`.venv/bin/python bench/profile_summary.py FILE [--top 25]`

FILE comes from `bench/relay.py --only bot --py-spy FILE` (py-spy `--format raw`). Samples whose
innermost frame is a thread waiting for work (the event loop in select(), aiosqlite's and the
thread pool's workers blocked on their queues) are idle and left out; py-spy counts some of them
as active. The rest is split by thread (event loop / aiosqlite / thread pool), then the event
loop's samples by the first rule below that matches the stack, in order.
"""

from __future__ import annotations

import argparse
import concurrent.futures.thread
import inspect
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiosqlite.core


def _queue_get_frame(function: Callable[..., Any], path: str) -> str:
    """`name (path:line)` of the line where a worker thread blocks on its queue."""
    lines, first = inspect.getsourcelines(function)
    for offset, text in enumerate(lines):
        if ".get(" in text:
            return f"{function.__name__} ({path}:{first + offset})"
    raise RuntimeError(f"no queue get in {function.__name__}")


IDLE_LEAVES = (
    "EpollSelector.select ",
    _queue_get_frame(concurrent.futures.thread._worker, "concurrent/futures/thread.py"),
    _queue_get_frame(aiosqlite.core._connection_worker_thread, "aiosqlite/core.py"),
)

# (category, frame prefixes: the stack matches when any frame starts with one of them)
RULES: list[tuple[str, tuple[str, ...]]] = [
    ("logging (Logger.info/handlers)", ("Logger._log", "Logger.handle", "Handler.handle")),
    ("aiogram Response[...] class rebuilt (pydantic generic cache)", ("create_generic_submodel",)),
    ("sync filters sent to a thread (asyncio.to_thread)", ("to_thread ",)),
    ("content.payload_json (model_dump_json)", ("payload_json ",)),
    ("engine: Update.model_validate_json", ("DeliveryEngine._handle.<locals>.<listcomp>",)),
    ("intake: inbox_add (Database)", ("DeliveryEngine.accept",)),
    ("intake: getUpdates (request, response parsing)", ("Poller.run",)),
    ("engine: inbox_done (Database)", ("Database.inbox_done",)),
    ("relay: storage calls (Database, main-thread side)", ("Database.",)),
    ("relay: Bot API calls (aiogram request, aiohttp)", ("Bot.__call__",)),
    ("relay: its own code", ("Relay.",)),
    ("dispatcher: routing, middlewares", ("Dispatcher.feed_update",)),
    ("engine: queueing", ("DeliveryEngine.",)),
    ("aiohttp / asyncio plumbing (responses, wakeups)", ("",)),
]


def frames_of(stack: str) -> list[str]:
    return stack.split(";")


def main(args: argparse.Namespace) -> None:
    by_thread: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    sqlite_leaf: Counter[str] = Counter()
    total = idle = 0
    for line in Path(args.file).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = frames_of(stack)
        if frames[-1].startswith(IDLE_LEAVES):
            idle += n
            continue
        self_time[re.sub(r":\d+\)$", ")", frames[-1])] += n
        if any(f.startswith("_connection_worker_thread") for f in frames):
            by_thread["aiosqlite thread (SQLite, fsync)"] += n
            sqlite_leaf[re.sub(r":\d+\)$", ")", frames[-1])] += n
            continue
        if any(f.startswith("_worker (concurrent") for f in frames):
            by_thread["thread pool (filters run by to_thread)"] += n
            continue
        by_thread["event loop thread"] += n
        for name, prefixes in RULES:
            if any(f.startswith(prefixes) for f in frames):
                categories[name] += n
                break
    busy = total - idle
    print(f"{total} samples, {idle} idle (left out), {busy} busy")
    print()
    print("| thread | share of busy samples |")
    print("|---|---|")
    for name, n in by_thread.most_common():
        print(f"| {name} | {n / busy:.1%} |")
    loop = by_thread["event loop thread"]
    print()
    print("| event loop thread: spent on | share of the loop's busy samples |")
    print("|---|---|")
    for name, n in categories.most_common():
        print(f"| {name} | {n / loop:.1%} |")
    print()
    print(f"top {args.top} functions by self time (share of busy samples)")
    for name, n in self_time.most_common(args.top):
        print(f"  {n / busy:6.1%}  {name}")
    if sqlite_leaf:
        print()
        print("aiosqlite thread, innermost frames")
        for name, n in sqlite_leaf.most_common(8):
            print(f"  {n / busy:6.1%}  {name}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file")
    parser.add_argument("--top", type=int, default=25)
    main(parser.parse_args())
