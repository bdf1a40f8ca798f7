"""The storage layer: one SQLite database behind `Database` (see docs in `storage.database`)."""

from storage.database import Database
from storage.errors import (
    NotConnectedError,
    SchemaTooNewError,
    StorageError,
    TransactionAbortedError,
    UnknownUpdateError,
)
from storage.migrations import LATEST_VERSION
from storage.models import Conversation, InboxItem, LoggedMessage, MessageLink, User

__all__ = [
    "LATEST_VERSION",
    "Conversation",
    "Database",
    "InboxItem",
    "LoggedMessage",
    "MessageLink",
    "NotConnectedError",
    "SchemaTooNewError",
    "StorageError",
    "TransactionAbortedError",
    "UnknownUpdateError",
    "User",
]
