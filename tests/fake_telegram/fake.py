"""``FakeTelegram``: a faithful fake of the Telegram Bot API server for end-to-end tests."""

from __future__ import annotations

import json
import logging
from email import policy
from email.parser import BytesParser
from typing import Any

from .faults import Faults, RateLimits, Violation
from .methods import BotApi
from .params import Params, UploadedFile
from .people import People
from .records import CallRecord, UnmodelledCall
from .server import ApiServer
from .state import World
from .updates import Changes, UpdateQueue, WebhookAttempt, WebhookDelivery

logger = logging.getLogger(__name__)


class FakeTelegram(People):
    """A Bot API server on 127.0.0.1 that a real aiogram ``Bot`` can talk to.

    ``fake = FakeTelegram(); await fake.start()`` then point the bot at ``fake.base_url`` with
    ``AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url))``.
    """

    def __init__(
        self,
        token: str = "123456:TEST-token",
        *,
        bot_id: int | None = None,
        bot_username: str = "support_test_bot",
        bot_first_name: str = "Support Bot",
    ) -> None:
        self.token = token
        self.changes = Changes()
        self.world = World(
            bot_id=bot_id if bot_id is not None else int(token.split(":", 1)[0]),
            bot_username=bot_username,
            bot_first_name=bot_first_name,
        )
        self.updates = UpdateQueue(self.changes)
        self.faults = Faults()
        self.limits = RateLimits()
        self.calls: list[CallRecord] = []
        self.unknown_calls: list[UnmodelledCall] = []
        self.webhook = WebhookDelivery(
            self.updates, self.changes, self.world.now, self._webhook_reply
        )
        self.api = BotApi(self)
        self.stopping = False
        self._server = ApiServer(self)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port`` (port 0: any free port; see ``base_url``)."""
        self.stopping = False
        await self.webhook.start()
        await self._server.start(host, port)

    async def stop(self) -> None:
        """Answer pending long polls, stop webhook delivery, close the server."""
        self.stopping = True
        self.changes.notify()
        await self.webhook.stop()
        await self._server.stop()

    @property
    def base_url(self) -> str:
        if self._server.port is None:
            raise RuntimeError("FakeTelegram is not started")
        return f"http://127.0.0.1:{self._server.port}"

    # -- switches -----------------------------------------------------------------------------

    @property
    def topic_deleted_error(self) -> str | None:
        """None: sends into a deleted topic fail with "message thread not found";
        "TOPIC_DELETED": they fail with that (Telegram's "while cached" variant)."""
        return self.world.topic_deleted_error

    @topic_deleted_error.setter
    def topic_deleted_error(self, value: str | None) -> None:
        self.world.topic_deleted_error = value

    @property
    def reply_not_found_error(self) -> str:
        """The wording of a failed reply; older servers said "message to reply not found" or
        "reply message not found", and the bot must accept all of them."""
        return self.world.reply_not_found_error

    @reply_not_found_error.setter
    def reply_not_found_error(self, value: str) -> None:
        self.world.reply_not_found_error = value

    @property
    def webhook_retry_delay(self) -> float:
        return self.webhook.retry_delay

    @webhook_retry_delay.setter
    def webhook_retry_delay(self, seconds: float) -> None:
        self.webhook.retry_delay = seconds

    @property
    def webhook_attempts(self) -> list[WebhookAttempt]:
        return self.webhook.attempts

    # -- faults and limits --------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        error_code: int = 429,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        chat_id: int | str | None = None,
    ) -> None:
        """The next ``times`` calls of ``method`` (to ``chat_id`` if given) fail with
        ``error_code`` and Telegram's wording (429 carries ``retry_after``, default 1)."""
        self.faults.fail_next(
            method,
            error_code=error_code,
            description=description,
            retry_after=retry_after,
            times=times,
            chat_id=chat_id,
        )

    def drop_connection_next(
        self, method: str, *, after_effect: bool, times: int = 1, chat_id: int | str | None = None
    ) -> None:
        """The next calls of ``method`` get their connection closed without an answer, before
        the call takes effect or after it (the message exists, the client never heard)."""
        self.faults.drop_connection_next(
            method, after_effect=after_effect, times=times, chat_id=chat_id
        )

    def rate_limit(self, chat_id: int, *, limit: int = 20, window: float = 60.0) -> None:
        """Telegram's flood limit for one chat: ``limit`` new messages per ``window`` seconds."""
        self.limits.limit_chat(chat_id, limit, window)

    def global_rate_limit(self, per_second: int = 30) -> None:
        """At most ``per_second`` new messages a second across all chats."""
        self.limits.limit_globally(per_second)

    def telegram_rate_limits(
        self,
        *,
        group_per_minute: int = 20,
        private_per_second: int = 1,
        global_per_second: int = 30,
    ) -> None:
        """Telegram's published limits for every chat without its own ``rate_limit``: 20
        messages a minute into a group, 1 a second into a private chat, 30 a second overall."""
        self.limits.defaults["group"] = (group_per_minute, 60.0)
        self.limits.defaults["private"] = (private_per_second, 1.0)
        self.limits.limit_globally(global_per_second)

    @property
    def violations(self) -> list[Violation]:
        """Calls made to a chat before its retry_after had passed."""
        return self.limits.violations

    # -- checks -------------------------------------------------------------------------------

    def assert_no_unknown_calls(self) -> None:
        """Fail loudly if the bot called a method (or used a feature) the fake does not know."""
        if self.unknown_calls:
            lines = "\n".join(
                f"  {call.method}: {call.reason} {call.params}" for call in self.unknown_calls
            )
            raise AssertionError(f"the bot made calls FakeTelegram does not model:\n{lines}")

    # -- webhook replies ----------------------------------------------------------------------

    async def _webhook_reply(self, body: bytes, content_type: str) -> None:
        """Telegram executes a method call given in the webhook's response body."""
        params: dict[str, Any] = {}
        if content_type.startswith("multipart/form-data"):
            header = f"Content-Type: {content_type}\r\n\r\n".encode()
            message = BytesParser(policy=policy.default).parsebytes(header + body)
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if not isinstance(name, str):
                    continue
                filename = part.get_filename()
                if filename is not None:
                    data = part.get_payload(decode=True)
                    params[name] = UploadedFile(
                        name, filename, part.get_content_type(), bytes(data or b"")
                    )
                else:
                    params[name] = part.get_content()
        elif content_type.startswith("application/json"):
            try:
                decoded = json.loads(body)
            except ValueError:
                return
            if isinstance(decoded, dict):
                params = decoded
        method = params.pop("method", None)
        if isinstance(method, str) and method:
            await self._server.execute(method, Params(params))
