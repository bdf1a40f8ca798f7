"""Decoding of Bot API call parameters.

aiogram sends multipart/form-data where every value is a string: plain strings as they are,
everything else (numbers, booleans, objects, lists) JSON-encoded. Other clients send JSON bodies
or query strings. ``Params`` hides the difference: each getter accepts both the string and the
typed form, and remembers the typed value so that call records show decoded parameters.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import bad_request

T = TypeVar("T")

ATTACH_PREFIX = "attach://"


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request."""

    field: str
    filename: str
    content_type: str
    data: bytes

    def __repr__(self) -> str:
        return f"UploadedFile({self.filename!r}, {len(self.data)} bytes)"


class Params:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.decoded: dict[str, Any] = {}

    def __contains__(self, name: str) -> bool:
        return self.raw.get(name) not in (None, "")

    def _get(self, name: str) -> Any:
        value = self.raw.get(name)
        return None if value == "" else value

    def _remember(self, name: str, value: T) -> T:
        if value is not None:
            self.decoded[name] = value
        return value

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, UploadedFile):
            raise bad_request(f"can't parse {name}")
        return self._remember(name, value if isinstance(value, str) else json.dumps(value))

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            value = int(value)
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None
        return self._remember(name, number)

    def require_int(self, name: str, missing: str | None = None) -> int:
        number = self.integer(name)
        if number is None:
            raise bad_request(missing or f"{name} is empty")
        return number

    def number(self, name: str, default: float | None = None) -> float | None:
        value = self._get(name)
        if value is None:
            return default
        try:
            return self._remember(name, float(value))
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    def flag(self, name: str, default: bool = False) -> bool:
        value = self._get(name)
        if value is None:
            return default
        if isinstance(value, str):
            flag = value.strip().lower() in ("true", "1", "yes", "on")
        else:
            flag = bool(value)
        return self._remember(name, flag)

    def json_value(self, name: str) -> Any:
        value = self._get(name)
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise bad_request(f"can't parse {name} JSON object") from None
        return self._remember(name, value)

    def chat_id(self, name: str = "chat_id") -> int | str:
        value = self._get(name)
        if value is None:
            raise bad_request(f"{name} is empty")
        if isinstance(value, int) and not isinstance(value, bool):
            return self._remember(name, value)
        text = str(value).strip()
        if text.startswith("@"):
            return self._remember(name, text)
        try:
            return self._remember(name, int(text))
        except ValueError:
            raise bad_request("chat not found") from None

    def file(self, name: str) -> UploadedFile | str | None:
        """A file parameter: an upload (directly or via ``attach://``), a file_id or a URL."""
        value = self._get(name)
        if isinstance(value, str) and value.startswith(ATTACH_PREFIX):
            value = self._get(value.removeprefix(ATTACH_PREFIX))
            if value is None:
                raise bad_request(f"file for {name} not found in the request")
        if value is None or isinstance(value, UploadedFile | str):
            return self._remember(name, value)
        raise bad_request(f"wrong {name} specified")

    def attachment(self, ref: str) -> UploadedFile | None:
        value = self._get(ref.removeprefix(ATTACH_PREFIX))
        return value if isinstance(value, UploadedFile) else None

    def as_record(self) -> dict[str, Any]:
        """Every parameter, typed where a method read it, JSON-decoded where it looks like JSON."""
        record: dict[str, Any] = {}
        for name, value in self.raw.items():
            if isinstance(value, str) and value[:1] in ("{", "["):
                with contextlib.suppress(ValueError):
                    value = json.loads(value)
            record[name] = value
        record.update(self.decoded)
        return record
