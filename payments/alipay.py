"""Alipay face-to-face QR payments (当面付, alipay.trade.precreate): the payer scans qr_code with Alipay.

Why the SDK only signs and verifies: python-alipay-sdk 3.4 calls with urllib, which is synchronous (it
would stall the event loop, and with it every chat), and it calls one of two gateways fixed by its `debug`
flag (so neither another gateway nor a local test double could be used). Its RSA2 signing and verifying are
what matters, and they are used as they are: `build_body` and `sign_data` make a signed request,
`verify(data, signature)` checks a notice, and `_verify_and_return_sync_response` (the SDK's own answer
check, which its public calls cannot run without urllib) checks an answer. aiohttp makes the calls, against
ALIPAY_GATEWAY.

A precreated trade does not exist at Alipay until someone scans its code: before that, query and close say
ACQ.TRADE_NOT_EXIST, so query reports nothing yet and close falls back to alipay.trade.cancel.

Alipay names a trade by out_trade_no, which may hold only letters, digits and underscores; daifu's checkout
refs may also hold "-". Every out_trade_no sent is made by `to_out_trade_no(ref)`, and every one read back
(notices, query answers) goes through `from_out_trade_no(...)`, so events carry daifu's own checkout_ref.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl

import aiohttp
from pydantic import SecretStr

from payments.base import (
    Amount,
    Capabilities,
    ChargeOutcome,
    Checkout,
    CheckoutKind,
    CheckoutRef,
    CheckoutRequest,
    InvalidNotice,
    NoticeReply,
    PaymentError,
    PaymentEvent,
    ProviderContext,
    ProviderDefaults,
    ProviderKind,
    ProviderSettings,
    Refund,
    RefundRequest,
    RefundStatus,
)
from payments.sdk import load_when_used

if TYPE_CHECKING:
    import alipay as alipay_sdk
else:
    alipay_sdk = load_when_used("alipay", extra="alipay")  # its package loads alipay.exceptions too

log = logging.getLogger(__name__)

CURRENCY = "CNY"  # alipay.trade.* prices in yuan only
CHINA = timezone(timedelta(hours=8))  # Alipay's clock: timestamps and time_expire are Beijing time
SUBJECT_CHARS = 256
TIMEOUT = aiohttp.ClientTimeout(total=10)
SUCCESS = "10000"
NOT_FOUND = "ACQ.TRADE_NOT_EXIST"

# alipay.trade.precreate, out_trade_no: "商户订单号,64个字符以内、只能包含字母、数字、下划线;需保证在商户端不重复"
# (at most 64 characters, letters, digits and underscores only; unique for the merchant), in
# https://docs.open.alipay.com/api_1/alipay.trade.precreate (query, close, cancel and refund name a trade by it).
# Another value is an invalid parameter, which Alipay refuses: 40004, sub_code ACQ.INVALID_PARAMETER (参数无效).
OUT_TRADE_NO_RULE = re.compile(r"[A-Za-z0-9_]{1,64}")
OUT_TRADE_NO_CHARS = 64
CHECKOUT_REF = re.compile(r"[A-Za-z0-9_-]+")  # URL-safe base64, as services.tokens.new_token writes refs
# Checkout refs are URL-safe base64, so "-" must be written another way; "_" is the one free character left
# and becomes the escape. Letters and digits stay as they are, "_" is written "_0" and "-" "_1". No code is
# the start of another, so an out_trade_no reads back one way only: the mapping is reversible, and two refs
# never share an out_trade_no (which an unescaped "_", or dropping "-", could not promise). It at most doubles
# the length: a 22-character ref (128 bits) is at most 44, and any ref of up to 32 characters fits in 64.
ESCAPES = {"_": "_0", "-": "_1"}
UNESCAPES = {code[1]: char for char, code in ESCAPES.items()}

OUTCOMES = {
    "TRADE_SUCCESS": ChargeOutcome.SUCCEEDED,
    "TRADE_FINISHED": ChargeOutcome.SUCCEEDED,  # paid, and past the refund period
    "TRADE_CLOSED": ChargeOutcome.DECLINED,  # never paid before it timed out or was closed (or fully refunded)
    "WAIT_BUYER_PAY": ChargeOutcome.PENDING,  # scanned, not paid yet
}


def to_out_trade_no(checkout_ref: str) -> str:
    """daifu's checkout_ref as Alipay's out_trade_no (only A-Za-z0-9_, at most 64 characters); ValueError for
    a ref that is not URL-safe base64, or too long to fit once escaped."""
    if not CHECKOUT_REF.fullmatch(checkout_ref):
        raise ValueError(f"not a checkout ref: {checkout_ref!r}")
    mapped = "".join(ESCAPES.get(char, char) for char in checkout_ref)
    if len(mapped) > OUT_TRADE_NO_CHARS:
        raise ValueError(f"checkout ref too long for an out_trade_no: {checkout_ref!r}")
    return mapped


def from_out_trade_no(out_trade_no: str) -> str | None:
    """The checkout_ref to_out_trade_no() made this out_trade_no from; None if it makes no such value."""
    if not OUT_TRADE_NO_RULE.fullmatch(out_trade_no):
        return None
    head, *escaped = out_trade_no.split("_")
    chars = [head]
    for part in escaped:  # each "_" starts an escape: its next character says which
        if not part or part[0] not in UNESCAPES:
            return None
        chars.append(UNESCAPES[part[0]] + part[1:])
    return "".join(chars)


def _out_trade_no(ref: str) -> str:
    try:
        return to_out_trade_no(ref)
    except ValueError as error:
        raise PaymentError(f"alipay: {error}") from None


def _yuan(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def _fen(text: str) -> int:
    """Alipay's "12.50" as 1250; anything else is not an amount Alipay writes."""
    try:
        value = Decimal(text) * 100
    except InvalidOperation:
        raise ValueError(f"not an amount: {text!r}") from None
    if value != value.to_integral_value() or value < 0:
        raise ValueError(f"not an amount in fen: {text!r}")
    return int(value)


