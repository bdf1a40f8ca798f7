"""The relay: the domain layer between the handlers and Telegram / storage.

`bot.relay.service.Relay` holds the rules; `texts` every text it composes; `content` what a
message contains; `errors` what Telegram's permanent errors mean; `routes` where messages go.
(Nothing is imported here, so that `bot.config` can use the default texts without a cycle.)
"""
