"""A friend without Telegram pays (or chips in to) a pay-for-me request on its web page, from any browser."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import aiohttp
from sqlmodel import col, select

from payments.base import (
    Amount,
    Capabilities,
    ChargeOutcome,
    Checkout,
    CheckoutKind,
    CheckoutRequest,
    PaymentEvent,
    Refund,
)
from services.links import qr_png
from storage.models import OrderStatus, Payment, PayRequest, RequestMode, RequestStatus, utcnow
from tests.harness import RunningShop

FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


class WebFriend:
    """One person's browser: a cookie jar of its own, and the page it saw last."""

    def __init__(self, shop: RunningShop) -> None:
        self.shop = shop
        # unsafe: the test server is reached by IP address, whose cookies aiohttp drops otherwise.
        self.client = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.page = ""

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.shop.web_url + path

    async def get(self, path: str) -> tuple[int, str]:
        async with self.client.get(self.url(path)) as answer:
            self.page = await answer.text()
            return answer.status, self.page

    async def post(self, path: str, data: dict[str, str]) -> tuple[int, str, str | None]:
        """POST without following a redirect: status, page, and where it redirects to."""
        async with self.client.post(self.url(path), data=data, allow_redirects=False) as answer:
            return answer.status, await answer.text(), answer.headers.get("Location")

    def form_token(self) -> str:
        found = FORM_TOKEN.search(self.page)
        assert found, "the page shows no payment form"
        return found.group(1)

    async def start_paying(self, token: str, name: str, **fields: str) -> tuple[int, str, str | None]:
        """Open the request's page, fill in the form, press the sandbox button."""
        status, _page = await self.get(f"/r/{token}")
        assert status == 200
        form = {"form_token": self.form_token(), "name": name, "method": "sandbox", **fields}
        return await self.post(f"/r/{token}", form)

    async def pay_on_sandbox(self, checkout_url: str) -> str:
        """Pay on the sandbox page, which sends the payer back to their receipt: the receipt page."""
        status, page = await self.get(checkout_url)
        assert status == 200
        status, page, receipt = await self.post(checkout_url, {"decision": "pay"})
        assert status == 303 and receipt and "/receipt/" in receipt
        status, page = await self.get(receipt)
        assert status == 200 and "Payment accepted" in page
        return page


async def ask(shop: RunningShop, command: str, mode: RequestMode = RequestMode.SINGLE, **kwargs: Any) -> PayRequest:
    """Alice turns a new order into a request (she must have talked to the bot first, to be known)."""
    await shop.emu.send_text(shop.alice, "/help")
    await shop.emu.next_bot_message(shop.alice)
    order_token = await shop.new_link(command)
    return (await shop.daifu.asking.ask(order_token, shop.alice.id, mode=mode, **kwargs)).request


async def fresh(shop: RunningShop, request: PayRequest) -> PayRequest:
    found = await shop.daifu.request_views.by_token(request.token)
    assert found is not None
    return found


async def attempts(shop: RunningShop, request: PayRequest) -> list[Payment]:
    async with shop.daifu.db.transaction() as session:
        return list((await session.exec(select(Payment).where(Payment.request_id == request.id))).all())


async def order_status(shop: RunningShop, request: PayRequest) -> OrderStatus:
    view = await shop.daifu.request_views.view(request.token)
    order = await shop.daifu.orders.by_token(view.order.token)
    assert order is not None
    return order.status


