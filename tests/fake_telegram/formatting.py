"""Telegram's HTML ``parse_mode``: plain text plus entities, or Telegram's exact parse errors.

Follows tdlib's ``parse_html``: only the documented tags, ``<`` always starts a tag, ``&`` starts
an entity only for ``&lt; &gt; &amp; &quot;`` and numeric references (otherwise it is literal),
errors report byte offsets into the UTF-8 source. Offsets of the produced entities are in UTF-16
code units, like the Bot API's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import NotModelled, bad_request

ALLOWED_TAGS = frozenset(
    {
        "a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins", "tg-spoiler",
        "tg-emoji", "span", "pre", "code", "blockquote",
    }
)  # fmt: skip
SIMPLE_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_NUMERIC_ENTITY = re.compile(r"&#(x[0-9a-fA-F]{1,6}|[0-9]{1,7});")
_NAMED_ENTITY = re.compile(r"&([a-zA-Z]{2,4});")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _OpenTag:
    name: str
    attributes: dict[str, str]
    offset: int
    nested: list[_OpenTag] = field(default_factory=list)


class _ParseError(Exception):
    pass


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Return (plain text, entities) or raise a 400 ``can't parse entities: ...``."""
    try:
        return _parse(source)
    except _ParseError as error:
        raise bad_request(f"can't parse entities: {error}") from None


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode("utf-8"))


def _decode_entity(source: str, index: int) -> tuple[str, int] | None:
    match = _NUMERIC_ENTITY.match(source, index)
    if match:
        body = match.group(1)
        code = int(body[1:], 16) if body[0] == "x" else int(body)
        if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
            return chr(code), match.end() - index
        return None
    match = _NAMED_ENTITY.match(source, index)
    if match and match.group(1) in _NAMED_ENTITIES:
        return _NAMED_ENTITIES[match.group(1)], match.end() - index
    return None


