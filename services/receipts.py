"""A web payer's receipt: the order, what they paid, who they paid for and a reference, at an address they can keep.

The address is the attempt's checkout reference signed with a key daifu keeps: made before the payment (it is
where a provider's page sends the payer back), unguessable from anything a payer or a provider sees, and no
table needs a column for it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum

from services.app_secrets import app_secret
from services.config import ShopRules
from services.read_models import OrderInfo, PaymentInfo, PaymentStatus, RequestInfo
from services.tokens import looks_like_token
from services.users import Users
from storage.database import Database
from storage.queries.attempts import attempt_with_order_and_request
from storage.queries.receipts import charges_of_holder

RECEIPT_SECRET = "receipt_secret"
MAC_CHARS = 22  # 132 bits, as unguessable as a token


class ReceiptState(StrEnum):
    PAID = "paid"
    WAITING = "waiting"  # the payer was sent back before the provider's notice arrived, or has not paid yet
    NOT_PAID = "not_paid"  # declined, or the checkout closed unpaid
    NOT_TAKEN = "not_taken"  # money arrived but the order could not take it: it goes back
    REFUNDED = "refunded"


@dataclass(frozen=True, slots=True)
class Receipt:
    key: str
    state: ReceiptState
    order: OrderInfo
    payment: PaymentInfo
    request: RequestInfo | None
    paid_for: str  # the requester's name for a request; empty for an order paid by its own shopper


def state_of(payment: PaymentInfo) -> ReceiptState:
    if payment.status == PaymentStatus.PENDING:
        return ReceiptState.WAITING
    if payment.status == PaymentStatus.DECLINED:
        return ReceiptState.NOT_PAID
    if payment.status == PaymentStatus.REFUNDED or payment.refunded_minor > 0:
        return ReceiptState.REFUNDED
    return ReceiptState.PAID if payment.credited else ReceiptState.NOT_TAKEN


class Receipts:
    def __init__(self, db: Database, rules: ShopRules, users: Users) -> None:
        self.db = db
        self.rules = rules
        self.users = users
        self._key: bytes | None = None

    async def _mac(self, checkout_ref: str) -> str:
        if self._key is None:
            # Kept in the database: a receipt made by one worker opens on another, and after a restart.
            self._key = (await app_secret(self.db, RECEIPT_SECRET)).encode()
        digest = hmac.new(self._key, f"receipt:{checkout_ref}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[:MAC_CHARS]

    async def key_of(self, checkout_ref: str) -> str:
        return f"{checkout_ref}.{await self._mac(checkout_ref)}"

    async def url_of(self, checkout_ref: str) -> str:
        return self.rules.receipt_url(await self.key_of(checkout_ref))

    async def find(self, key: str) -> Receipt | None:
        """The receipt a key names, or None for a key daifu did not make."""
        checkout_ref, _, mac = key.partition(".")
        if not looks_like_token(checkout_ref) or not hmac.compare_digest(
            mac.encode(), (await self._mac(checkout_ref)).encode()
        ):
            return None
        async with self.db.reading() as session:
            row = await attempt_with_order_and_request(session, checkout_ref=checkout_ref)
        if row is None:
            return None
        attempt, order, request = row
        payment = PaymentInfo.of(attempt)
        paid_for = await self.users.name_of(request.requester_id) if request is not None else ""
        return Receipt(
            key,
            state_of(payment),
            OrderInfo.of(order),
            payment,
            RequestInfo.of(request) if request is not None else None,
            paid_for,
        )

    async def keys_of_holder(self, request: RequestInfo, holder: str) -> list[tuple[PaymentInfo, str]]:
        """What one payer (a browser) paid towards a request, each charge with its receipt's key."""
        async with self.db.reading() as session:
            charges = await charges_of_holder(session, request_id=request.id, holder=holder)
        return [(PaymentInfo.of(charge), await self.key_of(charge.checkout_ref)) for charge in charges]
