"""The playground's HTTP API, driven like its page does: a running playground (the real bot against the
embedded emulator), people sending, tapping, sharing and paying, and the event stream telling the page."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import pytest

from playground import NotAPlaygroundDatabase, run_playground
from playground.run import prepare_database

ADA, ALICE, BOB, CAROL = 1001, 1002, 1003, 1004  # the cast, in the order the playground adds them


@contextlib.asynccontextmanager
async def running_playground(database: Path, port: int, *, mini_app_cards: bool = False) -> AsyncIterator[str]:
    """run_playground in a task, as `python -m playground` runs it; yields the page's URL once ready."""
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        run_playground(
            "127.0.0.1",
            port,
            f"sqlite+aiosqlite:///{database}",
            mini_app_cards=mini_app_cards,
            on_ready=ready.set_result,
        )
    )
    first: set[asyncio.Future[Any]] = {task, ready}
    await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()  # it failed to start: say why
    try:
        yield ready.result()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class PlaygroundClient:
    """The page's side of the API: calls as one person or another, and the event stream."""

    def __init__(self, session: aiohttp.ClientSession, page_url: str) -> None:
        self.session = session
        self.page_url = page_url
        self.api = page_url + "/api/"
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.seen: list[dict[str, Any]] = []
        self.connected = asyncio.Event()  # the server said ": connected": it streams every event from now on

    async def get(self, path: str) -> Any:
        async with self.session.get(self.api + path) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def post(self, path: str, status: int = 200, **body: Any) -> Any:
        async with self.session.post(self.api + path, json=body) as response:
            answer = await response.json()
            assert response.status == status, answer
            return answer

    async def follow_events(self) -> None:
        async with self.session.get(self.api + "events", timeout=aiohttp.ClientTimeout(total=None)) as stream:
            assert stream.headers["Content-Type"].startswith("text/event-stream")
            async for line in stream.content:
                if line.startswith(b": connected"):
                    self.connected.set()
                elif line.startswith(b"data: "):
                    await self.events.put(json.loads(line[len(b"data: ") :]))

    async def event(self, kind: str, chat: int, words: str, timeout: float = 5.0) -> dict[str, Any]:
        """The first streamed event of this kind in this chat whose message says these words."""

        def matches(event: dict[str, Any]) -> bool:
            return event["type"] == kind and event["chat_id"] == chat and words in event["message"]["text"]

        for event in self.seen:
            if matches(event):
                self.seen.remove(event)
                return event
        async with asyncio.timeout(timeout):
            while True:
                event = await self.events.get()
                if event["type"] in ("message", "edit") and matches(event):
                    return event
                self.seen.append(event)

    async def message(self, chat: int, words: str) -> dict[str, Any]:
        return (await self.event("message", chat, words))["message"]

    async def tap(self, person: int, message: dict[str, Any], text: str, **expected: Any) -> Any:
        """Tap the button whose text contains text (the page sends its row and column)."""
        for row, buttons in enumerate(message["buttons"]):
            for column, button in enumerate(buttons):
                if text in button["text"]:
                    return await self.post(
                        "tap", person=person, chat=message["chat_id"], message=message["id"], row=row, column=column
                    )
        raise AssertionError(f"no button {text!r} in {message['buttons']}")


@pytest.fixture
async def playground(tmp_path: Path, unused_tcp_port: int) -> AsyncIterator[PlaygroundClient]:
    async with (
        running_playground(tmp_path / "playground.db", unused_tcp_port) as page_url,
        aiohttp.ClientSession() as session,
    ):
        client = PlaygroundClient(session, page_url)
        stream = asyncio.create_task(client.follow_events())
        try:
            async with asyncio.timeout(10):  # the stream is open before anyone acts
                await client.connected.wait()
            yield client
        finally:
            stream.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stream