def _beijing(moment: datetime) -> str:
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")


def _pem(text: str, label: str) -> str:
    """Alipay's key tool writes keys as bare base64; the SDK reads PEM (its label does not matter to it)."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        return text
    body = "".join(text.split())
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"])


class AlipaySettings(ProviderSettings):
    needs = ("alipay_app_id", "alipay_app_private_key", "alipay_public_key")
    alipay_app_id: str = ""
    alipay_app_private_key: SecretStr = SecretStr("")  # PEM
    alipay_public_key: str = ""  # PEM of Alipay's public key
    alipay_seller_id: str = ""  # the merchant's Alipay account id, checked in notices when set
    alipay_gateway: str = "https://openapi.alipay.com/gateway.do"


class AlipayPrecreate(ProviderDefaults):
    name = "alipay"
    settings_class: ClassVar[type[AlipaySettings]] = AlipaySettings
    capabilities = Capabilities(currencies=frozenset({CURRENCY}))

    def __init__(
        self,
        *,
        app_id: str,
        app_private_key_pem: str,
        alipay_public_key_pem: str,
        seller_id: str,
        gateway: str,
        notify_url: str,
    ) -> None:
        self.app_id = app_id
        self.seller_id = seller_id
        self.gateway = gateway
        self.notify_url = notify_url
        try:
            self._sdk = alipay_sdk.AliPay(
                appid=app_id,
                app_notify_url=notify_url,
                app_private_key_string=_pem(app_private_key_pem, "PRIVATE KEY"),
                alipay_public_key_string=_pem(alipay_public_key_pem, "PUBLIC KEY"),
                sign_type="RSA2",
            )
        except (ValueError, IndexError, TypeError):
            raise ValueError("ALIPAY_APP_PRIVATE_KEY and ALIPAY_PUBLIC_KEY must be RSA keys (PEM or base64)") from None
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    async def from_settings(cls, settings: AlipaySettings, context: ProviderContext) -> AlipayPrecreate:
        return cls(
            app_id=settings.alipay_app_id,
            app_private_key_pem=settings.alipay_app_private_key.get_secret_value(),
            alipay_public_key_pem=settings.alipay_public_key,
            seller_id=settings.alipay_seller_id,
            gateway=settings.alipay_gateway,
            notify_url=context.notify_url(cls.name),
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- checkouts ---------------------------------------------------------------------------------

    async def create_checkout(self, request: CheckoutRequest) -> Checkout:
        if request.amount.currency != CURRENCY:
            raise PaymentError(f"alipay takes {CURRENCY} only, not {request.amount.currency}")
        # time_expire is the order's own expiry, absolute, so asking again for the same checkout sends the
        # same parameters and Alipay hands back the code again. (The code itself stops working about two hours
        # after it was made if nobody scanned it; asking again then gives a fresh one.)
        biz = {
            "out_trade_no": _out_trade_no(request.checkout_ref),
            "total_amount": _yuan(request.amount.minor),
            "subject": request.title[:SUBJECT_CHARS] or "-",
            "time_expire": _beijing(request.expires_at),
        }
        if self.seller_id:
            biz["seller_id"] = self.seller_id
        answer = await self._call("alipay.trade.precreate", biz)
        qr_code = answer.get("qr_code")
        if answer.get("code") != SUCCESS or not isinstance(qr_code, str) or not qr_code:
            raise self._failure("alipay.trade.precreate", answer)
        return Checkout(
            provider=self.name,
            kind=CheckoutKind.QR,
            checkout_ref=request.checkout_ref,
            amount=request.amount,
            expires_at=request.expires_at,
            qr_payload=qr_code,
        )

    async def query(self, checkout: CheckoutRef) -> PaymentEvent | None:
        answer = await self._call("alipay.trade.query", {"out_trade_no": _out_trade_no(checkout.checkout_ref)})
        if answer.get("sub_code") == NOT_FOUND:
            return None  # not scanned yet
        if answer.get("code") != SUCCESS:
            raise self._failure("alipay.trade.query", answer)
        status = str(answer.get("trade_status", ""))
        outcome = OUTCOMES.get(status)
        if outcome is None or outcome == ChargeOutcome.PENDING:
            return None
        trade_no = str(answer.get("trade_no", ""))
        return self._event(f"query:{trade_no}:{status}", answer, outcome)

    async def close(self, checkout: CheckoutRef) -> None:
        trade = {"out_trade_no": _out_trade_no(checkout.checkout_ref)}
        answer = await self._call("alipay.trade.close", trade)
        if answer.get("code") == SUCCESS:
            return
        if answer.get("sub_code") != NOT_FOUND:
            raise self._failure("alipay.trade.close", answer)
        # Not scanned yet, so there is nothing to close; but the code could still be scanned and paid for
        # about two hours. Cancelling a trade that does not exist yet makes Alipay refuse it from then on.
        cancelled = await self._call("alipay.trade.cancel", trade)
        if cancelled.get("code") == SUCCESS:
            if cancelled.get("action") == "refund":  # it was paid between the two calls: Alipay gave it back
                log.warning("alipay trade %s was paid while being closed; Alipay refunded it", checkout.checkout_ref)
            return
        if cancelled.get("sub_code") != NOT_FOUND:
            raise self._failure("alipay.trade.cancel", cancelled)

    async def refund(self, request: RefundRequest) -> Refund:
        # The money goes back to the payer's Alipay. out_request_no makes a repeat harmless, and names the
        # refund at Alipay together with the trade_no (Alipay gives a refund no id of its own).
        answer = await self._call(
            "alipay.trade.refund",
            {
                "trade_no": request.charge_ref,
                "refund_amount": _yuan(request.amount.minor),
                "out_request_no": request.refund_key,
            },
        )
        if answer.get("code") != SUCCESS:
            raise self._failure("alipay.trade.refund", answer)
        # Alipay's success is final: the money is back in the payer's balance (refund_fee is the running total
        # of the trade's refunds, not this one's amount, which is the one asked for).
        return Refund(refund_ref=request.refund_key, amount=request.amount, status=RefundStatus.SUCCEEDED)

    async def query_refund(self, request: RefundRequest, refund_ref: str | None) -> Refund | None:
        answer = await self._call(
            "alipay.trade.fastpay.refund.query",
            {"trade_no": request.charge_ref, "out_request_no": request.refund_key},
        )
        if answer.get("code") != SUCCESS:
            raise self._failure("alipay.trade.fastpay.refund.query", answer)
        if not answer.get("refund_amount"):
            return None  # Alipay answers success without an amount for a refund it never made
        # REFUND_SUCCESS, or (older apps) no refund_status at all for a refund that went through.
        if answer.get("refund_status", "REFUND_SUCCESS") != "REFUND_SUCCESS":
            return Refund(refund_ref=request.refund_key, amount=request.amount, status=RefundStatus.PENDING)
        amount = Amount(_fen(str(answer["refund_amount"])), CURRENCY)
        return Refund(refund_ref=request.refund_key, amount=amount, status=RefundStatus.SUCCEEDED)

    # -- notices -----------------------------------------------------------------------------------

    async def parse_notice(self, headers: Mapping[str, str], body: bytes) -> PaymentEvent:
        try:
            # Alipay writes notices in the charset daifu's requests named: utf-8.
            fields = dict(parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=True))
        except (UnicodeDecodeError, ValueError):
            raise InvalidNotice("not a form-encoded notice") from None
        signature = fields.pop("sign", "")
        if not signature:
            raise InvalidNotice("unsigned")
        try:
            # verify() drops sign_type (refusing any but RSA2), sorts the rest and checks the RSA2 signature.
            valid = self._sdk.verify(dict(fields), signature)
        except (alipay_sdk.exceptions.AliPayException, ValueError) as error:
            raise InvalidNotice(f"unverifiable signature: {error}") from None
        if not valid:
            raise InvalidNotice("signature does not match")
        self._check_merchant(fields)
        outcome = OUTCOMES.get(fields.get("trade_status", ""))
        if outcome is None:
            raise InvalidNotice(f"unknown trade_status {fields.get('trade_status')!r}")
        # Alipay sends the same notice again (same notify_id, signed again) for about 25 hours until it reads
        # "success", so there is no freshness window: a replay is harmless, as the charge is applied once.
        return self._event(fields.get("notify_id", ""), fields, outcome)

    def acknowledge(self, accepted: bool, reason: str = "") -> NoticeReply:
        # Alipay reads only the body: exactly "success" stops it; anything else is sent again later.
        if accepted:
            return NoticeReply(200, "success", "text/plain")
        return NoticeReply(400, "fail", "text/plain")

    def _check_merchant(self, fields: Mapping[str, str]) -> None:
        if fields.get("app_id") != self.app_id:
            raise InvalidNotice("for another app")
        if self.seller_id and fields.get("seller_id") != self.seller_id:
            raise InvalidNotice("for another seller")

    def _event(self, event_id: str, trade: Mapping[str, Any], outcome: ChargeOutcome) -> PaymentEvent:
        """An event from a notice's fields or a query's answer. Whether out_trade_no is one of daifu's and
        total_amount is the order's is settled by the core, which refunds money that does not fit."""
        try:
            out_trade_no = str(trade["out_trade_no"])
            trade_no = str(trade["trade_no"])
            amount = Amount(_fen(str(trade["total_amount"])), CURRENCY)
        except (KeyError, ValueError) as error:
            raise InvalidNotice(f"malformed trade: {error!r}") from None
        if not event_id or not trade_no or not out_trade_no:
            raise InvalidNotice("a trade without notify_id, trade_no or out_trade_no")
        # A value to_out_trade_no() cannot have made is passed on as it is. Mostly it names no checkout (the
        # core keeps the notice as one for an unknown checkout); but a trade precreated before refs were
        # mapped was named by its ref itself, and so still finds its checkout (a ref without "_" reads back
        # as itself anyway; one with "_" reads as a mapped value only if each "_" is followed by 0 or 1).
        ref = from_out_trade_no(out_trade_no)
        return PaymentEvent(
            provider=self.name,
            event_id=event_id,
            checkout_ref=out_trade_no if ref is None else ref,
            charge_ref=trade_no,
            outcome=outcome,
            amount=amount,
            extra={"trade_status": str(trade.get("trade_status", ""))},
        )

    # -- HTTP ----------------------------------------------------------------------------------------

    def _http(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running loop; one per provider, so connections are reused.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT)
        return self._session

    async def _call(self, method: str, biz: Mapping[str, str]) -> dict[str, Any]:
        """Call an openapi method signed with the app's key; returns the answer once Alipay's signature holds.

        Business failures (code 40004 with a sub_code) come back signed too, and are returned for the caller
        to judge; an unsigned or wrongly signed answer raises PaymentError.
        """
        content = json.dumps(biz, ensure_ascii=False, separators=(",", ":"))
        # The SDK stamps requests with the machine's local time; Alipay expects Beijing time.
        data = self._sdk.build_body(method, content, timestamp=_beijing(datetime.now(CHINA)))
        form = self._sdk.sign_data(data)
        try:
            async with self._http().post(
                self.gateway,
                data=form.encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
            ) as response:
                status, raw = response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise PaymentError(f"alipay {method}: {type(error).__name__}: {error}") from None
        if status != 200:
            raise PaymentError(f"alipay {method}: HTTP {status}")
        try:
            answer = self._sdk._verify_and_return_sync_response(
                raw.decode("utf-8"), method.replace(".", "_") + "_response"
            )
        except alipay_sdk.exceptions.AliPayValidationError:
            raise PaymentError(f"alipay {method}: the answer's signature does not match") from None
        except alipay_sdk.exceptions.AliPayException as error:
            raise PaymentError(f"alipay {method}: unsigned error answer: {error}") from None
        except (ValueError, AttributeError, TypeError) as error:
            raise PaymentError(f"alipay {method}: unreadable answer: {error}") from None
        if not isinstance(answer, dict):
            raise PaymentError(f"alipay {method}: unreadable answer")
        return answer

    @staticmethod
    def _failure(method: str, answer: Mapping[str, Any]) -> PaymentError:
        parts = [answer.get("code"), answer.get("msg"), answer.get("sub_code"), answer.get("sub_msg")]
        return PaymentError(f"alipay {method}: " + " ".join(str(part) for part in parts if part))


PROVIDERS: tuple[ProviderKind, ...] = (AlipayPrecreate,)
