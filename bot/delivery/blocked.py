"""`UpdateBlocked`: an update that cannot be handled until something outside the bot changes."""

from __future__ import annotations


class UpdateBlocked(Exception):
    """The update cannot be handled until something outside the bot changes (a right the bot
    lacks in the operator group, say): not a bug, and not transient.

    A handler raises it; the delivery engine logs one line with `description`, tells the
    operators once per `reason` (a stable key, such as "right:can_manage_topics") with `alert`,
    and keeps the update pending: its queue waits, so nothing overtakes it, until it is told
    that the reason is gone (`DeliveryEngine.lift`), and then goes on from that update.
    """

    def __init__(self, *, reason: str, description: str, alert: str) -> None:
        self.reason = reason
        self.description = description
        # What the operators are told in General (HTML) when updates start waiting for it.
        self.alert = alert
        super().__init__(f"{reason}: {description}")
