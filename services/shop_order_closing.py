"""Closing a shop's order through the API: cancelling it, or giving back what was paid for it."""

from __future__ import annotations

from dataclasses import dataclass

from payments.base import PaymentError
from services.money import Money
from services.notices import PaymentReturned, ReturnReason
from services.order_closing import OrderClosing, OrderNotCancellable
from services.read_models import PaymentInfo
from services.refunds import RefundRefused, Refunds
from services.shop_order_errors import Problem, ShopOrderError
from services.shop_order_views import ShopOrder, ShopOrderViews
from storage.models import PaymentStatus


@dataclass(frozen=True, slots=True)
class RefundOutcome:
    order: ShopOrder
    returned: list[PaymentReturned]  # one per charge refunded (a split order may have several)

    @property
    def owed(self) -> bool:
        return any(notice.owed for notice in self.returned)


class ShopOrderClosing:
    def __init__(self, views: ShopOrderViews, refunds: Refunds, closing: OrderClosing) -> None:
        self.views = views
        self.refunds = refunds
        self.closing = closing

    async def cancel(self, shop_id: int, order_id: int) -> ShopOrder:
        """Cancel an open or pending order (its requests close and chip-ins go back; their people are told)."""
        await self.views.own(shop_id, order_id)
        try:
            await self.closing.cancel(order_id, actor_id=None)
        except OrderNotCancellable as refusal:
            raise ShopOrderError(
                Problem.CONFLICT, f"an order that is {refusal.status.value} cannot be cancelled"
            ) from None
        return await self.views.get(shop_id, order_id)

    async def refund(self, shop_id: int, order_id: int, amount_minor: int | None) -> RefundOutcome:
        """Give back all that is left of the order's charges, or `amount_minor` of it (in the charges' currency),
        each part through the provider that took it. Refunds reserves every part before the provider is
        asked, so concurrent refunds can never give back more than was paid."""
        order = await self.views.own(shop_id, order_id)
        view = await self.views.view(order)
        left = [c for c in view.charges if c.status == PaymentStatus.SUCCEEDED and c.refunded_minor < c.amount_minor]
        if not left:
            raise ShopOrderError(Problem.NOT_REFUNDABLE, "nothing paid for this order is left to refund")
        plan: list[tuple[PaymentInfo, Money | None]] = [(charge, None) for charge in left]
        if amount_minor is not None and amount_minor <= 0:
            raise ShopOrderError(Problem.INVALID_AMOUNT, "amount_minor must be above 0")
        if amount_minor is not None:
            plan = self._split_refund(left, amount_minor)
        returned: list[PaymentReturned] = []
        for charge, part in plan:
            try:
                returned.append(
                    await self.refunds.refund(charge.id, reason=ReturnReason.SHOP_REFUND, actor_id=None, amount=part)
                )
            except RefundRefused as refusal:
                if returned:  # part of it went back; the answer shows how much
                    break
                raise ShopOrderError(Problem.NOT_REFUNDABLE, str(refusal)) from None
            except PaymentError as error:
                if returned:
                    break
                raise ShopOrderError(Problem.PROVIDER_ERROR, f"the provider refused the refund: {error}") from None
        return RefundOutcome(await self.views.get(shop_id, order_id), returned)

    @staticmethod
    def _split_refund(left: list[PaymentInfo], amount_minor: int) -> list[tuple[PaymentInfo, Money | None]]:
        """A part refund taken from the newest charges first (one charge, in all but split orders)."""
        currencies = {charge.currency for charge in left}
        if len(currencies) > 1:
            raise ShopOrderError(
                Problem.NOT_REFUNDABLE, "the order was paid in several currencies: refund all of it instead"
            )
        remaining = sum(charge.amount_minor - charge.refunded_minor for charge in left)
        if amount_minor > remaining:
            currency = left[0].currency
            raise ShopOrderError(
                Problem.NOT_REFUNDABLE, f"that is more than is left to refund ({remaining} {currency} minor units)"
            )
        plan: list[tuple[PaymentInfo, Money | None]] = []
        wanted = amount_minor
        for charge in reversed(left):
            part = min(wanted, charge.amount_minor - charge.refunded_minor)
            plan.append((charge, Money(part, charge.currency)))
            wanted -= part
            if wanted == 0:
                break
        return plan