async def test_a_friend_pays_a_request_on_its_web_page(shop: RunningShop, friends: Callable[[], WebFriend]) -> None:
    request = await ask(shop, "/newlink 12.50 USD Coffee beans", note="happy birthday to me")
    wei = friends()

    status, page = await wei.get(f"/r/{request.token}")
    assert status == 200
    assert "Alice asks you to pay $12.50 for Coffee beans at Bean There" in page
    assert "happy birthday to me" in page and 'data-testid="status">open<' in page
    assert 'data-testid="pay-sandbox"' in page
    assert 'value="telegram"' not in page and 'value="stars"' not in page  # they need the Telegram app
    cookie = next(iter(wei.client.cookie_jar))
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"

    status, _page, checkout_url = await wei.start_paying(request.token, "  Wei   Zhang ")
    assert status == 303 and checkout_url and "/sandbox/checkout/" in checkout_url
    held = await fresh(shop, request)
    assert held.holder == f"web:{cookie.value}" and held.holder_name == "Wei Zhang"

    accepted = await wei.pay_on_sandbox(checkout_url)
    assert f"/r/{request.token}" in accepted  # "See the request" leads back to the request's page
    assert 'data-testid="paid-for">Alice<' in accepted and 'data-testid="paid-by">Wei Zhang<' in accepted
    assert 'data-testid="paid-amount">$12.50<' in accepted and "Alice and the shop have been told" in accepted
    assert re.search(r'data-testid="reference"><code>sbx_ch_\w+</code>', accepted)
    told = await shop.told(shop.alice, "paid for you")
    assert "Wei Zhang" in told["text"]

    assert await order_status(shop, request) == OrderStatus.PAID
    assert (await fresh(shop, request)).status == RequestStatus.PAID
    [charge] = await attempts(shop, request)
    assert charge.payer_id is None and charge.payer_name == "Wei Zhang" and charge.credited
    # Back on the request's page Wei is thanked, with the way to the receipt; anyone else reads it is paid.
    status, page = await wei.get(f"/r/{request.token}")
    assert status == 200 and 'data-testid="status">paid<' in page and 'data-testid="thanks"' in page
    assert "You paid $12.50 for Alice." in page and 'data-testid="pay-form"' not in page
    assert "go back to the chat" not in page + accepted and "/receipt/" in page
    status, page = await friends().get(f"/r/{request.token}")
    assert "This request has already been paid" in page and 'data-testid="thanks"' not in page


async def test_a_second_browser_is_refused_while_the_first_is_paying(
    shop: RunningShop, friends: Callable[[], WebFriend]
) -> None:
    request = await ask(shop, "/newlink 3 EUR Croissant")
    wei, li = friends(), friends()
    await li.get(f"/r/{request.token}")
    li_form = li.form_token()

    status, _page, _checkout_url = await wei.start_paying(request.token, "Wei")
    assert status == 303

    status, page, _location = await li.post(
        f"/r/{request.token}", {"form_token": li_form, "name": "Li", "method": "sandbox"}
    )
    assert status == 409
    hold_until = (await fresh(shop, request)).hold_until
    assert hold_until is not None
    assert "Wei is paying… try again in 10 minutes" in page and "UTC" not in page  # the chat's words for a time
    assert 'data-testid="pay-form"' not in page
    assert (await fresh(shop, request)).holder_name == "Wei"
    assert len(await attempts(shop, request)) == 1

    # Wei, back on the page, may start again (the payment page may have been closed).
    status, page = await wei.get(f"/r/{request.token}")
    assert 'data-testid="mine"' in page and 'data-testid="pay-form"' in page
    status, _page, _checkout_url = await wei.start_paying(request.token, "Wei")
    assert status == 303


async def test_bad_input_is_refused_and_holds_nothing(shop: RunningShop, friends: Callable[[], WebFriend]) -> None:
    request = await ask(shop, "/newlink 12.50 USD Coffee beans")
    wei = friends()
    await wei.get(f"/r/{request.token}")
    form = {"form_token": wei.form_token(), "name": "Wei", "method": "sandbox"}
    path = f"/r/{request.token}"

    for changed, words in [
        ({"name": ""}, "Please enter your name."),
        ({"name": "   "}, "Please enter your name."),
        ({"name": "W" * 65}, "Your name can be at most 64 characters."),
        ({"method": "telegram"}, "This way of paying is not available"),
        ({"method": "nonsense"}, "This way of paying is not available"),
    ]:
        status, page, _location = await wei.post(path, {**form, **changed})
        assert (status, words in page) == (422, True), changed
    status, page, _location = await wei.post(path, {**form, "form_token": "0" * 32})
    assert status == 403 and "out of date" in page
    status, page, _location = await wei.post(path, {"name": "Wei", "method": "sandbox"})
    assert status == 403

    held = await fresh(shop, request)
    assert held.holder is None and held.hold_until is None
    assert await attempts(shop, request) == []
    assert await order_status(shop, request) == OrderStatus.OPEN


