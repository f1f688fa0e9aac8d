"""Fixtures for the shop API tests: an API key for a shop and a JSON client for daifu's web server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from services.api_keys import NewKey
from tests.api.client import ApiClient
from tests.api.shop_backend import Receiver
from tests.harness import RunningShop
from tests.ports import served


@pytest.fixture
async def acme_key(shop: RunningShop) -> NewKey:
    return await shop.daifu.api_keys.create("Acme", created_by=None)


@pytest.fixture
async def api(shop: RunningShop, acme_key: NewKey) -> AsyncIterator[ApiClient]:
    async with aiohttp.ClientSession() as session:
        yield ApiClient(session, shop.web_url, acme_key.key)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """The shop's backend for callbacks, on loopback (where daifu as shipped must never send anything)."""
    found = Receiver()
    app = web.Application()
    app.router.add_post("/daifu", found.handle)
    async with served(app) as base:
        found.url = f"{base}/daifu"
        yield found
