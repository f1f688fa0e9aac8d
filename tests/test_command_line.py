"""`python -m bot` as a newcomer meets it: clear messages, exit status 2, no traceback, no secrets echoed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_bot(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "PAYMENT_", "ADMIN_"))}
    clean["PYTHONPATH"] = str(ROOT)
    # Run from an empty folder, so no developer's .env is read.
    return subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


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
