"""The relay: the domain layer between the handlers and Telegram / storage.

`service.Relay` holds the desk's rules and the entry points the handlers call; beside it,
`topics` (each user's topic and profile), `copier` (copies, albums, long captions, links),
`mirror` (edits and reactions), `notices` (what the bot itself says), `routes` (where a copy
goes), `commands` (the operators' commands), and `texts`, `content`, `errors`.
(Nothing is imported here, so that `bot.config` can use the default texts without a cycle.)
"""
