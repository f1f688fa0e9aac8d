"""What a provider can do decides, read from the provider and never from its name: the same sandbox, made to
do less (or more), is treated as what it can do (both databases)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from payments.base import Capabilities
from payments.currencies import STARS
from payments.sandbox import SandboxGateway
from services.config import ShopRules
from services.daifu import Daifu
from services.money import Money
from services.notices import ReturnReason
from services.providers import capabilities_of
from services.refunds import RefundRefused
from services.why_not import WhyNot
from storage.database import Database
from storage.models import PaymentStatus
from tests.test_settlement import SHOPPER, deliver, order_state, paid_notice

RULES = ShopRules(shop_name="Test shop", admin_ids=frozenset({1}), public_base_url="http://shop.test")


def shop_with_sandbox(db: Database, capabilities: Capabilities, rules: ShopRules = RULES) -> Daifu:
    return Daifu(db, rules, {"sandbox": SandboxGateway("secret", "http://shop.test", capabilities=capabilities)})


async def paid_order(daifu: Daifu, minor: int = 500) -> tuple[str, int]:
    order = await daifu.orders.create(Money(minor, "USD"), "Cake", created_by=1)
    await deliver(daifu, await paid_notice(daifu, order.token))
    _order, [payment] = await order_state(daifu, order.token)
    assert payment.status == PaymentStatus.SUCCEEDED and payment.id is not None
    return order.token, payment.id


async def test_a_sandbox_that_refunds_only_whole_payments_refuses_a_part_and_gives_back_the_whole(db: Database) -> None:
    daifu = shop_with_sandbox(db, Capabilities(partial_refunds=False))
    token, payment_id = await paid_order(daifu)

    with pytest.raises(RefundRefused, match="whole"):
        await daifu.refunds.refund(payment_id, reason=ReturnReason.SHOP_REFUND, actor_id=1, amount=Money(200, "USD"))
    _order, [untouched] = await order_state(daifu, token)
    assert untouched.refunded_minor == 0 and untouched.status == PaymentStatus.SUCCEEDED

    await daifu.refunds.refund(payment_id, reason=ReturnReason.SHOP_REFUND, actor_id=1)
    _order, [refunded] = await order_state(daifu, token)
    assert refunded.refunded_minor == 500 and refunded.status == PaymentStatus.REFUNDED


async def test_the_sandbox_as_it_comes_gives_back_a_part(db: Database) -> None:
    daifu = shop_with_sandbox(db, SandboxGateway.capabilities)
    token, payment_id = await paid_order(daifu)

    await daifu.refunds.refund(payment_id, reason=ReturnReason.SHOP_REFUND, actor_id=1, amount=Money(200, "USD"))

    _order, [payment] = await order_state(daifu, token)
    assert payment.refunded_minor == 200


def test_an_enabled_providers_own_capabilities_count_and_a_turned_off_one_answers_as_it_comes() -> None:
    """Handlers and pages ask services.providers: a payment made through a provider turned off since (a Telegram
    card payment, say) is still shown and refunded as it was made."""
    doing_less = SandboxGateway("secret", "http://shop.test", capabilities=Capabilities(refunds=False))
    enabled = {"sandbox": doing_less}

    assert capabilities_of("sandbox", enabled).refunds is False
    assert capabilities_of("sandbox").refunds is True
    telegram = capabilities_of("telegram", enabled)
    assert telegram.paid_inside_telegram and not telegram.refunds
    assert not capabilities_of("stars", enabled).partial_refunds
    assert capabilities_of("no-such-provider", enabled) == Capabilities()


async def test_only_a_provider_paid_inside_telegram_has_its_pre_checkout_answered(db: Database) -> None:
    for inside, expected in ((True, None), (False, WhyNot.UNKNOWN_ORDER)):
        daifu = shop_with_sandbox(db, Capabilities(paid_inside_telegram=inside))
        order = await daifu.orders.create(Money(500, "USD"), "Cake", created_by=1)
        checkout = await daifu.checkouts.start(order.token, "sandbox", payer_id=SHOPPER)

        refusal = await daifu.request_checkouts.pre_checkout(checkout.checkout_ref, "USD", 500, payer_id=SHOPPER)

        assert refusal == expected


async def test_the_currencies_a_provider_takes_decide_the_methods_an_order_offers(db: Database) -> None:
    daifu = shop_with_sandbox(db, Capabilities(currencies=frozenset({"EUR"})))
    in_dollars = await daifu.orders.create(Money(500, "USD"), "Cake", created_by=1)
    in_euros = await daifu.orders.create(Money(500, "EUR"), "Cake", created_by=1)

    assert daifu.checkouts.methods_for(in_dollars) == []
    assert daifu.checkouts.methods_for(in_euros) == ["sandbox"]


async def test_a_provider_that_converts_prices_charges_in_its_own_currency_at_the_shops_rate(db: Database) -> None:
    rules = ShopRules(
        shop_name="Test shop",
        admin_ids=frozenset({1}),
        public_base_url="http://shop.test",
        stars_rates={"USD": Decimal(50)},
    )
    daifu = shop_with_sandbox(db, Capabilities(currencies=frozenset({STARS}), converts_to=STARS), rules)
    in_dollars = await daifu.orders.create(Money(250, "USD"), "Cake", created_by=1)
    in_euros = await daifu.orders.create(Money(250, "EUR"), "Cake", created_by=1)  # no rate for euros

    assert daifu.checkouts.price_in(in_dollars, "sandbox") == Money(125, STARS)
    assert daifu.checkouts.methods_for(in_euros) == []