async def test_the_page_its_files_and_the_cast(playground: PlaygroundClient) -> None:
    async with playground.session.get(playground.page_url) as page:
        assert page.status == 200 and "playground.js" in await page.text()
    for name in ("playground.js", "playground.css"):
        async with playground.session.get(f"{playground.page_url}/static/{name}") as static:
            assert static.status == 200
    world = await playground.get("world")
    assert [p["name"] for p in world["people"]] == ["Ada", "Alice", "Bob", "Carol"]
    assert world["admin"] == ADA and world["bot"]["username"] == "daifu_bot"
    kinds = sorted(chat["kind"] for chat in world["chats"])
    assert kinds == ["bot"] * 4 + ["direct"] * 6 + ["group"]
    assert world["words"]["send"] == "Send" and set(world["locales"]) == {"en", "zh_Hans"}


async def test_start_send_tap_and_the_stream_shows_new_and_edited_messages(playground: PlaygroundClient) -> None:
    await playground.post("send", person=ALICE, chat=ALICE, text="/start")
    mine = await playground.event("message", ALICE, "/start")
    assert mine["message"]["from"]["id"] == ALICE
    hello = await playground.message(ALICE, "")
    assert hello["from"]["is_bot"]

    await playground.post("send", person=ALICE, chat=ALICE, text="/language")
    choose = await playground.message(ALICE, "Choose your language")
    assert [button["kind"] for row in choose["buttons"] for button in row] == ["callback", "callback"]
    answer = await playground.tap(ALICE, choose, "简体中文")
    assert "answer" in answer
    edited = await playground.event("edit", ALICE, "从现在起")
    assert edited["message"]["id"] == choose["id"] and edited["message"]["edited"] and not edited["message"]["buttons"]
    listed = await playground.get("messages")
    assert any("从现在起" in m["text"] for m in listed["chats"][str(ALICE)])


async def test_ask_the_group_and_a_friend_pays_through_the_api(playground: PlaygroundClient) -> None:
    await playground.post("send", person=ADA, chat=ADA, text="/newlink 12.50 USD Coffee beans")
    qr = await playground.message(ADA, "New checkout link")
    assert qr["photo"]["url"].startswith("/playground/api/files/") and qr["scan"].startswith("https://t.me/daifu_bot")
    async with playground.session.get(playground.page_url.removesuffix("/playground") + qr["photo"]["url"]) as image:
        assert image.status == 200 and image.content_type == "image/png"

    # Alice scans the QR code Ada's chat shows: her own chat with the bot opens with the order.
    scanned = await playground.post("scan", person=ADA, chat=ADA, message=qr["id"], scanner=ALICE)
    assert scanned == {"open_chat": ALICE, "person": ALICE}
    card = await playground.message(ALICE, "Coffee beans")
    await playground.tap(ALICE, card, "Ask a friend to pay")
    await playground.tap(ALICE, await playground.message(ALICE, "Add a note"), "Skip")
    kit = await playground.message(ALICE, "Your request is ready")
    share = (await playground.tap(ALICE, kit, "Share in a chat"))["share"]
    group = next(chat["id"] for chat in (await playground.get("world"))["chats"] if chat["kind"] == "group")
    assert group in share["chats"] and ALICE not in share["chats"]  # the picker offers no bot chats here
    results = (await playground.post("inline", person=ALICE, chat=group, query=share["query"]))["results"]
    chosen = next(result for result in results if result["id"].startswith("card:"))
    assert await playground.post("choose", person=ALICE, chat=group, result=chosen["id"]) == {
        "open_chat": group,
        "sent": 1,
    }

    posted = await playground.message(group, "Coffee beans")
    assert posted["via"] == "@daifu_bot" and posted["buttons"][0][0]["kind"] == "deep_link"
    assert await playground.tap(BOB, posted, "Pay for Alice") == {"open_chat": BOB}
    offer = await playground.message(BOB, "Alice asks you to pay $12.50")
    await playground.tap(BOB, offer, "Pay by card")
    invoice = await playground.message(BOB, "")
    while "invoice" not in invoice:
        invoice = await playground.message(BOB, "")
    assert invoice["invoice"]["amount"] == "$12.50"
    assert await playground.post("pay", person=BOB, chat=BOB, message=invoice["id"]) == {"paid": True, "chat_id": BOB}
    await playground.message(BOB, "Payment received")
    await playground.event("edit", group, "Paid by Bob ✅")

    # Telegram would not ask twice; the playground lets Bob try, and shows the bot's refusal.
    again = await playground.post("pay", person=BOB, chat=BOB, message=invoice["id"])
    assert again == {"refused": "This order is already paid; you were not charged."}


