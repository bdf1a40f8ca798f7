"""`Notices`: what the bot itself says — notes for the operators in a topic, texts to a user.

Notes in a topic are HTML composed from `bot.relay.texts` (user-provided parts escaped there).
Texts to a user (welcome, closed, banned, offline) are the built-in ones in the user's language,
or the `*_TEXT` setting when it is set (for everyone; empty means not sent).
"""

from __future__ import annotations

import html
import logging
from typing import Literal

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError

from bot.config import Settings
from bot.metrics import Metrics
from bot.relay import errors
from bot.relay.routes import Route, reply
from bot.relay.texts import texts_for

logger = logging.getLogger(__name__)

UserText = Literal["welcome", "closed", "banned", "offline"]


class Notices:
    """Notes in the operators' topics and configured texts to users."""

    def __init__(self, *, bot: Bot, settings: Settings, metrics: Metrics) -> None:
        self._bot = bot
        self._settings = settings
        self._group = settings.OPERATOR_CHAT_ID
        self._metrics = metrics
        self._hours = settings.working_hours()

    async def note_in_topic(
        self, topic_id: int, text: str, *, reply_to: int | None = None
    ) -> int | None:
        """A note for the operators in a topic; dropped (and logged) if the topic is gone."""
        try:
            sent = await self._bot.send_message(
                chat_id=self._group,
                text=text,
                message_thread_id=topic_id,
                reply_parameters=reply(reply_to),
            )
        except TelegramBadRequest as error:
            logger.warning("Cannot post a note in topic %d: %s", topic_id, error.message)
            return None
        return sent.message_id

    async def undelivered(
        self, route: Route, message_id: int, error: TelegramForbiddenError
    ) -> None:
        """An operator's message did not reach the user: a note replying to it says why."""
        texts = route.texts
        if errors.user_blocked(error):
            reason, label = texts.reason_blocked, "blocked"
        elif errors.user_deactivated(error):
            reason, label = texts.reason_deactivated, "deactivated"
        else:
            reason, label = texts.why_refused(error.message), "refused"
        logger.info(
            "Message %d of topic %d not delivered: %s", message_id, route.topic_id, error.message
        )
        await self.note_in_topic(
            route.topic_id, texts.note_undelivered(reason), reply_to=message_id
        )
        # Counted once the note is out: a retry after a failed note does not count it twice.
        self._metrics.delivery_failed(label)

    def user_text(self, kind: UserText, language_code: str | None) -> str:
        """The text of `kind` for a user: the setting when it is set (for everyone; empty means
        none), else the built-in text in the user's language."""
        configured = {
            "welcome": self._settings.WELCOME_TEXT,
            "closed": self._settings.CLOSED_TEXT,
            "banned": self._settings.BANNED_TEXT,
            "offline": self._settings.OFFLINE_TEXT,
        }[kind]
        if configured is not None:
            return configured
        texts = texts_for(language_code)
        if kind == "offline":
            if self._hours is None:
                return texts.offline
            hours = texts.offline_hours.format(
                hours=html.escape(self._hours.text), timezone=html.escape(self._settings.TIMEZONE)
            )
            return f"{texts.offline}\n{hours}"
        text: str = getattr(texts, kind)
        return text

    async def tell_user(self, user_id: int, kind: UserText, language_code: str | None) -> None:
        """Send the user the text of `kind` (nothing when it is configured empty)."""
        text = self.user_text(kind, language_code)
        if text:
            await self._send_configured_text(user_id, text)

    async def _send_configured_text(self, chat_id: int, text: str) -> None:
        """HTML, or plain text when the HTML of a configured text does not parse."""
        try:
            await self._bot.send_message(chat_id=chat_id, text=text)
        except TelegramForbiddenError as error:
            logger.info("Cannot write to user %d: %s", chat_id, error.message)
        except TelegramBadRequest as error:
            if not errors.cant_parse_entities(error):
                logger.warning("Cannot write to user %d: %s", chat_id, error.message)
                return
            logger.warning(
                "The configured text is not valid HTML (%s); sent as plain text", error.message
            )
            try:
                await self._bot.send_message(chat_id=chat_id, text=text, parse_mode=None)
            except (TelegramBadRequest, TelegramForbiddenError) as again:
                logger.warning("Cannot write to user %d: %s", chat_id, again.message)
