"""The relay: the domain layer between the handlers and Telegram / storage.

`service.Relay` holds the desk's rules and the entry points the handlers call; beside it,
`topics` (each user's topic and profile), `copier` (copies, albums, long captions, links),
`mirror` (edits and reactions), `notices` (what the bot itself says), `routes` (where a copy
goes), `states` (each conversation's state on the desk), `rights` (the bot's rights in the
operator group), and `texts`, `content`, `errors`. The operators' commands are in `bot.desk`.
(Nothing is imported here, so that `bot.config` can use the default texts without a cycle.)
"""