async def test_a_form_posted_from_another_site_holds_nothing(
    shop: RunningShop, friends: Callable[[], WebFriend]
) -> None:
    request = await ask(shop, "/newlink 12.50 USD Coffee beans")
    victim, attacker = friends(), friends()
    await victim.get(f"/r/{request.token}")
    await attacker.get(f"/r/{request.token}")
    # The attacker's own token does not fit the victim's cookie.
    form = {"form_token": attacker.form_token(), "name": "Victim", "method": "sandbox"}
    status, _page, _location = await victim.post(f"/r/{request.token}", form)
    assert status == 403
    assert (await fresh(shop, request)).holder is None


async def test_chip_in_amounts_are_checked(shop: RunningShop, friends: Callable[[], WebFriend]) -> None:
    request = await ask(shop, "/newlink 12.50 USD Coffee beans", mode=RequestMode.SPLIT, shares=2)
    wei = friends()
    status, page = await wei.get(f"/r/{request.token}")
    assert 'name="amount" value="6.25"' in page  # the equal share

    for amount, words in [
        ("12.51", "at most $12.50"),
        ("0", "at most $12.50"),
        ("-3", "at most $12.50"),
        ("abc", "as a number"),
        ("", "as a number"),
        ("1.234", "does not have that many decimal places"),
    ]:
        status, page, _location = await wei.post(
            f"/r/{request.token}",
            {"form_token": wei.form_token(), "name": "Wei", "method": "sandbox", "amount": amount},
        )
        assert (status, words in page) == (422, True), amount
        assert f'name="amount" value="{amount}"' in page  # what was typed stays, to be corrected
    assert await attempts(shop, request) == []
    assert (await fresh(shop, request)).covered_minor == 0


async def test_friends_chip_in_on_the_web_until_it_is_paid(shop: RunningShop, friends: Callable[[], WebFriend]) -> None:
    request = await ask(shop, "/newlink 12.50 USD Coffee beans", mode=RequestMode.SPLIT)
    wei, li = friends(), friends()
    status, page = await wei.get(f"/r/{request.token}")
    assert 'name="amount" value="12.50"' in page  # no shares suggested: what is left

    status, _page, checkout_url = await wei.start_paying(request.token, "Wei", amount="5")
    assert status == 303 and checkout_url
    await wei.pay_on_sandbox(checkout_url)
    status, page = await wei.get(f"/r/{request.token}")
    assert "You paid $5.00 for Alice." in page and 'data-testid="pay-form"' in page  # thanked; may chip in again
    status, page = await li.get(f"/r/{request.token}")
    assert "$5.00 of $12.50 paid, $7.50 left" in page and 'aria-valuenow="40"' in page
    assert re.search(r'data-testid="chip"><span>Wei</span><span>\$5.00</span>', page)
    assert 'name="amount" value="7.50"' in page

    status, page, _location = await li.post(
        f"/r/{request.token}", {"form_token": li.form_token(), "name": "Li", "method": "sandbox", "amount": "7.51"}
    )
    assert status == 422 and "at most $7.50" in page
    status, _page, checkout_url = await li.start_paying(request.token, "Li", amount="7.50")
    assert status == 303 and checkout_url
    await li.pay_on_sandbox(checkout_url)

    await shop.told(shop.alice, "covered the whole order")
    assert await order_status(shop, request) == OrderStatus.PAID
    assert (await fresh(shop, request)).status == RequestStatus.PAID
    status, page = await wei.get(f"/r/{request.token}")
    assert 'data-testid="status">paid<' in page and "$12.50 of $12.50 paid" in page
    assert "<span>Li</span><span>$7.50</span>" in page and 'data-testid="pay-form"' not in page


async def test_tokens_are_single_purpose(shop: RunningShop, friends: Callable[[], WebFriend]) -> None:
    request = await ask(shop, "/newlink 3 EUR Croissant")
    order_token = (await shop.daifu.request_views.view(request.token)).order.token
    friend = friends()
    for path in [f"/r/{order_token}", f"/o/{request.token}", "/r/r_AAAAAAAAAAAAAAAAAAAAAA", "/r/<script>"]:
        status, page = await friend.get(path)
        assert status == 404, path
        assert "Croissant" not in page
    status, _page, _location = await friend.post(f"/r/{order_token}", {"name": "Wei", "method": "sandbox"})
    assert status == 404


