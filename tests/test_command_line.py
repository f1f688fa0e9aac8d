"""`python -m bot` as a newcomer meets it: clear messages, exit status 2, no traceback, no secrets echoed."""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import re
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from telegram.error import BadRequest, TimedOut

from bot.cli import main, run, with_default_command
from bot.settings import Settings
from bot.start_failures import StartFailure, bot_api_at, webhook_at
from emulator import BotApiEmulator
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[1]


def run_bot(tmp_path: Path, *args: str, module: str | None = "bot", **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "PAYMENT_", "ADMIN_", "STRIPE_"))}
    clean["PYTHONPATH"] = str(ROOT)
    command = [sys.executable, *(["-m", module] if module else []), *args]
    # Run from an empty folder, so no developer's .env is read.
    return subprocess.run(command, cwd=tmp_path, env={**clean, **env}, capture_output=True, text=True, timeout=60)


def ensure_postgres() -> None:
    subprocess.run([ROOT / "scripts" / "ensure-postgres"], check=False, capture_output=True, timeout=60)


def test_without_a_token_the_bot_says_where_to_get_one(tmp_path: Path) -> None:
    result = run_bot(tmp_path)
    assert result.returncode == 2
    assert "TELEGRAM_BOT_TOKEN" in result.stderr and "@BotFather" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_copy_of_env_example_as_the_readme_says_starts_like_no_settings_at_all(tmp_path: Path) -> None:
    # Every setting is listed there, most of them empty: empty means "not set", not "set to nothing".
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text())
    result = run_bot(tmp_path)
    assert result.returncode == 2
    assert "TELEGRAM_BOT_TOKEN is not set" in result.stderr
    assert "not valid" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PAYMENT_PROVIDERS": "telegram"}, "TELEGRAM_PROVIDER_TOKEN"),
        ({"PAYMENT_PROVIDERS": "sandbox,paypal"}, "PAYMENT_PROVIDERS"),
        ({"ADMIN_IDS": "12,abc"}, "ADMIN_IDS"),
    ],
)
def test_bad_settings_are_named_without_echoing_secrets(tmp_path: Path, env: dict[str, str], named: str) -> None:
    result = run_bot(tmp_path, TELEGRAM_BOT_TOKEN="123456:very-secret-token", **env)
    assert result.returncode == 2
    assert named in result.stderr and "Traceback" not in result.stderr
    assert "very-secret" not in result.stderr and "123456" not in result.stderr


# --- every start failure is one line and exit status 2, with no secret and no traceback ---

TOKEN = "123456:very-secret-token"
PASSWORD = "hunter2-db-password"


def quiet(tmp_path: Path, **env: str) -> dict[str, str]:
    """Settings for a start that fails: the INFO lines of a normal start (migrations, jobs) left out."""
    return {"TELEGRAM_BOT_TOKEN": TOKEN, "LOG_LEVEL": "WARNING", "DATABASE_URL": sqlite_in(tmp_path)} | env


def sqlite_in(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'daifu.db'}"


def one_clear_line(result: subprocess.CompletedProcess[str], *secrets: str) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("daifu: "), result.stderr  # no unclosed-session warning either
    for secret in ("very-secret", *secrets):
        assert secret not in result.stdout + result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("base_url", "reason"),
    [
        ("http://127.0.0.1:1/bot", "the connection was refused"),
        ("http://daifu-no-such-host.invalid/bot", "its host name does not resolve"),
    ],
)
def test_a_bot_api_server_out_of_reach(tmp_path: Path, base_url: str, reason: str) -> None:
    line = one_clear_line(run_bot(tmp_path, **quiet(tmp_path, TELEGRAM_API_BASE_URL=base_url)))
    assert "cannot reach the Bot API server at" in line and reason in line and "TELEGRAM_API_BASE_URL" in line


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("nonsense", "is not a database URL daifu can use"),
        (f"postgresql://daifu:{PASSWORD}@127.0.0.1/daifu", "an async driver is needed"),
        (f"postgresql+asyncpg://daifu:{PASSWORD}@127.0.0.1:1/daifu", "the connection was refused"),
        # Refused as a wrong password or as no such role, as the server's pg_hba.conf has it: either way, named.
        (f"postgresql+asyncpg://nobody:{PASSWORD}@127.0.0.1:5432/daifu", '"nobody"'),
        ("sqlite+aiosqlite:////no-such-folder/daifu.db", "unable to open database file"),
    ],
    ids=["unparsed", "sync-driver", "refused", "wrong-password", "no-folder"],
)
def test_a_database_that_cannot_be_used(tmp_path: Path, url: str, says: str) -> None:
    if "5432" in url:
        ensure_postgres()
    line = one_clear_line(run_bot(tmp_path, **quiet(tmp_path, DATABASE_URL=url)), PASSWORD)
    assert "DATABASE_URL" in line and says in line


