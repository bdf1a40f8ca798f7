"""Errors raised by the storage layer itself (SQLite's own errors pass through unchanged)."""

from __future__ import annotations


class StorageError(Exception):
    """Base class of the errors raised by `storage`."""


class NotConnectedError(StorageError):
    """A method was called before `connect()` or after `close()`."""

    def __init__(self) -> None:
        super().__init__("database is not connected; call connect() first")


class SchemaTooNewError(StorageError):
    """The database file was written by a newer version of the bot than this one."""

    def __init__(self, *, file_version: int, code_version: int, path: str | None = None) -> None:
        self.file_version = file_version
        self.code_version = code_version
        self.path = path
        where = f"database {path!r}" if path is not None else "the database"
        super().__init__(
            f"{where} has schema version {file_version}, but this code knows only versions up "
            f"to {code_version}; upgrade the bot to a version that supports schema "
            f"{file_version} (the file was left untouched)"
        )


class TransactionAbortedError(StorageError):
    """SQLite rolled the whole transaction back after an error inside it.

    Some errors (disk full, I/O errors) make SQLite abandon the transaction, not only the failed
    statement. Writes after that point would silently run outside any transaction, so the rest
    of the block is refused and the block must end (and be retried from the start).
    """


class UnknownUpdateError(StorageError, LookupError):
    """The update_id is not in the inbox."""

    def __init__(self, update_id: int) -> None:
        self.update_id = update_id
        super().__init__(f"update {update_id} is not in the inbox")