async def test_an_expired_or_cancelled_request_cannot_be_paid(
    shop: RunningShop, friends: Callable[[], WebFriend]
) -> None:
    request = await ask(shop, "/newlink 3 EUR Croissant")
    cancelled = (
        await shop.daifu.asking.ask(
            (await shop.daifu.request_views.view(request.token)).order.token, shop.alice.id, mode=RequestMode.SINGLE
        )
    ).request
    wei = friends()
    await wei.get(f"/r/{request.token}")
    form = {"form_token": wei.form_token(), "name": "Wei", "method": "sandbox"}
    async with shop.daifu.db.transaction() as session:
        row = (await session.exec(select(PayRequest).where(col(PayRequest.id) == request.id))).one()
        row.expires_at = utcnow() - timedelta(minutes=1)
        session.add(row)

    status, page = await wei.get(f"/r/{request.token}")
    assert status == 200 and 'data-testid="status">expired<' in page
    assert "This request has expired" in page and 'data-testid="pay-form"' not in page
    status, page, _location = await wei.post(f"/r/{request.token}", form)
    assert status == 409 and "This request has expired" in page
    assert await attempts(shop, request) == []

    await shop.daifu.request_closing.cancel(cancelled.token, shop.alice.id)
    status, page = await wei.get(f"/r/{cancelled.token}")
    assert 'data-testid="status">cancelled<' in page and "was cancelled" in page


class QrGateway:
    """A stand-in for a provider paid by scanning a code (WeChat Pay, Alipay): only its checkout is used."""

    name = "qrpay"
    capabilities = Capabilities()

    async def create_checkout(self, request: CheckoutRequest) -> Checkout:
        return Checkout(
            provider=self.name,
            kind=CheckoutKind.QR,
            checkout_ref=request.checkout_ref,
            amount=request.amount,
            expires_at=request.expires_at,
            qr_payload=f"qrpay://pay/{request.checkout_ref}",
        )

    async def parse_notice(self, headers: Any, body: bytes) -> PaymentEvent:
        raise NotImplementedError

    async def refund(self, charge_ref: str, amount: Amount, *, payer_ref: str | None) -> Refund:
        raise NotImplementedError

    async def query(self, checkout_ref: str) -> ChargeOutcome:
        return ChargeOutcome.UNKNOWN


async def test_a_qr_method_shows_the_code_to_scan(shop: RunningShop, friends: Callable[[], WebFriend]) -> None:
    shop.daifu.providers["qrpay"] = QrGateway()  # type: ignore[index]
    request = await ask(shop, "/newlink 3 EUR Croissant")
    wei = friends()
    await wei.get(f"/r/{request.token}")
    assert 'data-testid="pay-qrpay"' in wei.page and 'data-testid="pay-sandbox"' in wei.page

    form = {"form_token": wei.form_token(), "name": "Wei", "method": "qrpay"}
    status, page, _location = await wei.post(f"/r/{request.token}", form)

    assert status == 200 and "Scan this code" in page and "€3.00" in page
    [attempt] = await attempts(shop, request)
    image = re.search(r'src="data:image/png;base64,([^"]+)"', page)
    assert image is not None
    assert base64.b64decode(image.group(1)) == qr_png(f"qrpay://pay/{attempt.checkout_ref}")
    assert (await fresh(shop, request)).holder_name == "Wei"
    assert "Back to the request" not in page

    # "I have paid" leads to the receipt, which waits (and looks again) until the provider's notice comes.
    receipt = re.search(r'href="([^"]+)" data-testid="receipt-link"', page)
    assert receipt is not None and attempt.checkout_ref in receipt.group(1)
    status, page = await wei.get(receipt.group(1))
    assert status == 200 and "Waiting for the payment" in page and 'http-equiv="refresh"' in page
    assert 'data-testid="reference"' not in page
    # The address is the payer's alone: the checkout's reference without its signature opens nothing.
    for forged in (attempt.checkout_ref, receipt.group(1)[:-1] + ("A" if receipt.group(1)[-1] != "A" else "B")):
        status, page = await wei.get(f"/receipt/{forged.rsplit('/', 1)[-1]}")
        assert status == 404 and "Croissant" not in page