def _decode_attribute(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        decoded = _decode_entity(value, i) if value[i] == "&" else None
        if decoded:
            out.append(decoded[0])
            i += decoded[1]
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def _parse(source: str) -> tuple[str, list[dict[str, Any]]]:
    out: list[str] = []
    offset = 0  # UTF-16 offset in the produced text
    stack: list[_OpenTag] = []
    entities: list[dict[str, Any]] = []
    n = len(source)
    i = 0
    while i < n:
        char = source[i]
        if char == "&":
            decoded = _decode_entity(source, i)
            if decoded:
                out.append(decoded[0])
                offset += utf16_len(decoded[0])
                i += decoded[1]
                continue
        if char != "<":
            out.append(char)
            offset += utf16_len(char)
            i += 1
            continue
        begin = _byte_offset(source, i)
        i += 1
        if i >= n or source[i] != "/":
            j = i
            while j < n and not source[j].isspace() and source[j] != ">":
                j += 1
            tag = source[i:j].lower()
            if tag not in ALLOWED_TAGS:
                raise _ParseError(f'Unsupported start tag "{tag}" at byte offset {begin}')
            i = j
            attributes: dict[str, str] = {}
            while True:
                while i < n and source[i].isspace():
                    i += 1
                if i >= n:
                    raise _ParseError(f"Unclosed start tag at byte offset {begin}")
                if source[i] == ">":
                    i += 1
                    break
                name_start = i
                while i < n and not source[i].isspace() and source[i] not in "=>":
                    i += 1
                name = source[name_start:i].lower()
                if not name:
                    raise _ParseError(
                        f'Empty attribute name in the tag "{tag}" at byte offset {begin}'
                    )
                while i < n and source[i].isspace():
                    i += 1
                if i >= n or source[i] != "=":
                    if tag == "blockquote" and name == "expandable":
                        attributes[name] = ""
                        continue
                    raise _ParseError(
                        "Expected equal sign in declaration of an attribute of the tag "
                        f'"{tag}" at byte offset {begin}'
                    )
                i += 1
                while i < n and source[i].isspace():
                    i += 1
                if i >= n:
                    raise _ParseError(f"Unclosed start tag at byte offset {begin}")
                if source[i] in "\"'":
                    quote = source[i]
                    end = source.find(quote, i + 1)
                    if end < 0:
                        raise _ParseError(f"Unclosed start tag at byte offset {begin}")
                    value = source[i + 1 : end]
                    i = end + 1
                else:
                    value_start = i
                    while i < n and not source[i].isspace() and source[i] != ">":
                        i += 1
                    value = source[value_start:i]
                attributes[name] = _decode_attribute(value)
            if tag == "span" and attributes.get("class") != "tg-spoiler":
                raise _ParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
            if tag == "tg-emoji" and not attributes.get("emoji-id", "").isdigit():
                raise _ParseError(
                    f'Custom emoji entity must have "emoji-id" attribute at byte offset {begin}'
                )
            stack.append(_OpenTag(tag, attributes, offset))
            continue
        # An end tag.
        if not stack:
            raise _ParseError(f"Unexpected end tag at byte offset {begin}")
        i += 1
        j = i
        while j < n and not source[j].isspace() and source[j] != ">":
            j += 1
        end_name = source[i:j].lower()
        i = j
        while i < n and source[i].isspace():
            i += 1
        if i >= n or source[i] != ">":
            raise _ParseError(f"Unclosed end tag at byte offset {begin}")
        i += 1
        opened = stack.pop()
        if end_name and end_name != opened.name:
            raise _ParseError(
                f'Unmatched end tag at byte offset {begin}, expected "</{opened.name}>", '
                f'found "</{end_name}>"'
            )
        length = offset - opened.offset
        if length > 0:
            entities.append(_entity(opened, length, stack))
    if stack:
        raise _ParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    text = "".join(out)
    entities = [entity for entity in entities if entity]
    entities.sort(key=lambda entity: (entity["offset"], -entity["length"]))
    return text, entities


def _entity(tag: _OpenTag, length: int, outer: list[_OpenTag]) -> dict[str, Any]:
    entity: dict[str, Any] = {"offset": tag.offset, "length": length}
    if tag.name == "a":
        href = tag.attributes.get("href", "")
        match = re.fullmatch(r"tg://user\?id=(\d+)", href)
        if match:
            entity.update(type="text_mention", user={"id": int(match.group(1))})
        elif href:
            entity.update(type="text_link", url=href)
        else:
            return {}
    elif tag.name == "blockquote":
        expandable = "expandable" in tag.attributes
        entity["type"] = "expandable_blockquote" if expandable else "blockquote"
    elif tag.name == "tg-emoji":
        entity.update(type="custom_emoji", custom_emoji_id=tag.attributes["emoji-id"])
    elif tag.name == "code" and outer and outer[-1].name == "pre":
        language = tag.attributes.get("class", "")
        if language.startswith("language-"):
            # Telegram folds <pre><code class="language-x"> into one pre entity.
            outer[-1].attributes["language"] = language.removeprefix("language-")
        entity["type"] = "code"
        return {}
    else:
        entity["type"] = SIMPLE_ENTITY_TYPES[tag.name]
        if tag.name == "pre" and tag.attributes.get("language"):
            entity["language"] = tag.attributes["language"]
    return entity


def strip_text(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Telegram trims surrounding whitespace from texts and captions; entities follow."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    size = utf16_len(stripped)
    kept: list[dict[str, Any]] = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, size)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return stripped, kept


def format_text(
    text: str, parse_mode: str | None, entities: list[dict[str, Any]] | None
) -> tuple[str, list[dict[str, Any]]]:
    """Apply ``parse_mode`` (or explicit entities) the way Telegram does before storing."""
    if parse_mode:
        mode = parse_mode.lower()
        if mode == "html":
            text, entities = parse_html(text)
        elif mode in ("markdown", "markdownv2"):
            raise NotModelled(f"parse_mode {parse_mode!r}")
        else:
            raise bad_request("unsupported parse_mode")
    return strip_text(text, list(entities or []))


# "@username" as Telegram finds it in a text: not glued to a preceding word character or "@".
_MENTION = re.compile(r"(?<![A-Za-z0-9_@])@([A-Za-z0-9_]{3,32})(?![A-Za-z0-9_])")
# Entities whose text Telegram takes verbatim: no mention is found inside them.
_VERBATIM_ENTITIES = frozenset({"code", "pre", "text_link", "url", "email"})


def find_mentions(text: str, entities: list[dict[str, Any]]) -> list[str]:
    """The usernames (lower-cased, without "@") a text mentions: explicit ``mention`` entities
    and every "@username" outside code, pre and links, which Telegram turns into ``mention``
    entities itself (the fake does not add those entities to the stored message)."""
    units = text.encode("utf-16-le")
    verbatim = [
        (entity["offset"], entity["offset"] + entity["length"])
        for entity in entities
        if entity["type"] in _VERBATIM_ENTITIES
    ]
    found: list[str] = []
    for match in _MENTION.finditer(text):
        start = utf16_len(text[: match.start()])
        if not any(begin <= start < end for begin, end in verbatim):
            found.append(match.group(1).lower())
    for entity in entities:
        if entity["type"] == "mention":
            begin, end = entity["offset"] * 2, (entity["offset"] + entity["length"]) * 2
            found.append(units[begin:end].decode("utf-16-le", "replace").lstrip("@").lower())
    return list(dict.fromkeys(found))
