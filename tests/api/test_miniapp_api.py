"""The Mini App's API knows the caller only by Telegram's init data: a forged, stale, missing or unreadable one is
refused with a 401 in words; a good one, fields in any order, answers that person's orders and requests, and
nobody else's."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import aiohttp
import pytest
from aiohttp import web

from emulator.mini_apps import init_data, sign_init_data
from services.person_throttle import PersonThrottle
from tests.flows.payforme_steps import ask_friend
from tests.harness import RunningShop
from tests.ports import served
from web.miniapp_api import MiniAppApi
from web.miniapp_auth import NotSignedIn, check_init_data

ME = "/app/api/me"


async def me(shop: RunningShop, authorization: str | None) -> tuple[int, dict[str, Any]]:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with aiohttp.ClientSession() as client, client.get(shop.web_url + ME, headers=headers) as answer:
        return answer.status, await answer.json()


def reordered(signed: str) -> str:
    return urlencode(list(reversed(parse_qsl(signed))))


def changed(signed: str, key: str, value: str) -> str:
    return urlencode([(k, value if k == key else v) for k, v in parse_qsl(signed)])


async def test_the_mini_app_api_answers_only_the_person_telegram_signed_in(shop: RunningShop) -> None:
    emu, alice, bob, admin = shop.emu, shop.alice, shop.bob, shop.admin
    coffee = await shop.new_link("/newlink 12.50 USD Coffee beans")  # the admin's own order, to pay
    cake = await shop.new_link("/newlink 10 USD Birthday cake")
    cake_request = await ask_friend(shop, alice, cake, shares=3)

    signed = emu.mini_app_init_data(alice)
    status, mine = await me(shop, f"tma {signed}")
    assert status == 200, mine
    assert mine["person"] == {"id": alice.id, "name": "Alice", "locale": "en"}
    [order] = mine["orders"]
    assert order["title"] == "Birthday cake" and isinstance(order["number"], int)
    assert order["amount"] == {"minor": 1000, "currency": "USD", "formatted": "$10.00"}
    assert order["status"] == {"code": "open", "words": "waiting for a friend to pay · 0 of 3 chipped in"}
    assert order["request"] == {
        "token": cake_request,
        "mode": "split",
        "shares": 3,
        "covered": {"minor": 0, "currency": "USD", "formatted": "$0.00"},
        "status": "open",
    }
    assert order["can"] == {"pay": False, "share": True, "cancel": True, "remind": True}
    # Telegram does not sort the fields; neither must the caller.
    assert await me(shop, f"tma {reordered(signed)}") == (200, mine)
    assert (await me(shop, f"TMA  {signed} "))[0] == 200  # the scheme in any case, spaces around

    # In the person's own language, from their Telegram app.
    status, chinese = await me(
        shop, "tma " + init_data(emu.token, replace(alice, language_code="zh-hans"), auth_date=int(time.time()))
    )
    assert status == 200 and chinese["person"]["locale"] == "zh_Hans"
    assert chinese["orders"][0]["status"]["words"] != order["status"]["words"]
    assert "10.00" in chinese["orders"][0]["amount"]["formatted"]

    # Someone else sees none of it: Bob has nothing; the admin made both orders but did not ask friends to pay.
    assert (await me(shop, f"tma {emu.mini_app_init_data(bob)}"))[1]["orders"] == []
    status, theirs = await me(shop, f"tma {emu.mini_app_init_data(admin)}")
    assert status == 200 and cake_request not in json.dumps(theirs)
    by_title = {entry["title"]: entry for entry in theirs["orders"]}
    assert by_title["Coffee beans"]["can"] == {"pay": True, "share": False, "cancel": False, "remind": False}
    assert by_title["Birthday cake"]["request"] is None
    assert coffee not in json.dumps(mine)

    # Refused, each with a 401 and a reason in words.
    alice_as_bob = changed(signed, "user", json.dumps({"id": bob.id, "first_name": "Bob"}))
    fields = {key: value for key, value in parse_qsl(signed) if key != "hash"}
    other_token = sign_init_data("654321:ANOTHER-bot", fields)
    future = fields | {"auth_date": str(int(time.time()) + 3600)}
    refused = {
        "missing": None,
        "empty": "",
        "wrong scheme": f"Bearer {signed}",
        "no init data": "tma",
        "forged (one field changed)": f"tma {alice_as_bob}",
        "signed with another bot's token": f"tma {other_token}",
        "hash changed": "tma " + changed(signed, "hash", "0" * 64),
        "stale": f"tma {emu.mini_app_init_data(alice, age=3601)}",
        "dated in the future": "tma " + sign_init_data(emu.token, future),
        "a field twice": f"tma {signed}&auth_date=1",
        "garbage": "tma %ff%fe=%01&&&==",
        "too long": "tma " + "a=b&" * 1100 + signed,
    }
    for case, authorization in refused.items():
        status, body = await me(shop, authorization)
        assert status == 401, case
        assert isinstance(body["error"], str) and len(body["error"]) > 10, case
        assert signed not in body["error"], case
    # The chat's per-person pace holds in the app (the shop under test has generous limits: here, a tight one).
    tight = PersonThrottle(rate=0.001, burst=2, pause=timedelta(seconds=30))
    app = web.Application()
    app.add_routes(MiniAppApi(shop.daifu, emu.token, max_age=3600, throttle=tight).routes())
    async with served(app) as base, aiohttp.ClientSession() as client:
        statuses = []
        for _ in range(3):
            async with client.get(base + ME, headers={"Authorization": f"tma {signed}"}) as answer:
                statuses.append((answer.status, answer.headers.get("Retry-After")))
        assert statuses == [(200, None), (200, None), (429, "30")]

    # Bytes no client library would send: the header as it comes off the wire, not UTF-8.
    assert await raw_me(shop, b"tma user=\xff\xfe&auth_date=\xe7\xad&hash=" + b"a" * 64) == b"401"


async def raw_me(shop: RunningShop, authorization: bytes) -> bytes:
    address = urlsplit(shop.web_url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    writer.write(
        b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: %s\r\n\r\n" % (ME.encode(), authorization)
    )
    status_line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    return status_line.split()[1]


@pytest.mark.parametrize(
    "init",
    ["user=%7B%22id%22%3A1%7D&hash=" + "a" * 64, "hash=zz", "%ZZ=1", "user=\udcff&auth_date=1&hash=" + "a" * 64],
)
def test_unreadable_init_data_is_refused_not_a_crash(init: str) -> None:
    with pytest.raises(NotSignedIn):
        check_init_data(init, "123456:TEST", max_age=3600, now=time.time())


def test_a_sign_in_with_no_person_in_it_is_refused() -> None:
    now = int(time.time())
    for user in ['{"first_name":"Nobody"}', '{"id":true}', '{"id":"7"}', "[1]", "not json"]:
        signed = sign_init_data("123456:TEST", {"user": user, "auth_date": str(now)})
        with pytest.raises(NotSignedIn, match="names no person"):
            check_init_data(signed, "123456:TEST", max_age=3600, now=now)
