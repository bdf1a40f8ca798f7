"""The desk: what operators use to run support on top of the relay.

`commands` (the operators' commands and the command menus), `queue` (who waits, longest
first), `board` (the live queue pinned in General), `icons` (topic icons showing each
conversation's state), `scheduler` (reminders and closing quiet conversations, from stored due
times), `stats` (/stats) and `transcript` (/export). The relay underneath (`bot.relay`) moves
messages and conversation states; nothing here is on a customer's message's path.
"""
