"""The custom emoji a bot may use as forum topic icons (``getForumTopicIconStickers``).

Telegram lets bots (and other non-Premium accounts) use only the emoji of its default topic icon
set (MTProto ``inputStickerSetEmojiDefaultTopicIcons``); ``createForumTopic`` and
``editForumTopic`` take one of their ``custom_emoji_id`` values.

The emoji and ids below are the real set, in Telegram's order, as a public project captured it
from ``getForumTopicIconStickers`` on 2026-05-29 (github.com/jzerolf/openclaw-topic-status,
README); the ids of 💬, 🔥, ✅, ❗️, ❓, 💡, 📆, ⭐️ and others agree with further public code that
hardcodes them. Note what is *not* there: no ⏰, no 🕐, no 🟢/🔴 — a bot that wants a "waiting"
icon has to pick from this list (📆 is the nearest to a clock).

What the capture does not give, and the fake makes up (plausibly): the stickers' ``file_id`` /
``file_unique_id`` (deterministic strings derived from the emoji id), their size (100x100, the
size of custom emoji stickers), ``is_animated`` (true: Telegram's topic icons are animated
stickers) and the set's name (``Topics``).
"""

from __future__ import annotations

from typing import Any

# (emoji, custom_emoji_id), in the order getForumTopicIconStickers returns them.
TOPIC_ICONS: tuple[tuple[str, str], ...] = (
    ("📰", "5434144690511290129"),
    ("💡", "5312536423851630001"),
    ("\u26a1\ufe0f", "5312016608254762256"),  # ⚡️
    ("🎙", "5377544228505134960"),
    ("🔝", "5418085807791545980"),
    ("🗣", "5370870893004203704"),
    ("🆒", "5420216386448270341"),
    ("\u2757\ufe0f", "5379748062124056162"),  # ❗️
    ("📝", "5373251851074415873"),
    ("📆", "5433614043006903194"),
    ("📁", "5357315181649076022"),
    ("🔎", "5309965701241379366"),
    ("📣", "5309984423003823246"),
    ("🔥", "5312241539987020022"),
    ("\u2764\ufe0f", "5312138559556164615"),  # ❤️
    ("\u2753", "5377316857231450742"),  # ❓
    ("📈", "5350305691942788490"),
    ("📉", "5350713563512052787"),
    ("💎", "5309958691854754293"),
    ("💰", "5350452584119279096"),
    ("💸", "5309929258443874898"),
    ("🪙", "5377690785674175481"),
    ("💱", "5310107765874632305"),
    ("\u2049\ufe0f", "5377438129928020693"),  # ⁉️
    ("🎮", "5309950797704865693"),
    ("💻", "5350554349074391003"),
    ("📱", "5409357944619802453"),
    ("🚗", "5312322066328853156"),
    ("🏠", "5312486108309757006"),
    ("💘", "5310029292527164639"),
    ("🎉", "5310228579009699834"),
    ("\u203c\ufe0f", "5377498341074542641"),  # ‼️
    ("🏆", "5312315739842026755"),
    ("🏁", "5408906741125490282"),
    ("🎬", "5368653135101310687"),
    ("🎵", "5310045076531978942"),
    ("🔞", "5420331611830886484"),
    ("📚", "5350481781306958339"),
    ("👑", "5357107601584693888"),
    ("\u26bd\ufe0f", "5375159220280762629"),  # ⚽️
    ("🏀", "5384327463629233871"),
    ("📺", "5350513667144163474"),
    ("👀", "5357121491508928442"),
    ("🫦", "5357185426392096577"),
    ("🍓", "5310157398516703416"),
    ("💄", "5310262535021142850"),
    ("👠", "5368741306484925109"),
    ("\u2708\ufe0f", "5348436127038579546"),  # ✈️
    ("🧳", "5357120306097956843"),
    ("🏖", "5310303848311562896"),
    ("\u26c5\ufe0f", "5350424168615649565"),  # ⛅️
    ("🦄", "5413625003218313783"),
    ("🛍", "5350699789551935589"),
    ("👜", "5377478880577724584"),
    ("🛒", "5431492767249342908"),
    ("🚂", "5350497316203668441"),
    ("🛥", "5350422527938141909"),
    ("🏔", "5418196338774907917"),
    ("🏕", "5350648297189023928"),
    ("🤖", "5309832892262654231"),
    ("🪩", "5350751634102166060"),
    ("🎟", "5377624166436445368"),
    ("\U0001f3f4\u200d\u2620\ufe0f", "5386395194029515402"),  # 🏴‍☠️
    ("🗳", "5350387571199319521"),
    ("🎓", "5357419403325481346"),
    ("🔭", "5368585403467048206"),
    ("🔬", "5377580546748588396"),
    ("🎶", "5377317729109811382"),
    ("🎤", "5382003830487523366"),
    ("🕺", "5357298525765902091"),
    ("💃", "5357370526597653193"),
    ("🪖", "5357188789351490453"),
    ("💼", "5348227245599105972"),
    ("🧪", "5411138633765757782"),
    ("\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466", "5386435923204382258"),
    ("👶", "5377675010259297233"),
    ("🤰", "5386609083400856174"),
    ("💅", "5368808634392257474"),
    ("🏛", "5350548830041415279"),
    ("🧮", "5355127101970194557"),
    ("🖨", "5386379624773066504"),
    ("\U0001f46e\u200d\u2642\ufe0f", "5377494501373780436"),  # 👮‍♂️
    ("🩺", "5350307998340226571"),
    ("💊", "5310094636159607472"),
    ("💉", "5310139157790596888"),
    ("🧼", "5377468357907849200"),
    ("🪪", "5418115271267197333"),
    ("🛃", "5372819184658949787"),
    ("🍽", "5350344462612570293"),
    ("🐟", "5384574037701696503"),
    ("🎨", "5310039132297242441"),
    ("🎭", "5350658016700013471"),
    ("🎩", "5357504778685392027"),
    ("🔮", "5350367161514732241"),
    ("🍹", "5350520238444126134"),
    ("🎂", "5310132165583840589"),
    ("\u2615\ufe0f", "5350392020785437399"),  # ☕️
    ("🍣", "5350406176997646350"),
    ("🍔", "5350403544182694064"),
    ("🍕", "5350444672789519765"),
    ("🦠", "5312424913615723286"),
    ("💬", "5417915203100613993"),
    ("🎄", "5312054580060625569"),
    ("🎃", "5309744892677727325"),
    ("\u270d\ufe0f", "5238156910363950406"),  # ✍️
    ("\u2b50\ufe0f", "5235579393115438657"),  # ⭐️
    ("\u2705", "5237699328843200968"),  # ✅
    ("🎖", "5238027455754680851"),
    ("🤡", "5238234236955148254"),
    ("🧠", "5237889595894414384"),
    ("🦮", "5237999392438371490"),
    ("🐈", "5235912661102773458"),
)
TOPIC_ICON_IDS = frozenset(custom_emoji_id for _, custom_emoji_id in TOPIC_ICONS)
TOPIC_ICON_SET_NAME = "Topics"


def topic_icon_id(emoji: str) -> str:
    """The ``custom_emoji_id`` of a topic icon, by its emoji (with or without U+FE0F)."""
    wanted = emoji.replace("\ufe0f", "")
    for candidate, custom_emoji_id in TOPIC_ICONS:
        if candidate.replace("\ufe0f", "") == wanted:
            return custom_emoji_id
    raise KeyError(f"{emoji!r} is not one of Telegram's topic icons")


def topic_icon_stickers() -> list[dict[str, Any]]:
    """The result of ``getForumTopicIconStickers``: one custom emoji ``Sticker`` per icon."""
    return [
        {
            "file_id": f"CAACAgIAAxUAAWTopicIcon{custom_emoji_id}",
            "file_unique_id": f"AgAD{custom_emoji_id[-8:]}",
            "type": "custom_emoji",
            "width": 100,
            "height": 100,
            "is_animated": True,
            "is_video": False,
            "emoji": emoji,
            "set_name": TOPIC_ICON_SET_NAME,
            "custom_emoji_id": custom_emoji_id,
            "file_size": 4000 + int(custom_emoji_id[-3:]),
        }
        for emoji, custom_emoji_id in TOPIC_ICONS
    ]
