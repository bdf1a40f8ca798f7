"""Footprint: peak memory while relaying many messages, and start-up time, with a breakdown.

`.venv/bin/python bench/footprint.py [--messages 20000] [--users 100] [--starts 3] [--no-floor]`

Memory: the real bot (GLOBAL_RATE_LIMIT=1000, LOG_LEVEL=INFO) relays `--messages` messages
against the fake Telegram, in chunks of 500 (alternately users -> operators and operators ->
users), each chunk delivered before the next; its VmRSS and VmHWM (peak RSS, /proc/<pid>/status)
are read at the start and after every tenth of the run. The floor (bench/floor_bot.py) does the
same for comparison. The issue's size is `--messages 100000`.

Start-up: `--starts` fresh starts of `python -m bot` (empty database); from the process spawn to
each Bot API call the fake sees (getMe, getChat, getChatMember: the start-up checks;
deleteWebhook; the first getUpdates). Then what the time before the first call is made of:
the interpreter, importing bot.cli (settings), bot.app (aiogram), measured in a fresh process,
and `python -X importtime` summed by top-level package.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import (
    CODE,
    TEXT,
    Proc,
    Watch,
    floor_bot,
    real_bot,
    running_fake,
    table,
    wait_polling,
)

CHUNK = 500
STARTUP_METHODS = ("getMe", "getChat", "getChatMember", "deleteWebhook", "getUpdates")


def at_least(watch: Watch, copies: int) -> Callable[[], bool]:
    return lambda: len(watch.copies) >= copies


async def relay_many(kind: str, args: argparse.Namespace) -> list[list[Any]]:
    """Rows: (messages relayed, VmRSS MB, VmHWM MB, seconds so far)."""
    with tempfile.TemporaryDirectory(prefix=f"bench-footprint-{kind}-") as tmp:
        async with running_fake() as (fake, group, watch):
            operator = fake.add_operator(group, "Olga")
            users = [
                fake.add_user(f"User{i}", "Bench", username=f"bench_user_{i}")
                for i in range(args.users)
            ]
            if kind == "bot":
                proc: Proc = real_bot(fake, Path(tmp), GLOBAL_RATE_LIMIT="1000")
            else:
                proc = floor_bot(fake, Path(tmp))
            await proc.start()
            rows: list[list[Any]] = []
            try:
                await wait_polling(proc, watch)
                await asyncio.sleep(0.5)

                def sample(done: int) -> None:
                    status = proc.status()
                    rows.append(
                        [
                            done,
                            status["VmRSS"] / 1024,
                            status["VmHWM"] / 1024,
                            time.monotonic() - started,
                        ]
                    )

                started = time.monotonic()
                sample(0)
                firsts = [await fake.user_sends(u, "hi") for u in users]
                keys = [(u.id, int(m["message_id"])) for u, m in zip(users, firsts, strict=True)]
                if not await watch.until(lambda: all(k in watch.copies for k in keys), 60):
                    raise RuntimeError(f"warm-up did not finish:\n{proc.log_tail()}")
                topics = [watch.copies[k].thread_id for k in keys]
                done = len(users)
                step = max(CHUNK, args.messages // 10)
                next_sample = step
                chunk_no = 0
                while done < args.messages:
                    n = min(CHUNK, args.messages - done)
                    base = len(watch.copies)
                    for i in range(n):
                        if chunk_no % 2 == 0:
                            await fake.user_sends(users[i % len(users)], f"{TEXT}{done + i}")
                        else:
                            topic = topics[i % len(topics)]
                            await fake.operator_sends(
                                operator, group, f"Answer {done + i}", thread_id=topic
                            )
                    if not await watch.until(at_least(watch, base + n), 120):
                        raise RuntimeError(f"chunk not delivered:\n{proc.log_tail()}")
                    done += n
                    chunk_no += 1
                    # The fake's own records: not needed, and they slow it down as they grow.
                    fake.calls.clear()
                    watch.copies.clear()
                    if done >= next_sample or done >= args.messages:
                        sample(done)
                        next_sample += step
            finally:
                code = await proc.stop()
            if code not in (0, None):
                print(f"warning: {kind} exited with {code}:\n{proc.log_tail()}")
            return rows


async def start_once() -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-start-") as tmp:
        async with running_fake() as (fake, _group, watch):
            proc = real_bot(fake, Path(tmp))
            await proc.start()
            try:
                await wait_polling(proc, watch)
                status = proc.status()
            finally:
                await proc.stop()
            times = {m: watch.first_call[m] - proc.spawned_at for m in STARTUP_METHODS}
            times["rss_mb"] = status["VmRSS"] / 1024
            return times


PHASES = """
import time, json
t0 = time.perf_counter()
import bot.cli
t1 = time.perf_counter()
import aiogram
t2 = time.perf_counter()
import bot.app
t3 = time.perf_counter()
print(json.dumps({"bot.cli (settings, pydantic)": t1 - t0, "aiogram": t2 - t1,
                  "bot.app (rest)": t3 - t2}))
