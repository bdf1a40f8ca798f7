"""Helpers shared by the benchmarks: the fake Telegram, bot processes, timing and tables.

Not a benchmark itself (the leading underscore); the benchmarks are the other scripts here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import statistics
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
# The bot code under test: this checkout, or another tree (BENCH_CODE=/path, e.g. a `git archive`
# of a commit) while this one is being edited. Imports (the fake Telegram too) come from it.
CODE = Path(os.environ.get("BENCH_CODE") or ROOT).resolve()
for _path in (ROOT, CODE):
    if str(_path) in sys.path:
        sys.path.remove(str(_path))
    sys.path.insert(0, str(_path))

from bot.config import Settings  # noqa: E402
from tests.fake_telegram import FakeTelegram, Group  # noqa: E402
from tests.fake_telegram.params import Params  # noqa: E402

# The same token and group as the test suite (tests/conftest.py).
BOT_TOKEN = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_"
OPERATOR_CHAT_ID = -1001234567890
BOT_USERNAME = "support_test_bot"

# Variables the bot reads (every setting); the benchmark's own environment must not leak them
# into a bot.
_BOT_VARIABLES = frozenset(Settings.model_fields)

TEXT = "Hello, my order #12345 has not arrived yet, can you help? "  # ~60 characters


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- the fake, with completion times of the calls it answers ----------------------------------


@dataclass
class Copy:
    """A successful copyMessage, as the fake answered it."""

    done: float  # time.monotonic() when the fake had stored the copy and answered
    chat_id: int
    thread_id: int | None


@dataclass
class Watch:
    """Wraps the fake's call execution to time every call it answers.

    `copies` maps (from_chat_id, message_id) of a copied message to its (first) copy.
    """

    copies: dict[tuple[int, int], Copy] = field(default_factory=dict)
    first_call: dict[str, float] = field(default_factory=dict)  # method -> first arrival
    calls: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # "method code"
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def attach(self, fake: FakeTelegram) -> None:
        server = fake._server
        original = server.execute

        async def execute(method_name: str, params: Params) -> Any:
            arrived = time.monotonic()
            self.first_call.setdefault(method_name, arrived)
            self.calls[method_name] += 1
            response, drop = await original(method_name, params)
            if response.status != 200:
                self.errors[f"{method_name} {response.status}"] += 1
            elif method_name.lower() == "copymessage":
                key = (int(params.require_int("from_chat_id")), params.require_int("message_id"))
                if key not in self.copies:
                    self.copies[key] = Copy(
                        time.monotonic(),
                        params.require_int("chat_id"),
                        params.integer("message_thread_id"),
                    )
            self.changed.set()
            return response, drop

        server.execute = execute  # type: ignore[method-assign]

    async def until(self, predicate: Callable[[], bool], seconds: float) -> bool:
        """Wait until `predicate()` holds (True), at most `seconds` (False)."""
        deadline = time.monotonic() + seconds
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(remaining, 0.5))
        return True


@contextlib.asynccontextmanager
async def running_fake() -> AsyncIterator[tuple[FakeTelegram, Group, Watch]]:
    """A started fake with the operator group, and a Watch on its calls."""
    fake = FakeTelegram(BOT_TOKEN, bot_username=BOT_USERNAME)
    watch = Watch()
    watch.attach(fake)
    await fake.start()
    group = fake.create_group(OPERATOR_CHAT_ID, "Support", is_forum=True)
    try:
        yield fake, group, watch
    finally:
        await fake.stop()


# --- processes ---------------------------------------------------------------------------------


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM / VmSize of a process, in kB."""
    text = Path(f"/proc/{pid}/status").read_text()
    found = {}
    for key in ("VmRSS", "VmHWM", "VmSize"):
        match = re.search(rf"^{key}:\s+(\d+)", text, re.MULTILINE)
        if match:
            found[key] = int(match.group(1))
    return found


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


class Proc:
    """A bot process (the real bot, or the floor bot) talking to the fake."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        workdir: Path,
        env: dict[str, str],
        name: str,
    ) -> None:
        self.argv = list(argv)
        self.workdir = workdir
        inherited = {k: v for k, v in os.environ.items() if k not in _BOT_VARIABLES}
        path = str(CODE)
        if inherited.get("BENCH_WHATIF"):  # see bench/whatif/sitecustomize.py
            path = f"{BENCH / 'whatif'}{os.pathsep}{path}"
        self.env = {**inherited, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", **env}
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self.process: asyncio.subprocess.Process | None = None
        self.spawned_at = 0.0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self) -> None:
        with self.log_path.open("a", encoding="utf-8") as log:
            self.spawned_at = time.monotonic()
            self.process = await asyncio.create_subprocess_exec(
                *self.argv,
                cwd=self.workdir,
                env=self.env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )

    def status(self) -> dict[str, int]:
        return proc_status(self.pid)

    def cpu(self) -> float:
        return proc_cpu_seconds(self.pid)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]

    async def stop(self, grace: float = 30.0) -> int | None:
        process = self.process
        if process is None or process.returncode is not None:
            return None if process is None else process.returncode
        process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            process.kill()
            return await process.wait()


def bot_env(fake: FakeTelegram, workdir: Path, **extra: str) -> dict[str, str]:
    return {
        "BOT_TOKEN": BOT_TOKEN,
        "OPERATOR_CHAT_ID": str(OPERATOR_CHAT_ID),
        "TELEGRAM_API_URL": fake.base_url,
        "DATABASE_PATH": str(workdir / "bot.sqlite3"),
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(free_port()),
        "LOG_LEVEL": "INFO",
        **extra,
    }


def real_bot(fake: FakeTelegram, workdir: Path, **extra: str) -> Proc:
    """`python -m bot`, configured for the fake."""
    return Proc(
        [sys.executable, "-m", "bot"],
        workdir=workdir,
        env=bot_env(fake, workdir, **extra),
        name="bot",
    )


def floor_bot(fake: FakeTelegram, workdir: Path, **extra: str) -> Proc:
    """`python bench/floor_bot.py`: the same Bot API calls, no storage, no engine."""
    return Proc(
        [sys.executable, str(BENCH / "floor_bot.py")],
        workdir=workdir,
        env=bot_env(fake, workdir, **extra),
        name="floor",
    )


async def wait_polling(proc: Proc, watch: Watch, seconds: float = 60.0) -> float:
    """Wait for the first getUpdates; returns seconds since the process was spawned."""
    ok = await watch.until(
        lambda: (
            "getUpdates" in watch.first_call
            or (proc.process is not None and proc.process.returncode is not None)
        ),
        seconds,
    )
    if not ok or "getUpdates" not in watch.first_call:
        raise RuntimeError(f"{proc.name} did not start polling:\n{proc.log_tail()}")
    return watch.first_call["getUpdates"] - proc.spawned_at


# --- numbers -----------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), nearest-rank on the sorted values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def latency_summary(latencies_s: Sequence[float]) -> dict[str, float]:
    ms = [x * 1000 for x in latencies_s]
    return {
        "p50": percentile(ms, 50),
        "p99": percentile(ms, 99),
        "max": max(ms) if ms else float("nan"),
        "mean": statistics.fmean(ms) if ms else float("nan"),
    }


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (pastes into the README as it is)."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            if value != value:  # NaN
                return "-"
            return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
        return str(value)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) for i, h in enumerate(headers)]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    lines += [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in text
    ]
    return "\n".join(lines)
