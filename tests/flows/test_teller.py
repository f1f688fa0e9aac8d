"""The teller tells what the outbox holds, whichever floor recorded it: the web pages only commit (no update queue),
and two workers sweeping the rows a dead worker left tell each of them once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from telegram import Update

from emulator.state import User
from handlers.context import DaifuContext
from handlers.teller import sweep
from payments.base import ChargeOutcome
from payments.sandbox import SIGNATURE_HEADER, SandboxGateway
from services.money import Money
from tests.balancer import Balancer
from tests.flows.payforme_steps import ask_friend, current, share_card
from tests.flows.test_request_web_page import WebFriend
from tests.flows.test_two_workers import two_workers  # noqa: F401  (the fixture)
from tests.harness import RunningShop


def queued_besides_updates(shop: RunningShop) -> list[object]:
    """From now on, what is put on PTB's update queue that is not a Telegram update."""
    assert shop.runtime is not None
    queue = shop.runtime.application.update_queue
    others: list[object] = []
    put = queue.put

    async def watched(item: object) -> None:
        if not isinstance(item, Update):
            others.append(item)
        await put(item)

    queue.put = watched  # type: ignore[method-assign]
    return others


async def test_a_friend_paying_on_the_web_is_told_without_the_update_queue(
    shop: RunningShop, friends: Callable[[], WebFriend]
) -> None:
    emu = shop.emu
    group = emu.add_group("Friends", members=[shop.alice, shop.bob])
    token = await ask_friend(shop, shop.alice, await shop.new_link("/newlink 12.50 USD Coffee beans"))
    card = await share_card(shop, shop.alice, token, group)
    others = queued_besides_updates(shop)
    wei = friends()

    status, _page, checkout_url = await wei.start_paying(token, "Wei")
    assert status == 303 and checkout_url is not None
    await emu.wait_for(lambda: "Wei is paying" in current(shop, card)["text"])
    await wei.pay_on_sandbox(checkout_url)  # the provider's notice reaches daifu's web side

    assert "Wei" in (await shop.told(shop.alice, "paid for you"))["text"]
    await shop.told(shop.admin, "Wei paid $12.50")
    await emu.wait_for(lambda: "Paid by Wei" in current(shop, card)["text"])
    assert others == []


async def paid_by_a_worker_that_died(shop: RunningShop, payer: User, title: str) -> None:
    """An order paid on the sandbox; the worker that applied the notice died before telling anyone."""
    order = await shop.daifu.orders.create(Money(700, "USD"), title, created_by=shop.admin.id)
    checkout = await shop.daifu.checkouts.start(order.token, "sandbox", payer_id=payer.id)
    gateway = shop.daifu.providers["sandbox"]
    assert isinstance(gateway, SandboxGateway) and checkout.url is not None
    session = gateway.open_session(checkout.url.rsplit("/", 1)[1])
    assert session is not None
    headers, body = gateway.signed_notice(session, ChargeOutcome.SUCCEEDED)
    event = await gateway.parse_notice({SIGNATURE_HEADER: headers[SIGNATURE_HEADER]}, body)
    async with shop.another_worker() as dead:
        await dead.payment_intake.receive(event)


async def test_two_workers_sweeping_at_once_tell_each_row_once(
    two_workers: tuple[RunningShop, RunningShop, Balancer],  # noqa: F811
) -> None:
    first, second, _balancer = two_workers
    emu = first.emu
    for person in (first.admin, first.alice, first.bob):
        await emu.send_text(person, "/help")
        await first.told(person, "/my")
    teas = [f"Tea {number}" for number in range(1, 9)]
    for number, title in enumerate(teas):
        await paid_by_a_worker_that_died(first, first.alice if number % 2 else first.bob, title)
    await first.lease_runs_out()
    assert first.runtime is not None and second.runtime is not None

    await asyncio.gather(
        sweep(DaifuContext(first.runtime.application)), sweep(DaifuContext(second.runtime.application))
    )

    assert [first.times_told(first.admin, f" · {title} · $7.00.") for title in teas] == [1] * len(teas)
    assert first.times_told(first.alice, "Payment received") == 4
    assert first.times_told(first.bob, "Payment received") == 4