"""


def import_phases() -> dict[str, float]:
    env = {"PYTHONPATH": str(CODE)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True, env=env)
    interpreter = time.perf_counter() - started
    out = subprocess.run(
        [sys.executable, "-c", PHASES], check=True, env=env, capture_output=True, text=True
    ).stdout
    return {"interpreter start (python -c pass)": interpreter, **json.loads(out)}


def importtime_by_package() -> tuple[Counter[str], list[tuple[str, float, float]]]:
    # Counter of microseconds (ints), shown in seconds.
    """Self time summed by top-level package; and the biggest single modules (self, cumulative)."""
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import bot.app"],
        check=True,
        env={"PYTHONPATH": str(CODE)},
        capture_output=True,
        text=True,
    ).stderr
    by_package: Counter[str] = Counter()
    modules = []
    for line in err.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|")
        module = name.strip()
        by_package[module.split(".")[0]] += int(self_us)
        modules.append((module, int(self_us) / 1e6, int(cumulative_us) / 1e6))
    modules.sort(key=lambda m: m[1], reverse=True)
    return by_package, modules[:8]


async def main(args: argparse.Namespace) -> None:
    kinds = ["bot"] if args.no_floor else ["bot", "floor"]
    for kind in kinds:
        rows = await relay_many(kind, args)
        print()
        print(f"{kind}: relaying {args.messages} messages ({args.users} users)")
        print(table(["relayed", "VmRSS MB", "VmHWM MB", "s"], rows))
        peak = max(r[2] for r in rows)
        if kind == "bot":
            print(
                table(
                    ["check", "result", "target", "pass"],
                    [
                        [
                            f"peak RSS after {args.messages}",
                            f"{peak:.1f} MB",
                            "<= 120 MB",
                            peak <= 120,
                        ]
                    ],
                )
            )

    starts = [await start_once() for _ in range(args.starts)]
    print()
    print(f"start-up of python -m bot, median of {args.starts} starts (s after spawn)")
    rows = [[m, statistics.median(s[m] for s in starts)] for m in STARTUP_METHODS]
    rows.append(["VmRSS at first getUpdates (MB)", statistics.median(s["rss_mb"] for s in starts)])
    print(table(["first call", "s"], rows))
    first = statistics.median(s["getUpdates"] for s in starts)
    print(
        table(
            ["check", "result", "target", "pass"],
            [["spawn -> first getUpdates", f"{first:.2f} s", "<= 1.5 s", first <= 1.5]],
        )
    )

    phases = [import_phases() for _ in range(3)]
    print()
    print("what comes before the first call (fresh process, median of 3)")
    print(table(["phase", "s"], [[k, statistics.median(p[k] for p in phases)] for k in phases[0]]))
    by_package, modules = importtime_by_package()
    print()
    print("python -X importtime -c 'import bot.app', self time by top-level package")
    top = by_package.most_common(10)
    print(table(["package", "s"], [[k, v / 1e6] for k, v in top]))
    print(table(["module (largest self time)", "self s", "cumulative s"], modules))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--no-floor", action="store_true", help="skip the floor bot")
    asyncio.run(main(parser.parse_args()))