def test_migrate_says_the_same_of_a_database_out_of_reach(tmp_path: Path) -> None:
    url = f"postgresql+asyncpg://daifu:{PASSWORD}@127.0.0.1:1/daifu"
    line = one_clear_line(run_bot(tmp_path, "migrate", **quiet(tmp_path, DATABASE_URL=url)), PASSWORD)
    assert line.startswith("daifu: cannot use the database at DATABASE_URL (postgresql+asyncpg://daifu:***@127.0.0.1:1")


# As if no provider SDK were installed (pip install daifu, without an extra): an import of any of them then fails,
# as it does where the package is absent.
WITHOUT_SDKS = "import sys; sys.modules.update(dict.fromkeys(['stripe', 'wechatpayv3', 'alipay']))\n"

# Every module production runs, imported, then the bot started and stopped against the emulator.
START_EVERYTHING = """
import asyncio, importlib, pkgutil
from bot.runtime import Runtime
from bot.settings import Settings
from emulator import BotApiEmulator

for package in ("bot", "handlers", "web", "presentation", "services", "payments", "storage"):
    for found in pkgutil.walk_packages(importlib.import_module(package).__path__, package + "."):
        if not found.name.startswith(("bot.__main__", "storage.migrations.")):  # these run when imported
            importlib.import_module(found.name)

async def start_and_stop():
    async with BotApiEmulator(token="123456:TEST", bot_username="daifu_bot", bot_name="daifu") as emu:
        settings = Settings(telegram_bot_token="123456:TEST", telegram_api_base_url=emu.base_url)
        runtime = await Runtime.assemble(settings)
        try:
            await runtime.start(poll_timeout=0)
            print("started with", ",".join(runtime.daifu.providers))
        finally:
            await runtime.stop()

asyncio.run(start_and_stop())
"""


