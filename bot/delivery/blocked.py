"""`UpdateBlocked`: an update that cannot be handled until something outside the bot changes."""

from __future__ import annotations


class UpdateBlocked(Exception):
    """The update cannot be handled until something outside the bot changes (a right the bot
    lacks in the operator group, say): not a bug, and not transient.

    A handler raises it; the delivery engine sets the update aside at once under `reason` (a
    stable key, such as "right:can_manage_topics"), logs one line with `description`, holds the
    rest of its queue behind it so that nothing overtakes it, and tries them all again, in
    order, when told that the reason is gone (`DeliveryEngine.retry_blocked`).
    """

    def __init__(self, *, reason: str, description: str, alert: str) -> None:
        self.reason = reason
        self.description = description
        # What the operators are told in General (HTML) when updates start waiting for it.
        self.alert = alert
        super().__init__(f"{reason}: {description}")


# How a set-aside update's error starts in the inbox when it waits for a reason to go away.
PREFIX = "blocked:"


def parked_error(reason: str, description: str) -> str:
    """The error recorded in the inbox for an update that waits for `reason`."""
    return f"{PREFIX}{reason}: {description}"


def waits_for(error: str | None) -> str | None:
    """The reason a set-aside update waits for (see `parked_error`); None for a failure."""
    if error is None or not error.startswith(PREFIX):
        return None
    return error[len(PREFIX) :].split(": ", 1)[0]
