"""The Mini App's page at /app: what it tells the browser about itself, and which files it serves.

Its policy allows scripts from daifu and telegram.org only, and framing by Telegram's web clients only; daifu's
stand-in for Telegram's script is served only when MINIAPP_LOCAL_SDK says so (offline: the playground, tests)."""

from __future__ import annotations

import base64
import hashlib
import json
import re

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from web import security
from web.miniapp_page import APP_FILES, MiniAppPage


async def serve(*, local_sdk: bool) -> TestClient:
    app = web.Application()
    security.install(app)
    app.add_routes(MiniAppPage(local_sdk=local_sdk).routes())
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


def directives(policy: str) -> dict[str, list[str]]:
    return {name: values for name, *values in (part.split() for part in policy.split(";"))}


async def test_the_page_loads_telegrams_script_and_only_telegrams_web_clients_may_frame_it() -> None:
    client = await serve(local_sdk=False)
    try:
        answer = await client.get("/app")
        assert answer.status == 200
        html = await answer.text()
        policy = directives(answer.headers["Content-Security-Policy"])
        assert policy["script-src"] == ["'self'", "https://telegram.org"]
        assert policy["frame-ancestors"] == ["https://web.telegram.org", "https://*.web.telegram.org"]
        assert policy["connect-src"] == ["'self'"] and policy["default-src"] == ["'none'"]
        # Styles from daifu, and the one empty <style> Telegram's script adds: the hash of the empty text.
        empty = base64.b64encode(hashlib.sha256(b"").digest()).decode()
        assert policy["style-src"] == ["'self'", f"'sha256-{empty}'"]
        # X-Frame-Options has no way to name Telegram, and DENY would contradict the policy.
        assert "X-Frame-Options" not in answer.headers
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert '<script src="https://telegram.org/js/telegram-web-app.js"></script>' in html
        # No inline script: every <script> loads a file.
        assert re.findall(r"<script[^>]*>", html) == [
            '<script src="https://telegram.org/js/telegram-web-app.js">',
            '<script src="/app/static/app.js" defer>',
        ]
        for name, kind in [
            ("app.js", "text/javascript"),
            ("app.css", "text/css"),
            ("words/zh_Hans.json", "application/json"),
        ]:
            served = await client.get(f"/app/static/{name}")
            assert served.status == 200 and served.content_type == kind
        assert (await client.get("/app/static/telegram-web-app.js")).status == 404  # real Telegram brings its own
        assert (await client.get("/app/static/../miniapp_page.py")).status == 404
        # Every other page keeps refusing to be framed.
        assert (await client.get("/nowhere")).headers["X-Frame-Options"] == "DENY"
    finally:
        await client.close()


async def test_offline_the_stand_in_is_served_and_daifus_own_pages_may_frame_the_app() -> None:
    client = await serve(local_sdk=True)
    try:
        answer = await client.get("/app/")
        assert '<script src="/app/static/telegram-web-app.js"></script>' in await answer.text()
        assert directives(answer.headers["Content-Security-Policy"])["frame-ancestors"][-1] == "'self'"
        assert (await client.get("/app/static/telegram-web-app.js")).status == 200
    finally:
        await client.close()


def test_every_word_of_the_app_is_in_english_and_chinese() -> None:
    english, chinese = (json.loads((APP_FILES / "words" / f"{name}.json").read_text()) for name in ("en", "zh_Hans"))
    assert set(english) == set(chinese)
    assert all(text.strip() for text in [*english.values(), *chinese.values()])
    # Placeholders survive translation: "{name} asks you to pay" keeps its {name}.
    for key, text in english.items():
        assert sorted(re.findall(r"{\w+}", text)) == sorted(re.findall(r"{\w+}", chinese[key])), key
    script = (APP_FILES / "app.js").read_text()
    used = set(re.findall(r"word\('(\w+)'", script))
    used |= {f"role_{role}" for role in ("asked", "bought", "paid_for")} | {f"mode_{m}" for m in ("single", "split")}
    assert used <= set(english), used - set(english)
