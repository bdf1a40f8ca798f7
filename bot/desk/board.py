"""`Board`: one message in General, pinned by the bot, that shows the queue at a glance.

It is edited in place, never re-posted, and only when its text changed; the scheduler refreshes
it at most once every `BOARD_INTERVAL` seconds. When it was deleted, a new one is posted and
pinned: found at the next change, or by an edit to the same text every `PROBE_EVERY` seconds
(and at start), which Telegram answers "not modified" while the board is there.

Every call is in flood control's background lane: customers' and operators' messages go first.
The board is in English, like the bot's other notes in General.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import LinkPreviewOptions

from bot.delivery.flood import in_background
from bot.desk.queue import QUEUE_LENGTH, render_queue
from bot.relay import errors
from bot.relay.texts import ENGLISH
from storage import Database

logger = logging.getLogger(__name__)

# The board links to topics: no preview of the first link.
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
# Seconds between edits of an unchanged board (Telegram answers "not modified" while it is
# there): a board deleted on a quiet desk, or while the bot was down, is posted again.
PROBE_EVERY = 300.0


class Board:
    """The live queue pinned in General."""

    def __init__(
        self,
        *,
        bot: Bot,
        db: Database,
        group_id: int,
        room: Callable[[int], Awaitable[None]],
        clock: Callable[[], datetime],
    ) -> None:
        self._bot = bot
        self._db = db
        self._group = group_id
        # Waits until an edit in the group takes nothing from customers' messages.
        self._room = room
        self._clock = clock
        self._probed: float | None = None  # when an edit last found the board there

    async def refresh(self) -> None:
        """Show the queue as it is once the group has room: edit the board if its text
        changed."""
        await self._room(self._group)
        now = self._clock()
        queue = await self._db.desk.queue(limit=QUEUE_LENGTH)
        text = render_queue(queue, now=now, texts=ENGLISH, group_id=self._group)
        board = await self._db.desk.board()
        if board is None:
            await self._post(text)
            return
        message_id, shown = board
        probe = self._probed is None or time.monotonic() - self._probed >= PROBE_EVERY
        if text == shown and not probe:
            return
        try:
            with in_background():
                await self._bot.edit_message_text(
                    chat_id=self._group,
                    message_id=message_id,
                    text=text,
                    link_preview_options=_NO_PREVIEW,
                )
        except TelegramBadRequest as error:
            if errors.edit_target_gone(error):
                logger.info("The board (message %d) was deleted; posting a new one", message_id)
                await self._post(text)
                return
            if not errors.message_not_modified(error):
                raise
        self._probed = time.monotonic()
        if text != shown:
            await self._db.desk.set_board(message_id, text)

    async def _post(self, text: str) -> None:
        """A new board, recorded before it is pinned: a failed pin does not post it again."""
        with in_background():
            sent = await self._bot.send_message(
                chat_id=self._group, text=text, link_preview_options=_NO_PREVIEW
            )
        await self._db.desk.set_board(sent.message_id, text)
        try:
            with in_background():
                await self._bot.pin_chat_message(
                    chat_id=self._group, message_id=sent.message_id, disable_notification=True
                )
        except TelegramBadRequest as error:
            # No right to pin: the board works unpinned; say how to fix it, once per board.
            logger.warning(
                "Cannot pin the board (message %d): %s; give the bot the 'Pin messages' right",
                sent.message_id,
                error.message,
            )
        logger.info("Board posted in General as message %d", sent.message_id)
