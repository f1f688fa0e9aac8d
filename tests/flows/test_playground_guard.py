"""The playground's API acts as anyone in its world, so only its own page may call it: another site's
`text/plain` or form posts, calls under a foreign Host (DNS rebinding) and JSON nested to crash the parser
are refused, and nothing happens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.flows.test_playground_api import ALICE, running_playground


@pytest.fixture
async def page_url(tmp_path: Path, unused_tcp_port: int) -> AsyncIterator[str]:
    async with running_playground(tmp_path / "playground.db", unused_tcp_port) as url:
        yield url


async def call(method: str, url: str, *, data: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as client, client.request(method, url, data=data, headers=headers) as answer:
        return answer.status, await answer.json(content_type=None)


async def alice_wrote(page_url: str, text: str) -> bool:
    _status, answer = await call("GET", f"{page_url}/api/messages")
    return any(message.get("text") == text for message in answer["chats"][str(ALICE)])


SEND = f'{{"person": {ALICE}, "chat": {ALICE}, "text": "/help"}}'
JSON = {"Content-Type": "application/json"}


async def test_posts_from_other_sites_are_refused_and_do_nothing(page_url: str) -> None:
    send = f"{page_url}/api/send"
    refusals = [
        # What a page anywhere can send without asking first (no CORS preflight):
        ({"Content-Type": "text/plain"}, 415),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415),
        ({"Content-Type": "text/plain", "Origin": "http://evil.example"}, 403),
        # ...and what a browser says of a cross-site fetch, whatever its Content-Type.
        (JSON | {"Origin": "http://evil.example"}, 403),
        (JSON | {"Origin": "null"}, 403),
        (JSON | {"Sec-Fetch-Site": "cross-site"}, 403),
        (JSON | {"Sec-Fetch-Site": "same-site"}, 403),
    ]
    for headers, status in refusals:
        answer_status, answer = await call("POST", send, data=SEND, headers=headers)
        assert answer_status == status and answer["error"], headers
    assert not await alice_wrote(page_url, "/help")

    # The page itself: same origin, JSON.
    own = page_url.removesuffix("/playground")
    status, _answer = await call(
        "POST", send, data=SEND, headers=JSON | {"Origin": own, "Sec-Fetch-Site": "same-origin"}
    )
    assert status == 200 and await alice_wrote(page_url, "/help")


async def test_a_foreign_host_name_gets_nothing(page_url: str) -> None:
    """DNS rebinding: evil.example resolves to 127.0.0.1 and its page calls the playground as same-origin."""
    port = page_url.split(":")[2].split("/")[0]
    rebound = {"Host": f"evil.example:{port}"}
    for method, path, data in [
        ("GET", "/api/world", None),
        ("GET", "/api/messages", None),
        ("GET", "", None),
        ("POST", "/api/send", SEND),
    ]:
        headers = rebound | (JSON | {"Origin": f"http://evil.example:{port}"} if data else {})
        status, answer = await call(method, page_url + path, data=data, headers=headers)
        assert status == 421 and "localhost" in answer["error"], path
    assert not await alice_wrote(page_url, "/help")

    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
        status, answer = await call("GET", f"{page_url}/api/world", headers={"Host": host})
        assert status == 200 and answer["admin"], host


async def test_json_nested_to_crash_the_parser_is_a_400(page_url: str) -> None:
    for body in ("[" * 5_000 + "]" * 5_000, '{"a":' * 40 + "1" + "}" * 40):
        status, answer = await call("POST", f"{page_url}/api/send", data=body, headers=JSON)
        assert status == 400 and "nested too deeply" in answer["error"]


async def test_the_page_may_not_be_framed_and_runs_no_inline_script(page_url: str) -> None:
    async with aiohttp.ClientSession() as client, client.get(page_url) as page:
        policy = page.headers["Content-Security-Policy"]
        assert page.status == 200 and "frame-ancestors 'none'" in policy and "'unsafe-inline'" not in policy
        assert page.headers["X-Frame-Options"] == "DENY" and page.headers["Server"] == "daifu"
