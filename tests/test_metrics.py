"""`GET /metrics`: the real bot against the fake Telegram server, read as Prometheus reads it."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.fake_telegram import FakeTelegram, Group, User
from tests.harness import InProcessBot


async def scrape(
    bot: InProcessBot,
) -> tuple[str, dict[tuple[str, frozenset[tuple[str, str]]], float]]:
    """The content type and every sample of `/metrics`, keyed by name and labels."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{bot.port}/metrics") as response,
    ):
        assert response.status == 200
        content_type = response.headers["Content-Type"]
        text = await response.text()
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return content_type, samples


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """A sample's value; a missing sample fails the test (0 is not the same as absent)."""
    key = (name, frozenset(labels.items()))
    if key not in samples:
        raise AssertionError(f"no sample {name}{labels} in /metrics")
    return samples[key]


def topic_of(fake: FakeTelegram, group: Group, user: User) -> int:
    return fake.topic_named(group, user.first_name).thread_id


async def test_metrics_count_what_the_people_saw(
    fake: FakeTelegram, group: Group, bot_env: dict[str, str], tmp_path: Path
) -> None:
    alice = fake.add_user("Alice")
    bob = fake.add_user("Bob")
    carol = fake.add_user("Carol")
    olga = fake.add_operator(group, "Olga")
    bot = InProcessBot(tmp_path, {**bot_env, "MAX_ATTEMPTS": "2"})
    await bot.start()
    try:
        _, before = await scrape(bot)

        await fake.user_sends(alice, "hello")
        await fake.user_sends(alice, photo=True, caption="my screen")
        await fake.user_sends(bob, "hi there")
        await fake.wait_for(
            lambda: (
                len(fake.topics(group)) == 2
                and len(fake.topic_messages(group, topic_of(fake, group, alice))) == 3
            ),
            timeout=10,
            what="two topics, Alice's with a card and two copies",
        )
        # One 429 on the way to Alice: flood control waits it out.
        fake.fail_next("copyMessage", error_code=429, retry_after=1, chat_id=alice.id)
        await fake.operator_sends(
            olga, group, "hello Alice", thread_id=topic_of(fake, group, alice)
        )
        await fake.wait_for(lambda: fake.messages_from_bot(alice), timeout=10, what="the answer")
        # Bob blocked the bot: the operator's answer cannot reach him.
        await fake.user_blocks_bot(bob)
        answer = await fake.operator_sends(
            olga, group, "Bob?", thread_id=topic_of(fake, group, bob)
        )
        await fake.wait_for(
            lambda: any(
                (m.get("reply_to_message") or {}).get("message_id") == answer["message_id"]
                for m in fake.messages_from_bot(group)
            ),
            timeout=10,
            what="the 'not delivered' note",
        )
        # Carol's message cannot be copied: tried twice (MAX_ATTEMPTS), then parked.
        fake.fail_next("copyMessage", error_code=500, times=8, chat_id=group.id)
        await fake.user_sends(carol, "anyone?")
        await fake.wait_for(
            lambda: fake.general_messages(group), timeout=15, what="the alert in General"
        )
        content_type, after = await scrape(bot)
    finally:
        assert await bot.stop() == 0

    assert content_type.startswith("text/plain; version=")
    # Fresh counters per run, every failure reason present from the start.
    # Nothing relayed yet: the labelled counter has no samples at all.
    assert not [key for key in before if key[0] == "support_bot_messages_relayed_total"]
    for reason in ("blocked", "deactivated", "refused", "unsupported", "parked"):
        assert ("support_bot_delivery_failures_total", frozenset({("reason", reason)})) in before
    assert value(before, "support_bot_inbox_pending_updates") == 0

    relayed = "support_bot_messages_relayed_total"
    assert value(after, relayed, direction="user", content_type="text") == 2
    assert value(after, relayed, direction="user", content_type="photo") == 1
    assert value(after, relayed, direction="operator", content_type="text") == 1
    assert value(after, "support_bot_topics_created_total") == 3
    failures = "support_bot_delivery_failures_total"
    assert value(after, failures, reason="blocked") == 1
    assert value(after, failures, reason="parked") == 1
    assert value(after, failures, reason="refused") == 0
    assert value(after, "support_bot_update_retries_total") == 1
    assert value(after, "support_bot_telegram_flood_waits_total") == 1
    assert value(after, "support_bot_telegram_retried_errors_total") == 2 * 3
    assert value(after, "support_bot_inbox_failed_updates") == 1
    assert value(after, "support_bot_inbox_pending_updates") == 0
    # 7 updates from people, and 3 "topic created" service messages.
    received = value(after, "support_bot_updates_received_total")
    assert received == 10
    # Every attempt at an update was timed: each update once, Carol's twice.
    handled = value(after, "support_bot_handler_duration_seconds_count")
    assert handled == received + 1
    assert value(after, "support_bot_handler_duration_seconds_bucket", le="+Inf") == handled
    assert value(after, "support_bot_updates_handled_total") == received - 1
    assert fake.violations == []  # Alice's 429 was waited out, not run into
