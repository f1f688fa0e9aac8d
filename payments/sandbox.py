"""The built-in sandbox gateway: a checkout page on daifu's own web server, signed notices, no keys.

It behaves like a hosted provider so the core is exercised the same way: the payer opens a page,
presses Pay or Decline, and the gateway POSTs a notice signed with HMAC-SHA256 over "{timestamp}.{body}"
(Stripe's scheme) to daifu's notify endpoint. Sessions are signed, not stored: the gateway is stateless.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar

from pydantic import SecretStr

from payments.base import (
    Amount,
    Capabilities,
    ChargeOutcome,
    Checkout,
    CheckoutKind,
    CheckoutRequest,
    InvalidNotice,
    PaymentEvent,
    ProviderContext,
    ProviderDefaults,
    ProviderKind,
    ProviderSettings,
    Refund,
    RefundRequest,
    RefundStatus,
    secrets_match,
)

SIGNATURE_HEADER = "Sandbox-Signature"
TOLERANCE_SECONDS = 300


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class SandboxSession:
    checkout_ref: str
    order_token: str
    title: str
    amount: Amount
    expires_at: datetime
    return_url: str


class SandboxSettings(ProviderSettings):
    # Its signing key; when empty, one is made once and kept in the database.
    sandbox_secret: SecretStr | None = None


class SandboxGateway(ProviderDefaults):
    name = "sandbox"
    settings_class: ClassVar[type[SandboxSettings]] = SandboxSettings
    # Like a hosted card page: any legal tender, refunds whole or in part, the same page shown again.
    capabilities = Capabilities()

    def __init__(self, secret: str, public_base_url: str, *, capabilities: Capabilities | None = None) -> None:
        if capabilities is not None:  # a test may make it a provider that can do less
            self.capabilities = capabilities
        self._key = secret.encode()
        self.public_base_url = public_base_url.rstrip("/")
        self.notify_url = f"{self.public_base_url}/notify/sandbox"

    @classmethod
    async def from_settings(cls, settings: SandboxSettings, context: ProviderContext) -> SandboxGateway:
        secret = settings.sandbox_secret
        key = secret.get_secret_value() if secret else await context.kept_secret("sandbox_secret")
        return cls(key, context.public_base_url)

    def _mac(self, message: bytes) -> str:
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    # -- the provider side daifu's core calls ---------------------------------------------------------

    async def create_checkout(self, request: CheckoutRequest) -> Checkout:
        session = {
            "ref": request.checkout_ref,
            "order": request.order_token,
            "title": request.title,
            "amount": request.amount.minor,
            "currency": request.amount.currency,
            "exp": int(request.expires_at.timestamp()),
            "return": request.return_url,
        }
        encoded = _b64(json.dumps(session, separators=(",", ":")).encode())
        signed = f"{encoded}.{self._mac(encoded.encode())[:32]}"
        return Checkout(
            provider=self.name,
            kind=CheckoutKind.URL,
            checkout_ref=request.checkout_ref,
            amount=request.amount,
            expires_at=request.expires_at,
            url=f"{self.public_base_url}/sandbox/checkout/{signed}",
        )

    async def parse_notice(self, headers: Mapping[str, str], body: bytes) -> PaymentEvent:
        header = headers.get(SIGNATURE_HEADER, "")
        parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
        try:
            timestamp = int(parts["t"])
        except (KeyError, ValueError):
            raise InvalidNotice("missing or malformed signature header") from None
        expected = self._mac(f"{timestamp}.".encode() + body)
        if not secrets_match(parts.get("v1"), expected):
            raise InvalidNotice("signature does not match")
        if abs(time.time() - timestamp) > TOLERANCE_SECONDS:
            raise InvalidNotice("timestamp outside the tolerance")
        try:
            notice = json.loads(body)
            return PaymentEvent(
                provider=self.name,
                event_id=str(notice["id"]),
                checkout_ref=str(notice["checkout"]),
                charge_ref=str(notice["charge"]),
                outcome=ChargeOutcome(notice["outcome"]),
                amount=Amount(int(notice["amount"]), str(notice["currency"])),
            )
        except (KeyError, ValueError, TypeError, RecursionError) as error:
            raise InvalidNotice(f"malformed notice: {type(error).__name__}") from None

    async def refund(self, request: RefundRequest) -> Refund:
        # The sandbox keeps no balances: a refund of a charge it signed always goes through.
        mac = self._mac(f"refund:{request.charge_ref}:{request.refund_key}".encode())[:24]
        return Refund(refund_ref="sbx_re_" + mac, amount=request.amount, status=RefundStatus.SUCCEEDED)

    async def query_refund(self, request: RefundRequest, refund_ref: str | None) -> Refund | None:
        return await self.refund(request)  # stateless: the same refund, and it always went through

    # -- the gateway side its checkout page calls -----------------------------------------------------

    def open_session(self, signed: str) -> SandboxSession | None:
        """The session behind a checkout URL, or None if it was tampered with."""
        encoded, _, mac = signed.partition(".")
        if not encoded.isascii() or not secrets_match(mac, self._mac(encoded.encode())[:32]):
            return None
        try:
            data = json.loads(_unb64(encoded))
            return SandboxSession(
                checkout_ref=data["ref"],
                order_token=data["order"],
                title=data["title"],
                amount=Amount(int(data["amount"]), data["currency"]),
                expires_at=datetime.fromtimestamp(int(data["exp"]), UTC),
                return_url=data["return"],
            )
        except (ValueError, KeyError, TypeError, RecursionError):
            return None

    def signed_notice(
        self, session: SandboxSession, outcome: ChargeOutcome, *, now: float | None = None
    ) -> tuple[dict[str, str], bytes]:
        """The notice the gateway sends for a decision on the page: headers and body, ready to POST."""
        # One charge per session, derived from it: pressing Pay twice charges once.
        charge = "sbx_ch_" + self._mac(f"charge:{session.checkout_ref}".encode())[:24]
        notice = {
            "id": "sbx_evt_" + self._mac(f"event:{session.checkout_ref}:{outcome}".encode())[:24],
            "checkout": session.checkout_ref,
            "charge": charge if outcome == ChargeOutcome.SUCCEEDED else f"{charge}_declined",
            "outcome": outcome.value,
            "amount": session.amount.minor,
            "currency": session.amount.currency,
        }
        body = json.dumps(notice, separators=(",", ":")).encode()
        timestamp = int(now if now is not None else time.time())
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: f"t={timestamp},v1={self._mac(f'{timestamp}.'.encode() + body)}",
        }
        return headers, body


PROVIDERS: tuple[ProviderKind, ...] = (SandboxGateway,)
