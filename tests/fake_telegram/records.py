"""What the fake remembers about the calls it received."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class CallRecord:
    """One Bot API call: when, what, to which chat, and how it ended."""

    time: float  # time.monotonic() when the call arrived
    method: str  # canonical name ("sendMessage"), or as sent when unknown
    params: dict[str, Any]
    chat_id: int | str | None
    ok: bool | None = None  # None while in progress or when the connection was dropped
    result: Any = None
    error_code: int | None = None
    description: str | None = None
    dropped: bool = False  # the connection was closed without an answer

    @property
    def outcome(self) -> str:
        if self.dropped:
            return "connection dropped"
        if self.ok:
            return "ok"
        return f"{self.error_code} {self.description}"


@dataclass
class UnmodelledCall:
    """A call the fake cannot answer faithfully: an unknown method or an unmodelled feature."""

    method: str
    params: dict[str, Any]
    reason: str
