"""An album whose items straddle a restart still reaches the operators as one album.

Telegram sends an album's items as separate updates; the engine holds an album at the end of
a queue for `album_window` so that late items join it. Items resumed from the inbox after a
restart must be held too: the rest of their album is what the first getUpdates brings.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from tests.fake_telegram import User
from tests.relay_helpers import Desk, open_desk, poll


async def two_items_held_when_the_bot_stops(desk: Desk, user: User) -> tuple[int, str, list[Any]]:
    """`user` sends two photos of an album; the bot stores them and is stopped (cleanly) while
    it holds them for the rest. Returns the topic, the album's media_group_id and the items."""
    await desk.fake.user_sends(user, "photos of the damage follow")
    topic_id = await desk.first_message_topic(user)
    group_id = desk.fake.world.new_media_group_id()
    album = [await desk.fake.user_sends(user, photo=True, media_group_id=group_id)]
    album.append(await desk.fake.user_sends(user, photo=True, media_group_id=group_id))

    async def both_stored() -> bool:
        pending = await desk.db.inbox.pending()
        return len([item for item in pending if group_id in item.payload]) == 2

    # Stored, and held for `album_window` in case more items come: stop the bot now.
    await poll(both_stored, "the two album items in the inbox")
    assert await desk.bot.stop() == 0
    assert await both_stored(), "the bot handled the items before it was stopped"
    assert len(desk.topic_messages(topic_id)) == 2  # the card and the text only
    return topic_id, group_id, album


def assert_one_album_of_three(desk: Desk, topic_id: int, mark: int, album: list[Any]) -> None:
    # The card, the text and the three photos, nothing else; the photos are one album, copied
    # with one copyMessages call.
    copies = desk.topic_messages(topic_id)[2:]
    assert len(copies) == 3
    calls = desk.calls_since(mark, "copyMessages")
    assert [call.params["message_ids"] for call in calls] == [[m["message_id"] for m in album]]
    assert desk.calls_since(mark, "copyMessage") == []
    assert all("photo" in copy for copy in copies)
    assert len({copy.get("media_group_id") for copy in copies}) == 1
    assert copies[0].get("media_group_id") is not None


async def test_an_album_split_by_a_restart_reaches_the_operators_as_one_album(
    tmp_path: Path,
) -> None:
    async with asynccontextmanager(open_desk)(tmp_path) as desk:
        user = desk.new_user()
        topic_id, group_id, album = await two_items_held_when_the_bot_stops(desk, user)
        mark = len(desk.fake.calls)

        # The third photo is sent while the bot is down; Telegram keeps it for the next poll.
        album.append(await desk.fake.user_sends(user, photo=True, media_group_id=group_id))
        await desk.bot.start()

        await desk.copies_in_topic(topic_id, 4, timeout=10)
        await desk.settle()

    assert_one_album_of_three(desk, topic_id, mark, album)


async def test_an_album_split_by_a_restart_waits_out_a_slow_first_poll(tmp_path: Path) -> None:
    """The rest of the album comes with the intake's first batch, which may take longer than
    one `album_window` after the resumed items are queued (here: three failed polls, 1.75 to
    3.5 s of the poller's backoff)."""
    async with asynccontextmanager(open_desk)(tmp_path) as desk:
        user = desk.new_user()
        topic_id, group_id, album = await two_items_held_when_the_bot_stops(desk, user)
        mark = len(desk.fake.calls)

        album.append(await desk.fake.user_sends(user, photo=True, media_group_id=group_id))
        desk.fake.fail_next("getUpdates", error_code=502, times=3)
        await desk.bot.start()

        await desk.copies_in_topic(topic_id, 4, timeout=15)
        await desk.settle()

    assert len([c for c in desk.calls_since(mark, "getUpdates") if c.error_code == 502]) == 3
    assert_one_album_of_three(desk, topic_id, mark, album)
