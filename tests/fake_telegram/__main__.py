"""`python -m tests.fake_telegram`: the fake Telegram server on its own, with a scripted customer.

For trying the bot (or its container image) end to end without Telegram:

    python -m tests.fake_telegram --port 8081
    TELEGRAM_API_URL=http://127.0.0.1:8081 BOT_TOKEN=<--token> OPERATOR_CHAT_ID=-1001234567890 \\
        python -m bot

It serves an operator forum group (-1001234567890, the bot an administrator with Manage topics)
with an operator, Olga, and one customer, Alice. Once the bot polls, Alice writes; when the copy
appears in her topic, Olga answers in it; when the answer reaches Alice, the fake says so. Each
step is one line on stdout (`api:`, `polling:`, `relayed:`, `answered:`), for a person or a script
to wait for. It then serves until SIGINT / SIGTERM and exits 0 (1 if the bot called a method the
fake does not model).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable, Sequence

from .fake import FakeTelegram
from .state import User

# The token tests/conftest.py gives the bot: shaped like a real one, accepted only by the fake.
DEFAULT_TOKEN = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_"
OPERATOR_CHAT_ID = -1001234567890
STEP_TIMEOUT = 600.0  # seconds to wait for the bot at each step


def say(line: str) -> None:
    print(line, flush=True)


async def wait(fake: FakeTelegram, predicate: Callable[[], object], what: str) -> None:
    await fake.wait_for(predicate, timeout=STEP_TIMEOUT, what=what)


async def serve(host: str, port: int, token: str, text: str, answer: str) -> int:
    fake = FakeTelegram(token, bot_username="support_test_bot")
    await fake.start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        group = fake.create_group(OPERATOR_CHAT_ID, "Support", is_forum=True)
        olga = fake.add_operator(group, "Olga")
        alice = fake.add_user("Alice", "Smith", "alice")
        port = int(fake.base_url.rsplit(":", 1)[1])
        say(f"api: http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}")
        script = asyncio.create_task(converse(fake, group.id, olga, alice, text, answer))
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({script, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if script.done():
            script.result()  # a step that timed out ends the run with its error
            await stopped
        else:
            script.cancel()
            await asyncio.gather(script, return_exceptions=True)
    finally:
        await fake.stop()
    if fake.unknown_calls:
        say(f"unknown calls: {[call.method for call in fake.unknown_calls]}")
        return 1
    say("stopped")
    return 0


async def converse(
    fake: FakeTelegram, group_id: int, olga: User, alice: User, text: str, answer: str
) -> None:
    await wait(fake, lambda: fake.calls_of("getUpdates"), "the bot to poll")
    say("polling: the bot called getUpdates; Alice writes")
    await fake.user_sends(alice, text)

    def copied() -> int | None:
        for topic in fake.topics(group_id):
            if any(m.get("text") == text for m in fake.topic_messages(group_id, topic.thread_id)):
                return topic.thread_id
        return None

    await wait(fake, copied, "the copy in a topic")
    topic_id = copied()
    assert topic_id is not None
    name = fake.topic(group_id, topic_id).name
    say(f"relayed: topic {topic_id} {name!r} got {text!r}")
    await fake.operator_sends(olga, group_id, answer, thread_id=topic_id)
    await wait(
        fake,
        lambda: any(m.get("text") == answer for m in fake.messages_from_bot(alice)),
        "the answer in Alice's chat",
    )
    say(f"answered: Alice got {answer!r}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fake_telegram", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8081, help="port to listen on (0: any)")
    parser.add_argument(
        "--token",
        default=DEFAULT_TOKEN,
        help=f"the bot token the fake accepts (default {DEFAULT_TOKEN})",
    )
    parser.add_argument("--text", default="Hello, my order has not arrived", help="Alice writes")
    parser.add_argument("--answer", default="Sorry! It ships today.", help="Olga answers")
    args = parser.parse_args(argv)
    return asyncio.run(serve(args.host, args.port, args.token, args.text, args.answer))


if __name__ == "__main__":
    sys.exit(main())
