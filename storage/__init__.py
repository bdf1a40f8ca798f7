"""The storage layer: one SQLite database behind `Database` (see `storage.database`)."""

from storage.database import Database
from storage.errors import (
    NotConnectedError,
    SchemaTooNewError,
    StorageError,
    TransactionAbortedError,
    UnknownUpdateError,
)
from storage.migrations import LATEST_VERSION
from storage.models import (
    Ban,
    Conversation,
    DeskState,
    InboxItem,
    LoggedMessage,
    MessageLink,
    OperatorProfile,
    Queue,
    QueueEntry,
    ReplyWait,
    UserActivity,
    UserProfile,
    UserState,
)

__all__ = [
    "LATEST_VERSION",
    "Ban",
    "Conversation",
    "Database",
    "DeskState",
    "InboxItem",
    "LoggedMessage",
    "MessageLink",
    "NotConnectedError",
    "OperatorProfile",
    "Queue",
    "QueueEntry",
    "ReplyWait",
    "SchemaTooNewError",
    "StorageError",
    "TransactionAbortedError",
    "UnknownUpdateError",
    "UserActivity",
    "UserProfile",
    "UserState",
]