def test_a_sandbox_bot_runs_without_any_provider_sdk(tmp_path: Path) -> None:
    """A plain `pip install daifu` (no extra): the SDKs of the providers not enabled are never imported."""
    env = quiet(tmp_path, WEB_PORT=str(free_port()), OPS_PORT="0")
    result = run_bot(tmp_path, "-c", WITHOUT_SDKS + START_EVERYTHING, module=None, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "started with sandbox"


WECHATPAY_KEYS = ("MCHID", "APPID", "PRIVATE_KEY", "CERT_SERIAL_NO", "APIV3_KEY", "PUBLIC_KEY", "PUBLIC_KEY_ID")
ALIPAY_KEYS = ("APP_ID", "APP_PRIVATE_KEY", "PUBLIC_KEY")


@pytest.mark.parametrize(
    ("provider", "package", "keys"),
    [
        ("stripe", "stripe", {"STRIPE_API_KEY": "sk_test_secret", "STRIPE_WEBHOOK_SECRET": "whsec_x"}),
        ("wechatpay", "wechatpayv3", {f"WECHATPAY_{key}": "sk_test_secret" for key in WECHATPAY_KEYS}),
        ("alipay", "alipay", {f"ALIPAY_{key}": "sk_test_secret" for key in ALIPAY_KEYS}),
    ],
)
def test_a_provider_enabled_without_its_sdk_names_the_extra(
    tmp_path: Path, provider: str, package: str, keys: dict[str, str]
) -> None:
    without_sdks = WITHOUT_SDKS + "from bot.cli import main; sys.exit(main([]))"
    env = quiet(tmp_path, PAYMENT_PROVIDERS=f"sandbox,{provider}", **keys)
    line = one_clear_line(run_bot(tmp_path, "-c", without_sdks, module=None, **env), "sk_test_secret")
    assert line == (
        f"daifu: PAYMENT_PROVIDERS has {provider}, but its SDK (the Python package {package}) is not installed: "
        f"pip install 'daifu[{provider}]'"
    )
    assert provider in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


async def test_a_port_in_use(tmp_path: Path) -> None:
    async with BotApiEmulator(token=TOKEN, bot_username="daifu_bot", bot_name="daifu") as emu:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", free_port()))
            taken.listen()
            port = taken.getsockname()[1]
            env = quiet(tmp_path, TELEGRAM_API_BASE_URL=emu.base_url, WEB_PORT=str(port), OPS_PORT="0")
            result = await asyncio.to_thread(run_bot, tmp_path, **env)
    line = one_clear_line(result)
    assert (
        line
        == f"daifu: WEB_PORT {port} is in use on 127.0.0.1 by another program: stop it, or set WEB_PORT to a free port"
    )


async def test_the_operations_port_in_use(tmp_path: Path) -> None:
    async with BotApiEmulator(token=TOKEN, bot_username="daifu_bot", bot_name="daifu") as emu:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", free_port()))
            taken.listen()
            port = taken.getsockname()[1]
            env = quiet(tmp_path, TELEGRAM_API_BASE_URL=emu.base_url, WEB_PORT=str(free_port()), OPS_PORT=str(port))
            result = await asyncio.to_thread(run_bot, tmp_path, **env)
    line = one_clear_line(result)
    assert (
        line
        == f"daifu: OPS_PORT {port} is in use on 127.0.0.1 by another program: stop it, or set OPS_PORT to a free port"
    )


def test_the_mapping_of_what_happens_rarely_here() -> None:
    """A Bot API server that does not answer, and a webhook address Telegram refuses."""
    refused = r"at https://api.example:8443 \(no answer in time\)"
    with pytest.raises(StartFailure, match=refused), bot_api_at("https://user:pass@api.example:8443/bot"):
        raise TimedOut
    https = "PUBLIC_BASE_URL must be a public HTTPS address"
    with pytest.raises(StartFailure, match=https), webhook_at("http://127.0.0.1:8080/telegram/webhook"):
        raise BadRequest("Bad webhook: HTTPS url must be provided for webhook")
    # A refused call that is not about reaching the server is no start failure.
    with pytest.raises(BadRequest), bot_api_at("https://api.telegram.org/bot"):
        raise BadRequest("chat not found")


# --- the command line ---


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ([], "run the bot and its web server"),
        (["run"], "--webhook"),
        (["migrate"], "newest schema"),
        (["apikey"], "revoke an API key by its prefix"),
        (["apikey", "create"], "SHOP"),
        (["apikey", "revoke"], "PREFIX"),
        (["rotate-secrets"], "first key of SECRETS_KEY"),
    ],
)
def test_each_command_has_its_help(command: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        main([*command, "--help"], prog="daifu")
    assert exit.value.code == 0
    shown = capsys.readouterr().out
    assert shown.startswith(f"usage: daifu {' '.join(command)}".rstrip()) and says in shown


def test_the_top_help_describes_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"], prog="daifu")
    shown = capsys.readouterr().out
    for command in ("run", "migrate", "apikey", "rotate-secrets"):
        assert re.search(rf"^ +{command}\s+\w", shown, re.MULTILINE), shown


def test_version(tmp_path: Path) -> None:
    result = run_bot(tmp_path, "--version")
    assert result.returncode == 0 and result.stdout.strip() == f"daifu {importlib.metadata.version('daifu')}"


def test_run_is_the_default_command() -> None:
    assert with_default_command([]) == ["run"]
    assert with_default_command(["--webhook"]) == ["run", "--webhook"]
    assert with_default_command(["--help"]) == ["--help"] and with_default_command(["migrate"]) == ["migrate"]


def test_the_console_script_is_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    # This checkout's pyproject.toml, not the installed metadata: the venv may hold another checkout's.
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    entry = importlib.metadata.EntryPoint(name="daifu", value=scripts["daifu"], group="console_scripts")
    assert entry.load() is main
    with pytest.raises(SystemExit) as exit:
        entry.load()(["--version"])
    assert exit.value.code == 0 and capsys.readouterr().out.startswith("daifu ")


def test_anything_unexpected_is_logged_with_its_traceback_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(_settings: Settings) -> None:
        raise RuntimeError("a bug, not a setting")

    monkeypatch.setattr("bot.runtime.serve_forever", broken)
    assert run(Settings(telegram_bot_token="123456:very-secret-token", _env_file=None)) == 1  # type: ignore[call-arg]
    (record,) = [record for record in caplog.records if record.name == "daifu"]
    assert record.getMessage() == "daifu stopped on an error" and "a bug, not a setting" in caplog.text
