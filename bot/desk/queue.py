"""The queue as operators read it: who waits for an answer, longest first, for how long, whose.

One rendering serves the board in General, `/queue` and `/mine`. Each waiting customer links to
their topic; the list stops before it outgrows a message ("…and 12 more").
"""

from __future__ import annotations

import html
from datetime import datetime, timedelta

from bot.desk.stats import format_duration
from bot.relay.texts import Texts
from storage import OperatorProfile, Queue, QueueEntry, UserProfile

# How many waiting conversations a queue lists at most; the rest are counted.
QUEUE_LENGTH = 50
_MINUTE = timedelta(minutes=1)
# Room for the text of a message (4,096 characters), with a margin for the closing line.
_ROOM = 3900


def topic_link(group_id: int, topic_id: int) -> str:
    """`https://t.me/c/<group>/<topic>`: the group's id without its -100, then the topic's.

    Such links open for members of the group (TDLib, ForumTopicManager.cpp: "c/" << channel id).
    """
    internal = -group_id - 10**12 if group_id < -(10**12) else abs(group_id)
    return f"https://t.me/c/{internal}/{topic_id}"


def render_queue(
    queue: Queue, *, now: datetime, texts: Texts, group_id: int, title: str | None = None
) -> str:
    """The queue as HTML: a title (the counts, unless `title` is given), then a line a wait."""
    if title is None:
        if not queue.waiting_count:
            return texts.queue_empty.format(answered=queue.answered_count)
        title = texts.queue_title.format(waiting=queue.waiting_count, answered=queue.answered_count)
    lines = [title]
    size = len(title)
    shown = 0
    for index, entry in enumerate(queue.waiting, start=1):
        line = _line(entry, index, now=now, texts=texts, group_id=group_id)
        if size + len(line) + 1 > _ROOM:
            break
        lines.append(line)
        size += len(line) + 1
        shown += 1
    if queue.waiting_count > shown:
        lines.append(texts.queue_more.format(count=queue.waiting_count - shown))
    return "\n".join(lines)


def _line(entry: QueueEntry, index: int, *, now: datetime, texts: Texts, group_id: int) -> str:
    waited = now - datetime.fromisoformat(entry.waiting_since)
    link = topic_link(group_id, entry.topic_id)
    customer = f'<a href="{link}">{html.escape(customer_name(entry.customer, entry.user_id))}</a>'
    assignee = (
        html.escape(operator_name(entry.assignee))
        if entry.assignee is not None
        else texts.queue_unassigned
    )
    return texts.queue_line.format(
        index=index, customer=customer, wait=format_wait(waited, texts), assignee=assignee
    )


def format_wait(waited: timedelta, texts: Texts) -> str:
    """A wait as the queue shows it: in minutes ("< 1 min" first), so that the board's text
    does not change every few seconds."""
    if waited < _MINUTE:
        return f"&lt; {format_duration(_MINUTE, texts)}"  # HTML: "< 1 min"
    return format_duration(waited, texts)


def customer_name(profile: UserProfile | None, user_id: int) -> str:
    """The customer's name as people know it (plain text: escape it for HTML)."""
    if profile is not None:
        name = " ".join(part for part in (profile.first_name, profile.last_name) if part)
        if name:
            return name
        if profile.username:
            return f"@{profile.username}"
    return f"User {user_id}"


def operator_name(operator: OperatorProfile) -> str:
    """An operator's first name, else @username (plain text: escape it for HTML)."""
    if operator.first_name:
        return operator.first_name
    if operator.username:
        return f"@{operator.username}"
    return f"Operator {operator.user_id}"
