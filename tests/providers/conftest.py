"""Fixtures the Stripe tests share: the fake Stripe server and the adapter pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from payments.stripe_checkout import StripeCheckout
from tests.providers.fake_stripe import FakeStripe
from tests.providers.test_stripe import API_KEY, WEBHOOK_SECRET


@pytest.fixture
async def fake() -> AsyncIterator[FakeStripe]:
    async with FakeStripe(api_key=API_KEY, webhook_secret=WEBHOOK_SECRET) as server:
        yield server


@pytest.fixture
async def provider(fake: FakeStripe) -> AsyncIterator[StripeCheckout]:
    adapter = StripeCheckout(api_key=API_KEY, webhook_secret=WEBHOOK_SECRET, api_base=fake.url)
    yield adapter
    await adapter.aclose()
