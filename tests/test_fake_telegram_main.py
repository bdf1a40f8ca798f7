"""`python -m tests.fake_telegram`: the standalone fake walks a real bot process through one
conversation (what the container check relies on)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tests.conftest import BOT_TOKEN, OPERATOR_CHAT_ID
from tests.harness import ROOT, BotProcess, free_port


async def test_the_standalone_fake_scripts_a_conversation_with_the_bot(tmp_path: Path) -> None:
    port = free_port()
    fake = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fake_telegram",
        "--port",
        str(port),
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    assert fake.stdout is not None
    bot = BotProcess(
        tmp_path,
        {
            "BOT_TOKEN": BOT_TOKEN,
            "OPERATOR_CHAT_ID": str(OPERATOR_CHAT_ID),
            "TELEGRAM_API_URL": f"http://127.0.0.1:{port}",
            "BOARD": "off",  # the board would take message ids in the group before the topic
        },
    )
    lines: list[str] = []
    try:
        first = await asyncio.wait_for(fake.stdout.readline(), 30)
        lines.append(first.decode().strip())
        assert lines[0] == f"api: http://127.0.0.1:{port}"
        await bot.start_and_wait_healthy()
        while not lines[-1].startswith("answered:"):
            line = await asyncio.wait_for(fake.stdout.readline(), 30)
            assert line, f"the fake exited: {lines}"
            lines.append(line.decode().strip())
        assert await bot.terminate() == 0
        fake.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(fake.communicate(), 30)
    finally:
        await bot.close()
        if fake.returncode is None:
            fake.kill()
            await fake.wait()
    assert fake.returncode == 0
    assert lines[1:] == [
        "polling: the bot called getUpdates; Alice writes",
        "relayed: topic 1 'Alice Smith @alice' got 'Hello, my order has not arrived'",
        "answered: Alice got 'Sorry! It ships today.'",
    ]
    assert rest.decode().splitlines() == ["stopped"]
