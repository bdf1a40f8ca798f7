"""Every text the bot composes, in English and Russian: user texts, notes, cards, answers.

Texts are HTML (the bot's default parse mode); every part that comes from a person (names,
reasons, Telegram's error descriptions) goes through `html.escape` before it is put in.

The language is chosen per person by Telegram's `language_code`: Russian for `ru`, English for
everything else. Texts for a user (welcome, closed, banned, offline) and notes about a user in
their topic follow the user's language; answers to an operator's command follow that operator's.
The settings `WELCOME_TEXT`, `CLOSED_TEXT`, `BANNED_TEXT` and `OFFLINE_TEXT` replace the built-in
user texts for everyone (see `Relay`).
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from aiogram.types import User

from bot.relay.content import shorten_plain

# Telegram's limit for a topic name, in characters (createForumTopic / editForumTopic).
TOPIC_TITLE_LIMIT = 128


@dataclass(frozen=True)
class Texts:
    """The texts of one language. Templates take named `str.format` fields."""

    language: str
    # To users.
    welcome: str
    closed: str
    banned: str
    offline: str
    offline_hours: str  # {hours} {timezone}
    edited_marker: str
    # The user card, first in every topic, and /info.
    card_username: str
    card_language: str
    card_premium: str
    card_open_profile: str
    unknown: str
    yes: str
    no: str
    info_first_contact: str
    info_messages: str  # {from_user} {from_operators}
    info_banned: str  # {reason}
    info_banned_no_reason: str
    info_not_banned: str
    # Notes in a user's topic.
    unsupported_note: str  # {kind}
    undelivered_note: str  # {reason}
    reason_blocked: str
    reason_deactivated: str
    reason_unsupported: str  # {kind}
    reason_refused: str  # {description}
    album_incomplete_note: str  # {copied} {total}
    reason_album_incomplete: str  # {copied} {total}
    user_blocked: str
    user_unblocked: str
    banned_note: str  # {operator}
    banned_note_reason: str  # {operator} {reason}
    unbanned_note: str  # {operator}
    an_operator: str
    # Answers to commands.
    usage: str  # {usage}
    only_in_topic: str  # {command}
    not_a_conversation: str
    already_banned: str
    not_banned: str
    already_closed: str
    closed_by: str  # {operator}
    export_caption: str  # {count}
    export_empty: str
    unknown_command: str  # {command}
    retry_started: str  # {count}
    retry_nothing: str
    # The bot's rights in the operator group (notes in General).
    right_names: dict[str, str]  # "can_manage_topics" -> "Manage topics"
    right_missing: str  # {right}: an update waits for it
    right_lost: str  # {right}
    right_back: str  # {right} {count}
    # The desk (bot/desk): states, the queue, assignment, reminders, closing by itself.
    state_names: dict[str, str]  # "waiting" / "answered" / "closed" -> the word for it
    info_state: str  # {state}
    info_waiting: str  # {wait}
    info_assignee: str  # {operator}
    info_unassigned: str
    queue_title: str  # {waiting} {answered}
    queue_empty: str  # {answered}
    queue_line: str  # {index} {customer} {wait} {assignee}
    queue_unassigned: str
    queue_more: str  # {count}
    mine_title: str  # {count}
    mine_empty: str
    assigned: str  # {operator} {by}
    unassigned: str  # {by}
    already_unassigned: str
    assign_unknown: str  # {username}
    assign_not_an_operator: str
    reminder: str  # {wait} {who}
    reminder_nobody: str
    auto_closed: str  # {quiet}
    help: str  # {prefix_line} {hours_line}
    help_note_prefix: str  # {prefix}
    help_no_notes: str
    help_hours: str  # {hours} {timezone}
    help_always_open: str
    command_descriptions: dict[str, str]
    start_description: str
    # /stats (see bot.desk.stats).
    stats: str  # {open} {new_today} {new_week} {messages_today} {messages_week} ...
    #             {first_reply} {timezone}
    stats_messages: str  # {total} {user} {operator}
    stats_first_reply: str  # {duration} {answered}
    stats_answered_one: str  # {count}
    stats_answered_many: str  # {count}
    stats_no_answers: str
    stats_unanswered: str  # {count}
    duration_units: tuple[str, str, str, str]  # seconds, minutes, hours, days

    def user_card(self, user: User, *, premium_known: bool = True) -> str:
        """The first message of a user's topic: who this is, for the operators.

        Telegram leaves `is_premium` out for users without Premium; a card built from the
        stored profile (which does not keep it) passes `premium_known=False`.
        """
        name = full_name(user.first_name, user.last_name) or f"User {user.id}"
        username = f"@{html.escape(user.username)}" if user.username else "—"
        language = html.escape(user.language_code) if user.language_code else self.unknown
        premium = self.yes if user.is_premium else self.no if premium_known else self.unknown
        return (
            f"👤 <b>{html.escape(name)}</b>\n"
            f"{self.card_username}: {username}\n"
            f"ID: <code>{user.id}</code>\n"
            f"{self.card_language}: {language}\n"
            f"{self.card_premium}: {premium}\n"
            f'<a href="tg://user?id={user.id}">{self.card_open_profile}</a>'
        )

    def note_unsupported(self, content_type: str) -> str:
        """In the topic, in place of a user's message that can be neither copied nor forwarded."""
        return self.unsupported_note.format(kind=html.escape(content_name(content_type)))

    def note_undelivered(self, reason: str) -> str:
        """In the topic, as a reply to an operator's message that did not reach the user.

        `reason` is one of the `reason_*` texts, already HTML.
        """
        return self.undelivered_note.format(reason=reason)

    def why_unsupported(self, content_type: str) -> str:
        return self.reason_unsupported.format(kind=html.escape(content_name(content_type)))

    def why_refused(self, description: str) -> str:
        """Telegram's own words, for failures without a better explanation."""
        return self.reason_refused.format(description=html.escape(description))


