"""`python -m bot` start-up: the checks against Telegram, `--check`, and a clean stop."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from bot.app import run
from bot.config import Settings
from tests.conftest import OPERATOR_CHAT_ID
from tests.fake_telegram import FakeTelegram, Group
from tests.harness import BotProcess


def settings_for(env: dict[str, str], tmp_path: Path, **extra: str) -> Settings:
    values = {"DATABASE_PATH": str(tmp_path / "bot.sqlite3"), **env, **extra}
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


async def check(env: dict[str, str], tmp_path: Path, **extra: str) -> int:
    return await run(settings_for(env, tmp_path, **extra), check_only=True)


async def test_check_passes_on_a_correct_set_up(
    fake: FakeTelegram, group: Group, bot_env: dict[str, str], tmp_path: Path, capsys
) -> None:
    assert await check(bot_env, tmp_path) == 0
    out = capsys.readouterr().out
    assert "ok: @support_test_bot can serve operator group 'Support'" in out
    # --check takes no updates and changes nothing in Telegram.
    assert not fake.calls_of("getUpdates")
    assert not fake.calls_of("deleteWebhook")


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (
            {"is_forum": False},
            f"OPERATOR_CHAT_ID {OPERATOR_CHAT_ID} (Support) does not have Topics enabled",
        ),
        ({"bot_status": "member"}, "the bot is not an administrator of Support"),
        (
            {"bot_rights": {"can_manage_topics": False}},
            "administrator of Support (-1001234567890) without the 'Manage topics' right",
        ),
        ({"supergroup": False, "chat_id": -4001}, "OPERATOR_CHAT_ID -4001 is a group, not a"),
    ],
)
async def test_check_explains_a_wrong_operator_group(
    fake: FakeTelegram,
    bot_env: dict[str, str],
    tmp_path: Path,
    capsys,
    setup: dict[str, object],
    expected: str,
) -> None:
    chat_id = int(setup.pop("chat_id", OPERATOR_CHAT_ID))  # type: ignore[call-overload]
    fake.create_group(chat_id, "Support", **setup)  # type: ignore[arg-type]
    assert await check({**bot_env, "OPERATOR_CHAT_ID": str(chat_id)}, tmp_path) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error: ")
    assert expected in err[0]


async def test_check_explains_an_unknown_group(
    fake: FakeTelegram, bot_env: dict[str, str], tmp_path: Path, capsys
) -> None:
    assert await check(bot_env, tmp_path) == 1
    err = capsys.readouterr().err
    assert f"OPERATOR_CHAT_ID {OPERATOR_CHAT_ID}: chat not found" in err


async def test_check_explains_a_rejected_token(
    fake: FakeTelegram, group: Group, bot_env: dict[str, str], tmp_path: Path, capsys
) -> None:
    wrong = "654321:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_"
    assert await check({**bot_env, "BOT_TOKEN": wrong}, tmp_path) == 1
    err = capsys.readouterr().err
    assert "BOT_TOKEN was rejected by Telegram (401 Unauthorized)" in err
    assert wrong not in err


async def test_check_explains_an_unreachable_api(
    bot_env: dict[str, str], tmp_path: Path, capsys
) -> None:
    assert await check({**bot_env, "TELEGRAM_API_URL": "http://127.0.0.1:9"}, tmp_path) == 1
    assert "cannot reach the Bot API at TELEGRAM_API_URL http://127.0.0.1:9" in (
        capsys.readouterr().err
    )


async def test_check_explains_an_unusable_database(
    fake: FakeTelegram, group: Group, bot_env: dict[str, str], tmp_path: Path, capsys
) -> None:
    missing_dir = tmp_path / "no" / "such" / "dir" / "bot.sqlite3"
    assert await check(bot_env, tmp_path, DATABASE_PATH=str(missing_dir)) == 1
    assert f"DATABASE_PATH {missing_dir}:" in capsys.readouterr().err


async def test_python_m_bot_check_as_a_process(
    fake: FakeTelegram, group: Group, bot_env: dict[str, str], tmp_path: Path
) -> None:
    bot = BotProcess(tmp_path, bot_env)
    await bot.start("--check")
    assert await bot.wait_exit() == 0
    assert "ok: @support_test_bot" in bot.log
    assert "Traceback" not in bot.log


async def test_python_m_bot_failing_check_is_one_line_and_non_zero(
    fake: FakeTelegram, bot_env: dict[str, str], tmp_path: Path
) -> None:
    fake.create_group(OPERATOR_CHAT_ID, "Support", is_forum=False)
    bot = BotProcess(tmp_path, {**bot_env, "LOG_LEVEL": "ERROR"})
    await bot.start()
    assert await bot.wait_exit() == 1
    lines = [line for line in bot.log.splitlines() if line and not line.startswith("=====")]
    assert lines == [
        f"error: OPERATOR_CHAT_ID {OPERATOR_CHAT_ID} (Support) does not have Topics enabled: "
        "turn on Topics in the group's settings"
    ]


@pytest.mark.parametrize("args", [(), ("--check",)])
async def test_an_icon_telegram_does_not_offer_is_a_one_line_configuration_error(
    fake: FakeTelegram, group: Group, bot_env: dict[str, str], tmp_path: Path, args: tuple[str, ...]
) -> None:
    env = {**bot_env, "TOPIC_ICONS": "on", "TOPIC_ICON_WAITING": "⏰", "LOG_LEVEL": "ERROR"}
    bot = BotProcess(tmp_path, env)
    await bot.start(*args)
    assert await bot.wait_exit() == 2
    lines = [line for line in bot.log.splitlines() if line and not line.startswith("=====")]
    assert len(lines) == 1
    assert lines[0].startswith("error: configuration error: TOPIC_ICON_WAITING '⏰' is not one")
    assert "💬" in lines[0]  # the choices


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_stops_the_bot_cleanly(
    fake: FakeTelegram,
    group: Group,
    bot_env: dict[str, str],
    tmp_path: Path,
    signum: signal.Signals,
) -> None:
    bot = BotProcess(tmp_path, bot_env)
    try:
        health = await bot.start_and_wait_healthy()
        assert health["ok"] is True
        assert await bot.terminate(signum=signum) == 0
    finally:
        await bot.close()
    assert "Stopped" in bot.log
    assert "Traceback" not in bot.log
    # The database was closed: SQLite removes the WAL file when the last connection closes.
    assert (tmp_path / "bot.sqlite3").exists()
    assert not (tmp_path / "bot.sqlite3-wal").exists()


async def test_python_m_bot_with_an_unusable_database_is_one_line(
    fake: FakeTelegram, group: Group, bot_env: dict[str, str], tmp_path: Path
) -> None:
    """Regression: aiosqlite's worker thread used to die with a traceback after the error."""
    missing = tmp_path / "missing" / "bot.sqlite3"
    bot = BotProcess(tmp_path, {**bot_env, "DATABASE_PATH": str(missing), "LOG_LEVEL": "ERROR"})
    await bot.start()
    assert await bot.wait_exit() == 1
    lines = [line for line in bot.log.splitlines() if line and not line.startswith("=====")]
    assert lines == [f"error: DATABASE_PATH {missing}: unable to open database file"]


def test_the_bots_under_test_inherit_no_settings_from_the_runner() -> None:
    """conftest removes every setting from the environment for the session (try it with
    WORKING_HOURS=nonsense in the shell: the suite still passes)."""
    assert not set(Settings.model_fields) & set(os.environ)
