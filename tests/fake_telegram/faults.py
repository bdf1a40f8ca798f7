"""Fault injection (planned failures, dropped connections) and Telegram's flood limits."""

from __future__ import annotations

import math
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import DEFAULT_DESCRIPTIONS, ApiError, too_many_requests

# Calls that put messages into a chat: these are what Telegram's flood limits count. Every
# message the bot causes is counted in its chat's window (see ``consume``) — the service messages
# of topic actions (created, edited: a rename or an icon change, closed, reopened) and of pins
# included — and these calls are refused with 429 when the window is full.
#
# Edits (editMessageText/Caption/Media/ReplyMarkup) are deliberately NOT here: they change a
# message without adding one. Telegram publishes no limit for edits; they are throttled
# separately and much more loosely than new messages, so an edit neither counts towards nor is
# refused by the "20 messages a minute into a group" window. (A chat held by a 429's
# retry_after still refuses every call, edits included: see ``RateLimits.check``.)
MESSAGE_CREATING_METHODS = frozenset(
    {
        "sendMessage", "sendPhoto", "sendDocument", "sendVideo", "sendAnimation", "sendAudio",
        "sendVoice", "sendVideoNote", "sendSticker", "sendLocation", "sendVenue", "sendContact",
        "sendPoll", "sendDice", "sendMediaGroup", "copyMessage", "copyMessages",
        "forwardMessage", "forwardMessages", "createForumTopic", "editForumTopic",
        "closeForumTopic", "reopenForumTopic", "pinChatMessage",
    }
)  # fmt: skip


@dataclass
class PlannedFailure:
    method: str
    error: ApiError
    times: int
    chat_id: int | str | None


@dataclass
class PlannedDrop:
    method: str
    after_effect: bool
    times: int
    chat_id: int | str | None


class Faults:
    def __init__(self) -> None:
        self.failures: list[PlannedFailure] = []
        self.drops: list[PlannedDrop] = []

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
        if error_code == 429:
            retry_after = 1 if retry_after is None else retry_after
            error = too_many_requests(retry_after)
            if description is not None:
                error.description = description
        else:
            if description is None:
                if error_code not in DEFAULT_DESCRIPTIONS:
                    raise ValueError(f"give a description for error_code {error_code}")
                description = DEFAULT_DESCRIPTIONS[error_code]
            parameters = {"retry_after": retry_after} if retry_after is not None else None
            error = ApiError(error_code, description, parameters)
        self.failures.append(PlannedFailure(method.lower(), error, times, chat_id))

    def drop_connection_next(
        self,
        method: str,
        *,
        after_effect: bool,
        times: int = 1,
        chat_id: int | str | None = None,
    ) -> None:
        self.drops.append(PlannedDrop(method.lower(), after_effect, times, chat_id))

    def take_failure(self, method: str, chat_id: int | str | None) -> ApiError | None:
        for planned in self.failures:
            if _matches(planned.method, planned.chat_id, method, chat_id):
                planned.times -= 1
                if planned.times <= 0:
                    self.failures.remove(planned)
                return ApiError(
                    planned.error.error_code, planned.error.description, planned.error.parameters
                )
        return None

    def take_drop(self, method: str, chat_id: int | str | None) -> PlannedDrop | None:
        for planned in self.drops:
            if _matches(planned.method, planned.chat_id, method, chat_id):
                planned.times -= 1
                if planned.times <= 0:
                    self.drops.remove(planned)
                return planned
        return None


def _matches(
    planned_method: str, planned_chat: int | str | None, method: str, chat_id: int | str | None
) -> bool:
    return planned_method == method.lower() and planned_chat in (None, chat_id)


@dataclass
class Violation:
    """A call made to a chat while its retry_after was still running."""

    time: float
    method: str
    chat_id: int | str | None
    seconds_early: float


@dataclass
class _Window:
    limit: int
    window: float
    sent: deque[float] = field(default_factory=deque)
    penalty_until: float = 0.0
    penalty: float = 0.0

    def prune(self, now: float) -> None:
        while self.sent and self.sent[0] <= now - self.window:
            self.sent.popleft()


class RateLimits:
    """Per-chat sliding windows (Telegram: ~20 messages a minute into a group, ~1 a second into
    a private chat) and an optional global one (~30 messages a second).

    A message-creating call beyond a limit gets 429 with ``retry_after`` = whole seconds until a
    slot frees. Any call to that chat before ``retry_after`` has passed (not only a message) is
    a violation: it is recorded and, like Telegram, restarts the penalty. A 429 planned with
    ``fail_next`` sets the same penalty (see ``penalize``).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.per_chat: dict[int | str, _Window] = {}
        self.global_window: _Window | None = None
        # Limits for chats without their own: "private" (user ids > 0) and "group" (ids < 0).
        self.defaults: dict[str, tuple[int, float]] = {}
        self.violations: list[Violation] = []

    def limit_chat(self, chat_id: int | str, limit: int, window: float) -> None:
        self.per_chat[chat_id] = _Window(limit, window)

    def limit_globally(self, per_second: int) -> None:
        self.global_window = _Window(per_second, 1.0)

    def penalize(self, chat_id: int | str | None, retry_after: int) -> None:
        """A 429 was answered for this chat: no call to it for ``retry_after`` seconds."""
        if chat_id is None:
            return
        window = self._window_of(chat_id)
        if window is None:  # a chat without a limit: a window that only carries the penalty
            window = self.per_chat[chat_id] = _Window(limit=sys.maxsize, window=1.0)
        window.penalty = retry_after
        window.penalty_until = self.clock() + retry_after

    def check(self, method: str, chat_id: int | str | None) -> ApiError | None:
        now = self.clock()
        chat_window = self._window_of(chat_id)
        if chat_window is not None and now < chat_window.penalty_until:
            self.violations.append(Violation(now, method, chat_id, chat_window.penalty_until - now))
            chat_window.penalty_until = now + chat_window.penalty
            return too_many_requests(math.ceil(chat_window.penalty))
        if method not in MESSAGE_CREATING_METHODS:
            return None
        if chat_window is not None:
            error = self._check_window(chat_window, now)
            if error is not None:
                return error
        if self.global_window is not None:
            return self._check_window(self.global_window, now)
        return None

    def _window_of(self, chat_id: int | str | None) -> _Window | None:
        if chat_id is None:
            return None
        if chat_id not in self.per_chat and isinstance(chat_id, int):
            default = self.defaults.get("private" if chat_id > 0 else "group")
            if default is not None:
                self.per_chat[chat_id] = _Window(*default)
        return self.per_chat.get(chat_id)

    @staticmethod
    def _check_window(window: _Window, now: float) -> ApiError | None:
        window.prune(now)
        if len(window.sent) < window.limit:
            return None
        wait = window.sent[0] + window.window - now
        retry_after = max(1, math.ceil(wait))
        window.penalty = retry_after
        window.penalty_until = now + retry_after
        return too_many_requests(retry_after)

    def consume(self, chat_id: int | str | None, count: int) -> None:
        now = self.clock()
        windows = [self._window_of(chat_id), self.global_window]
        for window in windows:
            if window is not None:
                window.sent.extend([now] * count)
