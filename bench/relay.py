"""Relay throughput and latency: the real bot process against the floor.

`.venv/bin/python bench/relay.py [--users 50] [--messages 20] [--rate 50] [--duration 8]
[--rounds 2]`

Each round starts a fresh fake Telegram (tests/fake_telegram) on loopback, with no added latency
and no rate limits, then a bot process against it: `python -m bot` (GLOBAL_RATE_LIMIT=1000, the
highest allowed, so its own token bucket does not limit it; everything else at its defaults,
LOG_LEVEL=INFO) or the floor, `bench/floor_bot.py` (a minimal aiogram bot making the same calls,
no storage, no engine). Rounds alternate floor, bot, floor, bot, ...

In each round:

1. warm-up: every user sends one message (the bot creates their topics);
2. burst, users -> operators: `users` x `messages` messages sent at once, interleaved; measured
   from the first send to the last copy stored by the fake: messages/s, and per message the
   latency from the send (the update is queued in the fake) to its copy (copyMessage answered);
3. burst, operators -> users: the same, an operator writing in every topic;
4. open loop: messages offered at `rate` per second for `duration` seconds, round robin over the
   users (then over the topics), one direction at a time: latency p50 / p99.

Also per phase: CPU time the bot process used per message (a measure less sensitive to the
machine's load than wall-clock time).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _common import (
    OPERATOR_CHAT_ID,
    TEXT,
    Proc,
    Watch,
    floor_bot,
    latency_summary,
    real_bot,
    running_fake,
    table,
    wait_polling,
)

Send = Callable[[int], Awaitable[tuple[int, int]]]  # message number -> copy key


async def burst(watch: Watch, proc: Proc, sends: list[Send], seconds: float) -> dict[str, Any]:
    """Send everything at once; wait for every copy."""
    base = len(watch.copies)
    cpu0, fake_cpu0 = proc.cpu(), time.process_time()
    started = time.monotonic()
    sent: dict[tuple[int, int], float] = {}
    for i, send in enumerate(sends):
        key = await send(i)
        sent[key] = time.monotonic()
    n = len(sends)
    complete = await watch.until(lambda: len(watch.copies) - base >= n, seconds)
    cpu, fake_cpu = proc.cpu() - cpu0, time.process_time() - fake_cpu0
    arrived = [watch.copies[k].done for k in sent if k in watch.copies]
    latencies = [watch.copies[k].done - t for k, t in sent.items() if k in watch.copies]
    elapsed = max(arrived) - started if arrived else float("nan")
    return {
        "n": n,
        "lost": n - len(arrived) if not complete else 0,
        "msg_s": len(arrived) / elapsed,
        "cpu_ms": cpu / n * 1000,
        "fake_cpu_ms": fake_cpu / n * 1000,
        **latency_summary(latencies),
    }


async def open_loop(
    watch: Watch, proc: Proc, sends: list[Send], rate: float, seconds: float
) -> dict[str, Any]:
    """Offer one message every 1/rate seconds, whatever happens to the earlier ones."""
    base = len(watch.copies)
    cpu0, fake_cpu0 = proc.cpu(), time.process_time()
    sent: dict[tuple[int, int], float] = {}
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    for i, send in enumerate(sends):
        delay = start + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        key = await send(i)
        sent[key] = time.monotonic()
    n = len(sends)
    complete = await watch.until(lambda: len(watch.copies) - base >= n, seconds)
    cpu, fake_cpu = proc.cpu() - cpu0, time.process_time() - fake_cpu0
    latencies = [watch.copies[k].done - t for k, t in sent.items() if k in watch.copies]
    return {
        "n": n,
        "lost": n - len(latencies) if not complete else 0,
        "msg_s": rate,
        "cpu_ms": cpu / n * 1000,
        "fake_cpu_ms": fake_cpu / n * 1000,
        **latency_summary(latencies),
    }


async def one_round(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-relay-{kind}-") as tmp:
        workdir = Path(tmp)
        async with running_fake() as (fake, group, watch):
            operator = fake.add_operator(group, "Olga")
            users = [
                fake.add_user(f"User{i}", "Bench", username=f"bench_user_{i}")
                for i in range(args.users)
            ]
            if kind == "bot":
                extra = dict(item.split("=", 1) for item in args.bot_env)
                proc = real_bot(fake, workdir, **{"GLOBAL_RATE_LIMIT": "1000", **extra})
            else:
                proc = floor_bot(fake, workdir)
            await proc.start()
            spy: asyncio.subprocess.Process | None = None
            try:
                startup = await wait_polling(proc, watch)
                if args.py_spy and kind == "bot":
                    spy = await asyncio.create_subprocess_exec(
                        str(Path(sys.executable).with_name("py-spy")),
                        "record",
                        "--pid",
                        str(proc.pid),
                        "--rate",
                        "250",
                        "--format",
                        "raw",
                        "--output",
                        args.py_spy,
                        stdout=asyncio.subprocess.DEVNULL,
                    )

                # 1. warm-up: one topic per user
                firsts = [await fake.user_sends(u, "hi") for u in users]
                keys = [(u.id, int(m["message_id"])) for u, m in zip(users, firsts, strict=True)]
                if not await watch.until(lambda: all(k in watch.copies for k in keys), 60):
                    raise RuntimeError(f"warm-up did not finish:\n{proc.log_tail()}")
                topics = [watch.copies[k].thread_id for k in keys]
                assert all(t is not None for t in topics)

                def user_send(i: int) -> Send:
                    user = users[i % len(users)]

                    async def send(n: int) -> tuple[int, int]:
                        message = await fake.user_sends(user, f"{TEXT}{n}")
                        return user.id, int(message["message_id"])

                    return send

                def operator_send(i: int) -> Send:
                    topic = topics[i % len(topics)]

                    async def send(n: int) -> tuple[int, int]:
                        message = await fake.operator_sends(
                            operator, group, f"Answer {n}", thread_id=topic
                        )
                        return OPERATOR_CHAT_ID, int(message["message_id"])

                    return send

                total = args.users * args.messages
                results: dict[str, Any] = {"startup_s": startup}
                results["burst u->o"] = await burst(
                    watch, proc, [user_send(i) for i in range(total)], args.timeout
                )
                results["burst o->u"] = await burst(
                    watch, proc, [operator_send(i) for i in range(total)], args.timeout
                )
                offered = int(args.rate * args.duration)
                results[f"open {args.rate:g}/s u->o"] = await open_loop(
                    watch, proc, [user_send(i) for i in range(offered)], args.rate, args.timeout
                )
                results[f"open {args.rate:g}/s o->u"] = await open_loop(
                    watch,
                    proc,
                    [operator_send(i) for i in range(offered)],
                    args.rate,
                    args.timeout,
                )
                results["rss_mb"] = proc.status()["VmHWM"] / 1024
                results["errors"] = dict(watch.errors)
            finally:
                if spy is not None:
                    spy.send_signal(signal.SIGINT)  # py-spy writes its output and exits
                    await spy.wait()
                code = await proc.stop()
            if code not in (0, None):
                print(f"warning: {kind} exited with {code}:\n{proc.log_tail()}")
            return results


async def main(args: argparse.Namespace) -> None:
    rounds: list[tuple[int, str, dict[str, Any]]] = []
    kinds = ("floor", "bot") if args.only == "both" else (args.only,)
    for r in range(args.rounds):
        for kind in kinds:
            result = await one_round(kind, args)
            rounds.append((r + 1, kind, result))
            print(f"round {r + 1} {kind}: done", flush=True)

    first = rounds[0][2]
    phases = [k for k in first if isinstance(first[k], dict) and "n" in first[k]]
    rows = []
    for r, kind, result in rounds:
        for phase in phases:
            p = result[phase]
            rows.append(
                [
                    r,
                    kind,
                    phase,
                    p["n"],
                    p["msg_s"],
                    p["p50"],
                    p["p99"],
                    p["max"],
                    p["cpu_ms"],
                    p["fake_cpu_ms"],
                    p["lost"],
                ]
            )
    print()
    print(
        f"{args.users} users x {args.messages} messages per burst; open loop {args.rate:g} msg/s "
        f"for {args.duration:g} s; bot with GLOBAL_RATE_LIMIT=1000, LOG_LEVEL=INFO"
    )
    print(
        table(
            [
                "round",
                "bot",
                "phase",
                "msgs",
                "msg/s",
                "p50 ms",
                "p99 ms",
                "max ms",
                "bot CPU ms/msg",
                "fake CPU ms/msg",
                "lost",
            ],
            rows,
        )
    )

    # Summary: the best round of each (highest throughput; lowest open-loop p99).
    def best(kind: str, phase: str, key: str, high: bool) -> float:
        values = [res[phase][key] for _, k, res in rounds if k == kind]
        if not values:
            return float("nan")
        return float(max(values) if high else min(values))

    summary = []
    for phase in phases:
        if phase.startswith("burst"):
            b, f = best("bot", phase, "msg_s", True), best("floor", phase, "msg_s", True)
            summary.append([phase, "throughput msg/s", b, f, b / f, ">= 0.6", b / f >= 0.6])
        else:
            b, f = best("bot", phase, "p99", False), best("floor", phase, "p99", False)
            summary.append([phase, "p99 latency ms", b, f, b / f, "bot <= 25 ms", b <= 25])
    print()
    print("best of the rounds:")
    print(table(["phase", "metric", "bot", "floor", "bot/floor", "target", "pass"], summary))
    starts = [(k, res["startup_s"], res["rss_mb"]) for _, k, res in rounds]
    print()
    print(
        table(
            ["bot", "spawn -> first getUpdates s", "peak RSS MB (VmHWM)"],
            [[k, s, m] for k, s, m in starts],
        )
    )
    errors = {f"{k} {r}": res["errors"] for r, k, res in rounds if res["errors"]}
    if errors:
        print(f"non-200 answers from the fake: {errors}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--messages", type=int, default=20, help="per user, per burst")
    parser.add_argument("--rate", type=float, default=50.0, help="open loop, messages/s")
    parser.add_argument("--duration", type=float, default=8.0, help="open loop, seconds")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of floor + bot")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--only", choices=("both", "bot", "floor"), default="both")
    parser.add_argument(
        "--bot-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the real bot (e.g. LOG_LEVEL=WARNING, CONCURRENCY=64)",
    )
    parser.add_argument(
        "--py-spy",
        metavar="FILE",
        help="profile the bot process with py-spy (collapsed stacks to FILE; needs py-spy in "
        "the venv); see bench/profile_summary.py",
    )
    asyncio.run(main(parser.parse_args()))
