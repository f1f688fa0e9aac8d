"""Paying a pay-for-me request: a friend's checkout, a group's invoice, and Telegram's last check before it takes money.

Checkouts records attempts and asks providers for checkouts, and knows nothing of requests; RequestHolds keeps a
request's hold and the parts kept for friends, and knows nothing of checkouts. Here the two meet: the hold (or the
part) and the attempt are written in one transaction, or neither is.
"""

from __future__ import annotations

from payments.base import Checkout
from services.checkout import Checkouts, MethodUnavailable, NewAttempt
from services.config import ShopRules
from services.money import Money
from services.orders import OrderNotPayable
from services.pay_requests import RequestRefused, RequestView, part_to_pay
from services.request_holds import RequestHolds
from services.why_not import WhyNot
from storage.database import Database
from storage.models import RequestStatus, utcnow
from storage.queries.attempts import attempt_with_order_and_request, pending_group_invoice


class _TakenMeanwhile(Exception):
    """Between the read and this payer's tap, another payer took the request, or it closed."""


class RequestCheckouts:
    def __init__(self, db: Database, rules: ShopRules, checkouts: Checkouts, holds: RequestHolds) -> None:
        self.db = db
        self.rules = rules
        self.checkouts = checkouts
        self.holds = holds

    async def start_checkout(
        self,
        view: RequestView,
        provider_name: str,
        *,
        holder: str,
        payer_name: str,
        payer_id: int | None,
        amount: Money | None = None,
        show_name: bool = True,
    ) -> Checkout:
        """A friend starts paying a request found payable moments ago (RequestView from RequestViews.payable): hold
        it (single) or keep the part (split), and open the checkout. The hold and the attempt are one transaction.
        """
        request = view.request
        assert request.id is not None
        part = part_to_pay(view, amount)
        price = self.checkouts.charge_for(part, provider_name)
        if price is None or provider_name not in self.checkouts.methods_for(view.order):
            raise MethodUnavailable(provider_name)
        new = NewAttempt(
            provider_name,
            price,
            payer_id,
            credit_minor=part.minor,
            request_id=request.id,
            holder=holder,
            payer_name=payer_name[:64],
            show_name=show_name,
        )
        try:
            async with self.db.transaction() as session:
                if not await self.holds.take_in(session, view, part, holder=holder, holder_name=payer_name):
                    raise _TakenMeanwhile
                # After the hold (or the request's lock): one tap at a time looks for an attempt to reuse. A chip-in's
                # part is kept for its friend only a hold's time: an older attempt is not the same ask.
                since = utcnow() - self.rules.payforme_hold
                attempt = await self.checkouts.record_attempt_in(session, view.order, new, reuse_since=since)
        except _TakenMeanwhile:
            raise await self.holds.why_taken(request.token, holder) from None
        except OrderNotPayable:
            raise RequestRefused(WhyNot.REQUEST_ORDER_CLOSED) from None
        return await self.checkouts.checkout_to_show(attempt, view.order)

    async def group_invoice(self, view: RequestView, provider_name: str) -> Checkout:
        """An invoice for a group chat that any member may pay (single mode); one attempt is reused."""
        request = view.request
        price = self.checkouts.price_in(view.order, provider_name)
        if price is None or view.status(utcnow()) != RequestStatus.OPEN:
            raise MethodUnavailable(provider_name)
        assert request.id is not None
        async with self.db.transaction() as session:
            attempt = await pending_group_invoice(session, request_id=request.id, provider=provider_name)
            if attempt is None:
                new = NewAttempt(provider_name, price, None, credit_minor=view.total.minor, request_id=request.id)
                attempt = await self.checkouts.record_attempt_in(session, view.order, new)
        return await self.checkouts.checkout_to_show(attempt, view.order)

    async def pre_checkout(self, payload: str, currency: str, total_amount: int, *, payer_id: int) -> WhyNot | None:
        """None when Telegram may take the money for this invoice; otherwise why not. Any invoice may be a request's,
        so every pre-checkout comes here: the order's checks, then the request's. One read, well inside the 10 s
        Telegram waits."""
        async with self.db.reading() as session:
            row = await attempt_with_order_and_request(session, checkout_ref=payload)
        if row is None:
            return WhyNot.UNKNOWN_ORDER
        attempt, order, request = row
        why = self.checkouts.invoice_refusal(attempt, order, currency, total_amount)
        if why is not None or request is None:
            return why
        return await self.holds.pre_checkout_guard(attempt, order, request, payer_id)