async def test_links_languages_and_mistakes(playground: PlaygroundClient) -> None:
    assert await playground.post("link", person=CAROL, url="http://127.0.0.1:1/elsewhere") == {
        "open_url": "http://127.0.0.1:1/elsewhere"
    }
    assert await playground.post("link", person=CAROL, url="https://t.me/daifu_bot?start=nothing-here") == {
        "open_chat": CAROL
    }
    await playground.message(CAROL, "not known")

    chinese = await playground.post("language", locale="zh_Hans")
    assert chinese["locale"] == "zh_Hans" and set(chinese["words"]) == set((await playground.get("world"))["words"])
    await playground.post("send", person=CAROL, chat=CAROL, text="/help")
    await playground.message(CAROL, "以及它的命令")  # Carol's Telegram app now speaks Chinese, so does the bot

    bob_and_carol = 9_000_000_007
    assert "not in chat" in (await playground.post("send", 403, person=ADA, chat=bob_and_carol, text="hi"))["error"]
    assert (await playground.post("send", 404, person=7, chat=ADA, text="hi"))["error"]
    assert "must be a str" in (await playground.post("send", 400, person=ADA, chat=ADA))["error"]
    assert (await playground.post("tap", 404, person=ADA, chat=ADA, message=999, row=0, column=0))["error"]
    assert (await playground.post("language", 400, locale="fr"))["error"]


async def test_the_app_pane_opens_the_mini_app_signed_in_as_the_person(playground: PlaygroundClient) -> None:
    """The pane's address carries init data the emulator signed for the person; daifu's API takes it as Telegram's."""
    opened = await playground.post("app", person=CAROL, start="r_abc", theme="dark")
    path, _, fragment = opened["url"].partition("#")
    launch = dict(parse_qsl(fragment))
    assert path == "/app" and launch["tgWebAppVersion"] == "8.0" and launch["tgWebAppBotInline"] == "1"
    assert json.loads(launch["tgWebAppThemeParams"])["bg_color"] == "#212121"
    signed = dict(parse_qsl(launch["tgWebAppData"]))
    assert json.loads(signed["user"])["id"] == CAROL and signed["start_param"] == "r_abc"
    base = playground.page_url.removesuffix("/playground")
    me_url = f"{base}/app/api/me"
    async with playground.session.get(me_url, headers={"Authorization": f"tma {launch['tgWebAppData']}"}) as me:
        assert me.status == 200 and (await me.json())["person"]["id"] == CAROL
    # A direct link to the bot's app opens the pane with its start parameter; a web_app button of another site
    # is only a link to open.
    assert await playground.post("link", person=CAROL, url="https://t.me/daifu_bot/app?startapp=o_xyz") == {
        "app": {"start": "o_xyz"}
    }
    own = await playground.post("app", person=CAROL, url=f"{base}/app?startapp=o_xyz")
    assert own["url"].startswith("/app?startapp=o_xyz#tgWebAppData=")
    assert await playground.post("app", person=CAROL, url="https://elsewhere.example/app") == {
        "open_url": "https://elsewhere.example/app"
    }
    assert "theme" in (await playground.post("app", 400, person=CAROL, theme="sepia"))["error"]
    assert (await playground.post("app", 404, person=7))["error"]


async def test_a_fresh_start_empties_only_a_playground_database(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'playground.db'}"
    await prepare_database(url, fresh=True)
    await prepare_database(url, fresh=True)  # its own file: emptied and made again

    other = tmp_path / "daifu.db"
    other.write_bytes(b"someone's real data")
    with pytest.raises(NotAPlaygroundDatabase):
        await prepare_database(f"sqlite+aiosqlite:///{other}", fresh=True)
    assert other.read_bytes() == b"someone's real data"
    with pytest.raises(ValueError, match="SQLite file"):
        await prepare_database("postgresql+asyncpg://localhost/daifu", fresh=True)
