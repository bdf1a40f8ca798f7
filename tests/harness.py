"""Runs the real bot (`python -m bot`) as a separate process, the way a deployment does.

End-to-end tests point it at the fake Telegram server with TELEGRAM_API_URL and watch what the
people in the fake see. The process is a real one, so it can be stopped with SIGTERM or killed
with SIGKILL at any moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent
# Names the bot reads (every setting); everything else in the test runner's environment is
# passed through.
_BOT_VARIABLES = frozenset(Settings.model_fields)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class BotProcess:
    """One `python -m bot` process with its own environment, database and log file."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.port = int(env.get("HTTP_PORT") or free_port())
        inherited = {k: v for k, v in os.environ.items() if k not in _BOT_VARIABLES}
        self.env = {
            **inherited,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "DATABASE_PATH": str(workdir / "bot.sqlite3"),
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(self.port),
            "LOG_LEVEL": "DEBUG",
            **env,
        }
        self.log_path = workdir / "bot.log"
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/healthz"

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    async def start(self, *args: str) -> None:
        assert self.process is None or self.process.returncode is not None, "already running"
        self.starts += 1
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(f"\n===== start {self.starts} =====\n")
            log.flush()
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                *args,
                cwd=self.workdir,
                env=self.env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )

    async def start_and_wait_healthy(self, timeout: float = 30.0) -> dict[str, Any]:
        await self.start()
        return await self.wait_healthy(timeout)

    async def health(self) -> tuple[int, dict[str, Any]]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.health_url, timeout=aiohttp.ClientTimeout(total=5)) as response,
        ):
            return response.status, await response.json()

    async def wait_healthy(self, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.returncode is not None:
                raise AssertionError(
                    f"the bot exited with {self.process.returncode}:\n{self.log[-4000:]}"
                )
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                status, body = await self.health()
                if status == 200:
                    return body
            if time.monotonic() > deadline:
                raise AssertionError(f"the bot did not become healthy:\n{self.log[-4000:]}")
            await asyncio.sleep(0.1)

    async def wait_exit(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"the bot did not exit:\n{self.log[-4000:]}") from None

    async def terminate(
        self, timeout: float = 30.0, signum: signal.Signals = signal.SIGTERM
    ) -> int:
        """SIGTERM (as `docker stop` sends) or another signal; returns the exit status."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signum)
        return await self.wait_exit(timeout)

    async def kill(self) -> None:
        """SIGKILL: no chance to clean up, like a crash or a power cut of the process."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()

    async def close(self) -> None:
        if self.process is not None and self.process.returncode is None:
            await self.kill()


class InProcessBot:
    """The real bot (`bot.app.run`: Dispatcher, engine, aiohttp session, HTTP server) as a task
    in the test's event loop. Much faster to start than a process; use `BotProcess` for what
    needs a real process (signals, SIGKILL, exit status, one-line errors)."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.port = int(env.get("HTTP_PORT") or free_port())
        self.env = {
            "DATABASE_PATH": str(workdir / "bot.sqlite3"),
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(self.port),
            "LOG_LEVEL": "DEBUG",
            **env,
        }
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[int] | None = None

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/healthz"

    async def health(self) -> tuple[int, dict[str, Any]]:
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.health_url, timeout=aiohttp.ClientTimeout(total=5)) as response,
        ):
            return response.status, await response.json()

    async def start(self, timeout: float = 15.0) -> dict[str, Any]:
        from bot.app import run

        settings = Settings(_env_file=None, **self.env)  # type: ignore[arg-type]
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(run(settings, stop=self._stop))
        deadline = time.monotonic() + timeout
        while True:
            if self._task.done():
                raise AssertionError(f"the bot stopped with status {self._task.result()}")
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                status, body = await self.health()
                if status == 200:
                    return body
            if time.monotonic() > deadline:
                raise AssertionError("the bot did not become healthy")
            await asyncio.sleep(0.05)

    async def stop(self) -> int:
        assert self._stop is not None
        assert self._task is not None
        self._stop.set()
        return await asyncio.wait_for(self._task, 30)


async def settled_health(
    bot: BotProcess | InProcessBot, settled: Callable[[dict[str, Any]], bool], timeout: float = 5
) -> dict[str, Any]:
    """/healthz once `settled(body)` holds: an update is marked handled just after its effect
    is visible in Telegram, so counters lag what the people see by a moment."""
    deadline = time.monotonic() + timeout
    while True:
        _, body = await bot.health()
        if settled(body) or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.02)