ENGLISH = Texts(
    language="en",
    welcome="Hello! Write your question here and our support team will answer in this chat.",
    closed="Your request has been closed. If you need anything else, just write here again.",
    banned="Your messages are no longer delivered to our support team.",
    offline=(
        "Thank you for your message! Our support team is offline right now; "
        "we will answer as soon as we are back."
    ),
    offline_hours="Working hours: {hours} ({timezone}).",
    edited_marker="✏️ Edited:",
    card_username="Username",
    card_language="Language",
    card_premium="Premium",
    card_open_profile="Open profile",
    unknown="unknown",
    yes="yes",
    no="no",
    info_first_contact="First contact",
    info_messages="Messages: {from_user} from the user, {from_operators} from operators",
    info_banned="🚫 Banned: {reason}",
    info_banned_no_reason="🚫 Banned",
    info_not_banned="Not banned",
    unsupported_note="⚠️ The user sent a {kind} message, which cannot be shown here.",
    undelivered_note="⚠️ Not delivered: {reason}.",
    reason_blocked="the user has blocked the bot",
    reason_deactivated="the user has deleted their account",
    reason_unsupported="a {kind} message cannot be sent to the user",
    reason_refused="Telegram refused it ({description})",
    album_incomplete_note=(
        "⚠️ Only {copied} of the {total} items of this album could be shown here: Telegram did "
        "not copy the others."
    ),
    reason_album_incomplete="only {copied} of the {total} items of the album reached the user",
    user_blocked="🚫 The user has blocked the bot: messages to them will not be delivered.",
    user_unblocked="✅ The user has unblocked the bot.",
    banned_note=(
        "🚫 {operator} banned this user. Their messages are no longer relayed (they are still "
        "logged). /unban reverses it."
    ),
    banned_note_reason=(
        "🚫 {operator} banned this user: {reason}\nTheir messages are no longer relayed (they "
        "are still logged). /unban reverses it."
    ),
    unbanned_note="✅ {operator} unbanned this user. Their messages are relayed again.",
    an_operator="An operator",
    usage="Usage: {usage}",
    only_in_topic="{command} works in a user's topic.",
    not_a_conversation="This topic is not a user's conversation.",
    already_banned="This user is already banned. /unban reverses it.",
    not_banned="This user is not banned.",
    already_closed="This conversation is already closed.",
    closed_by="🔒 {operator} closed the conversation.",
    export_caption="📄 Transcript: {count} messages.",
    export_empty="Nothing to export yet: no messages have been relayed in this conversation.",
    unknown_command="Unknown command {command}. /help lists the commands.",
    retry_started="🔁 Trying {count} set-aside update(s) again.",
    retry_nothing="Nothing is set aside: every update was handled.",
    right_names={"can_manage_topics": "Manage topics"},
    right_missing=(
        "⏸ A customer's message waits: the bot lacks the <b>{right}</b> right here, so it "
        "cannot open a topic for them. Give it back (group settings → Administrators → the bot)"
        " and what waits is delivered at once, in order."
    ),
    right_lost=(
        "⚠️ The bot has lost the <b>{right}</b> right in this group: new customers cannot get a "
        "topic until it is back (group settings → Administrators → the bot)."
    ),
    right_back="✅ The bot has the <b>{right}</b> right again. Delivering what waited: {count}.",
    state_names={"waiting": "waiting", "answered": "answered", "closed": "closed"},
    info_state="State: {state}",
    info_waiting="Waiting for an answer for {wait}",
    info_assignee="Handled by {operator}",
    info_unassigned="Nobody handles it yet",
    queue_title="📋 <b>Waiting: {waiting}</b> · answered: {answered}",
    queue_empty="📋 Nobody is waiting. Answered: {answered}.",
    queue_line="{index}. {customer} — {wait} — {assignee}",
    queue_unassigned="unassigned",
    queue_more="…and {count} more",
    mine_title="🙋 <b>Yours, waiting: {count}</b>",
    mine_empty="🙋 None of your conversations is waiting.",
    assigned="👤 {operator} handles this conversation now (assigned by {by}).",
    unassigned="👤 Nobody handles this conversation now ({by}).",
    already_unassigned="Nobody handles this conversation.",
    assign_unknown=(
        "I don't know @{username} yet: they need to write in this group once, or answer "
        "/assign as a reply to one of their messages."
    ),
    assign_not_an_operator=(
        "To hand it over, answer /assign as a reply to a message of that operator, or write "
        "/assign @username."
    ),
    reminder="⏰ Waiting for an answer for {wait}. {who}",
    reminder_nobody="Nobody handles this conversation yet.",
    auto_closed="🔒 Closed by itself after {quiet} without a message from the customer.",
    help=(
        "<b>Support bot</b>\n"
        "Each customer who writes to the bot gets a topic here. Write in the topic to answer: "
        "the bot copies your messages to the customer, and theirs to the topic. Replies, "
        "edits and reactions go both ways.\n\n"
        "<b>In a customer's topic</b>\n"
        "/info — who this is, message counts, ban and conversation state\n"
        "/close — close the conversation (the customer is told)\n"
        "/ban [reason] — stop relaying the customer's messages\n"
        "/unban — relay them again\n"
        "/export — the conversation's transcript as an HTML file\n"
        "/assign — take the conversation; as a reply to an operator's message, or with "
        "@username, hand it over\n"
        "/unassign — nobody handles it\n\n"
        "<b>Here in General</b>\n"
        "/queue — who is waiting for an answer, longest first\n"
        "/mine — your conversations that wait\n"
        "/stats — conversations and messages today and in the last 7 days\n"
        "/retry — try again the updates that were set aside after errors\n"
        "/help — this text\n\n"
        "{prefix_line}\n{hours_line}"
    ),
    help_note_prefix=(
        "A message that starts with <code>{prefix}</code> is an internal note: it stays in "
        "the topic and is never sent to the customer."
    ),
    help_no_notes="Internal notes are off (NOTE_PREFIX is empty).",
    help_hours="Working hours: {hours} ({timezone}).",
    help_always_open="No working hours are set: the desk is always open.",
    command_descriptions={
        "info": "Who this user is, message counts, state",
        "close": "Close this conversation",
        "ban": "Stop relaying this user's messages",
        "unban": "Relay this user's messages again",
        "export": "The conversation's transcript (HTML)",
        "assign": "Take this conversation, or hand it over",
        "unassign": "Nobody handles this conversation",
        "queue": "Who is waiting for an answer",
        "mine": "Your conversations that wait",
        "stats": "Conversations and messages, today and this week",
        "retry": "Try set-aside updates again",
        "help": "What the bot does and its commands",
    },
    start_description="Start a conversation with support",
    stats=(
        "📊 <b>Support desk</b>\n"
        "Open conversations: <b>{open}</b>\n"
        "New conversations: <b>{new_today}</b> today, <b>{new_week}</b> in 7 days\n"
        "Messages today: {messages_today}\n"
        "Messages in 7 days: {messages_week}\n"
        "First reply, median over 7 days: {first_reply}\n"
        "<i>Today: since 00:00 {timezone}.</i>"
    ),
    stats_messages="<b>{total}</b> ({user} from users, {operator} from operators)",
    stats_first_reply="<b>{duration}</b> {answered}",
    stats_answered_one="over {count} answered wait",
    stats_answered_many="over {count} answered waits",
    stats_no_answers="<b>—</b> (no answers to time)",
    stats_unanswered=", {count} not answered yet",
    duration_units=("s", "min", "h", "d"),
)

