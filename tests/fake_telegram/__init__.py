"""A faithful fake of the Telegram Bot API for end-to-end tests of the support bot.

See ``FakeTelegram`` (the server plus the test-side API) and ``pytest_plugin`` (fixtures).
"""

from .content import Content
from .errors import ApiError, FakeUsageError
from .fake import FakeTelegram
from .icons import TOPIC_ICONS, topic_icon_id
from .people import text_entity
from .records import CallRecord
from .state import Group, Notification, Topic, User

__all__ = [
    "TOPIC_ICONS",
    "ApiError",
    "CallRecord",
    "Content",
    "FakeTelegram",
    "FakeUsageError",
    "Group",
    "Notification",
    "Topic",
    "User",
    "text_entity",
    "topic_icon_id",
]
