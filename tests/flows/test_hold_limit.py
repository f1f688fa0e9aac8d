"""A browser posting a request's form again and again renews its hold only up to a fixed total: then it is
refused, told why, and a real friend can pay."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlmodel import col, update

from storage.models import PayRequest, utcnow
from tests.flows.test_request_web_page import WebFriend, ask, attempts, fresh
from tests.harness import RunningShop

SPENT = "You have kept this request for as long as one person may"


async def hold_taken_ago(shop: RunningShop, request: PayRequest, ago: timedelta) -> datetime:
    """As if the hold running now had been first taken this long ago; returns its limit then."""
    limit = utcnow() - ago + shop.daifu.rules.hold_limit
    async with shop.daifu.db.transaction() as session:
        await session.exec(
            update(PayRequest)
            .where(col(PayRequest.id) == request.id)
            .values(hold_limit=limit, hold_until=PayRequest.hold_until if limit > utcnow() else limit)
        )
    return limit


async def test_renewals_stop_at_the_limit_and_then_others_may_pay(
    shop: RunningShop, friends: Callable[[], WebFriend]
) -> None:
    request = await ask(shop, "/newlink 12.50 USD Coffee beans")
    rules = shop.daifu.rules
    assert rules.hold_limit == 2 * rules.payforme_hold  # the default
    wei, li = friends(), friends()

    status, _page, checkout = await wei.start_paying(request.token, "Wei")
    assert status == 303
    held = await fresh(shop, request)
    assert held.hold_limit is not None and held.hold_until is not None
    assert held.hold_limit - held.hold_until == rules.hold_limit - rules.payforme_hold

    # Fifteen minutes on, posting again renews the hold only up to its limit, not a whole hold's time.
    limit = await hold_taken_ago(shop, request, rules.hold_limit - timedelta(minutes=5))
    status, _page, again = await wei.start_paying(request.token, "Wei")
    assert (status, again) == (303, checkout)
    held = await fresh(shop, request)
    assert held.hold_until == limit and held.hold_limit == limit

    # At the limit the browser is refused, and told when it may try again; nothing new is opened.
    limit = await hold_taken_ago(shop, request, rules.hold_limit)
    status, page, _location = await wei.start_paying(request.token, "Wei")
    assert status == 409 and SPENT in page
    assert len(await attempts(shop, request)) == 1

    # Meanwhile another friend can start paying, and holds it.
    status, _page, _location = await li.start_paying(request.token, "Li")
    assert status == 303
    assert (await fresh(shop, request)).holder_name == "Li"
    status, page = await wei.get(f"/r/{request.token}")
    assert "Li is paying" in page and 'data-testid="pay-form"' not in page


async def test_after_a_holds_time_the_same_browser_may_start_again(
    shop: RunningShop, friends: Callable[[], WebFriend]
) -> None:
    request = await ask(shop, "/newlink 12.50 USD Coffee beans")
    wei = friends()
    assert (await wei.start_paying(request.token, "Wei"))[0] == 303

    await hold_taken_ago(shop, request, shop.daifu.rules.hold_limit)
    assert (await wei.start_paying(request.token, "Wei"))[0] == 409

    await hold_taken_ago(shop, request, shop.daifu.rules.hold_limit + shop.daifu.rules.payforme_hold)
    status, _page, _location = await wei.start_paying(request.token, "Wei")
    assert status == 303
    held = await fresh(shop, request)
    assert held.holder_name == "Wei" and held.hold_limit is not None and held.hold_limit > utcnow()