RUSSIAN = Texts(
    language="ru",
    welcome=(
        "Здравствуйте! Напишите свой вопрос здесь, и служба поддержки ответит вам в этом чате."
    ),
    closed=("Ваше обращение закрыто. Если понадобится что-то ещё, просто напишите сюда снова."),
    banned="Ваши сообщения больше не передаются в службу поддержки.",
    offline=(
        "Спасибо за сообщение! Сейчас служба поддержки не работает; "
        "мы ответим, как только вернёмся."
    ),
    offline_hours="Часы работы: {hours} ({timezone}).",
    edited_marker="✏️ Изменено:",
    card_username="Имя пользователя",
    card_language="Язык",
    card_premium="Premium",
    card_open_profile="Открыть профиль",
    unknown="неизвестен",
    yes="да",
    no="нет",
    info_first_contact="Первое обращение",
    info_messages="Сообщения: {from_user} от пользователя, {from_operators} от операторов",
    info_banned="🚫 Заблокирован: {reason}",
    info_banned_no_reason="🚫 Заблокирован",
    info_not_banned="Не заблокирован",
    unsupported_note=(
        "⚠️ Пользователь отправил сообщение типа «{kind}», которое нельзя показать здесь."
    ),
    undelivered_note="⚠️ Не доставлено: {reason}.",
    reason_blocked="пользователь заблокировал бота",
    reason_deactivated="пользователь удалил свой аккаунт",
    reason_unsupported="сообщение типа «{kind}» нельзя отправить пользователю",
    reason_refused="Telegram отказал ({description})",
    album_incomplete_note=(
        "⚠️ Здесь показано только {copied} из {total} элементов альбома: остальные Telegram "
        "не скопировал."
    ),
    reason_album_incomplete="пользователю дошло только {copied} из {total} элементов альбома",
    user_blocked=("🚫 Пользователь заблокировал бота: сообщения ему не будут доставляться."),
    user_unblocked="✅ Пользователь разблокировал бота.",
    banned_note=(
        "🚫 {operator} заблокировал(а) пользователя. Его сообщения больше не пересылаются "
        "(но сохраняются в журнале). /unban отменяет блокировку."
    ),
    banned_note_reason=(
        "🚫 {operator} заблокировал(а) пользователя: {reason}\nЕго сообщения больше не "
        "пересылаются (но сохраняются в журнале). /unban отменяет блокировку."
    ),
    unbanned_note=(
        "✅ {operator} разблокировал(а) пользователя. Его сообщения снова пересылаются."
    ),
    an_operator="Оператор",
    usage="Использование: {usage}",
    only_in_topic="{command} работает в теме пользователя.",
    not_a_conversation="Эта тема не относится к обращению пользователя.",
    already_banned="Пользователь уже заблокирован. /unban отменяет блокировку.",
    not_banned="Пользователь не заблокирован.",
    already_closed="Это обращение уже закрыто.",
    closed_by="🔒 {operator} закрыл(а) обращение.",
    export_caption="📄 Переписка: сообщений — {count}.",
    export_empty="Экспортировать пока нечего: в этом обращении ещё нет сообщений.",
    unknown_command="Неизвестная команда {command}. Список команд: /help",
    retry_started="🔁 Повторяю отложенные обновления: {count}.",
    retry_nothing="Отложенных обновлений нет: всё обработано.",
    right_names={"can_manage_topics": "Управление темами"},
    right_missing=(
        "⏸ Сообщение клиента ждёт: у бота нет права <b>{right}</b>, и он не может открыть для "
        "клиента тему. Верните право (настройки группы → Администраторы → бот), и всё, что ждёт,"
        " будет доставлено сразу и по порядку."
    ),
    right_lost=(
        "⚠️ Бот потерял право <b>{right}</b> в этой группе: новые клиенты не получат тему, пока "
        "право не вернут (настройки группы → Администраторы → бот)."
    ),
    right_back="✅ У бота снова есть право <b>{right}</b>. Доставляю то, что ждало: {count}.",
    state_names={"waiting": "ждёт ответа", "answered": "отвечен", "closed": "закрыт"},
    info_state="Состояние: {state}",
    info_waiting="Ждёт ответа уже {wait}",
    info_assignee="Ведёт: {operator}",
    info_unassigned="Пока никто не ведёт",
    queue_title="📋 <b>Ждут ответа: {waiting}</b> · отвечены: {answered}",
    queue_empty="📋 Никто не ждёт ответа. Отвечены: {answered}.",
    queue_line="{index}. {customer} — {wait} — {assignee}",
    queue_unassigned="никто",
    queue_more="…и ещё {count}",
    mine_title="🙋 <b>Ваши, ждут ответа: {count}</b>",
    mine_empty="🙋 Никто из ваших клиентов не ждёт ответа.",
    assigned="👤 Обращение теперь ведёт {operator} (назначил(а) {by}).",
    unassigned="👤 Обращение теперь никто не ведёт ({by}).",
    already_unassigned="Это обращение никто не ведёт.",
    assign_unknown=(
        "Я пока не знаю @{username}: оператор должен один раз написать в этой группе, или "
        "ответьте /assign на одно из его сообщений."
    ),
    assign_not_an_operator=(
        "Чтобы передать обращение, ответьте /assign на сообщение этого оператора или напишите "
        "/assign @username."
    ),
    reminder="⏰ Ждёт ответа уже {wait}. {who}",
    reminder_nobody="Это обращение пока никто не ведёт.",
    auto_closed="🔒 Закрыт сам: {quiet} без сообщений от клиента.",
    help=(
        "<b>Бот поддержки</b>\n"
        "Каждый клиент, написавший боту, получает здесь свою тему. Чтобы ответить, пишите в "
        "тему: бот пересылает ваши сообщения клиенту, а его — в тему. Ответы, правки и "
        "реакции работают в обе стороны.\n\n"
        "<b>В теме клиента</b>\n"
        "/info — кто это, число сообщений, блокировка и состояние обращения\n"
        "/close — закрыть обращение (клиент получит уведомление)\n"
        "/ban [причина] — перестать пересылать сообщения клиента\n"
        "/unban — снова пересылать их\n"
        "/export — переписка в виде HTML-файла\n"
        "/assign — взять обращение себе; ответом на сообщение оператора или с @username — "
        "передать его\n"
        "/unassign — обращение никто не ведёт\n\n"
        "<b>Здесь, в General</b>\n"
        "/queue — кто ждёт ответа, дольше всех ждущие первыми\n"
        "/mine — ваши обращения, которые ждут ответа\n"
        "/stats — обращения и сообщения за сегодня и за 7 дней\n"
        "/retry — повторить обновления, отложенные после ошибок\n"
        "/help — эта справка\n\n"
        "{prefix_line}\n{hours_line}"
    ),
    help_note_prefix=(
        "Сообщение, начинающееся с <code>{prefix}</code>, — внутренняя заметка: оно остаётся "
        "в теме и никогда не отправляется клиенту."
    ),
    help_no_notes="Внутренние заметки выключены (NOTE_PREFIX пуст).",
    help_hours="Часы работы: {hours} ({timezone}).",
    help_always_open="Часы работы не заданы: поддержка работает всегда.",
    command_descriptions={
        "info": "Кто этот пользователь, сообщения, состояние",
        "close": "Закрыть обращение",
        "ban": "Перестать пересылать сообщения пользователя",
        "unban": "Снова пересылать сообщения пользователя",
        "export": "Переписка (HTML)",
        "assign": "Взять обращение себе или передать его",
        "unassign": "Обращение никто не ведёт",
        "queue": "Кто ждёт ответа",
        "mine": "Ваши обращения, которые ждут ответа",
        "stats": "Обращения и сообщения за сегодня и неделю",
        "retry": "Повторить отложенные обновления",
        "help": "Что делает бот и его команды",
    },
    start_description="Написать в поддержку",
    stats=(
        "📊 <b>Поддержка</b>\n"
        "Открытых обращений: <b>{open}</b>\n"
        "Новых обращений: <b>{new_today}</b> сегодня, <b>{new_week}</b> за 7 дней\n"
        "Сообщений сегодня: {messages_today}\n"
        "Сообщений за 7 дней: {messages_week}\n"
        "Первый ответ, медиана за 7 дней: {first_reply}\n"
        "<i>Сегодня: с 00:00 {timezone}.</i>"
    ),
    stats_messages="<b>{total}</b> (от клиентов: {user}, от операторов: {operator})",
    stats_first_reply="<b>{duration}</b> {answered}",
    # "(отвечено: N)": no noun to agree with the number.
    stats_answered_one="(отвечено: {count})",
    stats_answered_many="(отвечено: {count})",
    stats_no_answers="<b>—</b> (ответов ещё нет)",
    stats_unanswered=", ещё без ответа: {count}",
    duration_units=("с", "мин", "ч", "д"),
)

LANGUAGES = {"en": ENGLISH, "ru": RUSSIAN}


def texts_for(language_code: str | None) -> Texts:
    """Russian for `ru` (and `ru-RU` and the like), English for everything else."""
    if language_code:
        return LANGUAGES.get(language_code.lower().split("-")[0], ENGLISH)
    return ENGLISH


def full_name(first_name: str | None, last_name: str | None) -> str:
    """The full name "First Last", whitespace runs collapsed to one space; may be empty."""
    return " ".join(" ".join(part for part in (first_name, last_name) if part).split())


def topic_title(user: User) -> str:
    """The user's full name and @username: never empty, at most 128 characters."""
    suffix = f" @{user.username}" if user.username else ""
    name = full_name(user.first_name, user.last_name)
    if not name:
        name = f"User {user.id}"
    # A username is at most 32 characters, so the name always keeps most of the room.
    name = shorten_plain(name, TOPIC_TITLE_LIMIT - len(suffix))
    return f"{name}{suffix}"


def person(user: User | None, texts: Texts) -> str:
    """An operator as named in notes: their full name, escaped; "An operator" when unknown."""
    name = full_name(user.first_name, user.last_name) if user is not None else ""
    return html.escape(name) if name else texts.an_operator


def content_name(content_type: str) -> str:
    """A content type as a person would say it: "video_note" -> "video note"."""
    return content_type.replace("_", " ")
