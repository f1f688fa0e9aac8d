"""WeChat Pay APIv3 Native payments: daifu asks for a code_url and the payer scans its QR code with WeChat.

The signed calls, the checks of WeChat Pay's signatures and the decryption of notices are payments.wechat_pay_api's;
here is what the calls ask and what the answers mean.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar
from urllib.parse import quote

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
from payments.wechat_pay_api import WeChatPayApi

log = logging.getLogger(__name__)

CURRENCY = "CNY"  # domestic WeChat Pay merchants are paid in yuan only
CHINA = timezone(timedelta(hours=8))  # WeChat Pay's own clock; time_expire is written in it
DESCRIPTION_BYTES = 127  # description is string[1,127]
NATIVE_PATH = "/v3/pay/transactions/native"
REFUNDS_PATH = "/v3/refund/domestic/refunds"

OUTCOMES = {
    "SUCCESS": ChargeOutcome.SUCCEEDED,
    "CLOSED": ChargeOutcome.DECLINED,
    "PAYERROR": ChargeOutcome.DECLINED,
    "REVOKED": ChargeOutcome.DECLINED,
}
STILL_OPEN = frozenset({"NOTPAY", "USERPAYING"})
REFUND_STATUSES = {
    "SUCCESS": RefundStatus.SUCCEEDED,
    "PROCESSING": RefundStatus.PENDING,
    "ABNORMAL": RefundStatus.FAILED,
    "CLOSED": RefundStatus.FAILED,
}


def _total(amount: Mapping[str, Any], fallback: Amount | None) -> int:
    """amount.total in fen; an order that was never paid may leave it out of a query's answer."""
    if "total" in amount:
        return int(amount["total"])
    if fallback is None:
        raise KeyError("amount.total")
    return fallback.minor


def _clip_utf8(text: str, limit: int) -> str:
    return text.encode()[:limit].decode(errors="ignore") or "-"


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(CHINA).isoformat(timespec="seconds")


class WeChatPaySettings(ProviderSettings):
    needs = (
        "wechatpay_mchid",
        "wechatpay_appid",
        "wechatpay_private_key",
        "wechatpay_cert_serial_no",
        "wechatpay_apiv3_key",
        "wechatpay_public_key",
        "wechatpay_public_key_id",
    )
    wechatpay_mchid: str = ""
    wechatpay_appid: str = ""
    wechatpay_private_key: SecretStr = SecretStr("")  # PEM of the merchant's API private key
    wechatpay_cert_serial_no: str = ""
    wechatpay_apiv3_key: SecretStr = SecretStr("")
    wechatpay_public_key: str = ""  # PEM of WeChat Pay's platform public key
    wechatpay_public_key_id: str = ""
    wechatpay_api_base: str = "https://api.mch.weixin.qq.com"


class WeChatPayNative(ProviderDefaults):
    name = "wechatpay"
    settings_class: ClassVar[type[WeChatPaySettings]] = WeChatPaySettings
    # Refunds in part too: at most 50 per order (WeChat Pay refuses the 51st).
    capabilities = Capabilities(currencies=frozenset({CURRENCY}))

    def __init__(self, api: WeChatPayApi) -> None:
        self.mchid = api.mchid
        self.appid = api.appid
        self.notify_url = api.notify_url
        self._api = api

    @classmethod
    async def from_settings(cls, settings: WeChatPaySettings, context: ProviderContext) -> WeChatPayNative:
        api = WeChatPayApi(
            mchid=settings.wechatpay_mchid,
            appid=settings.wechatpay_appid,
            private_key_pem=settings.wechatpay_private_key.get_secret_value(),
            cert_serial_no=settings.wechatpay_cert_serial_no,
            apiv3_key=settings.wechatpay_apiv3_key.get_secret_value(),
            platform_public_key_pem=settings.wechatpay_public_key,
            platform_public_key_id=settings.wechatpay_public_key_id,
            api_base=settings.wechatpay_api_base,
            notify_url=context.notify_url(cls.name),
        )
        return cls(api)

    async def aclose(self) -> None:
        await self._api.aclose()

    # -- checkouts ---------------------------------------------------------------------------------

    async def create_checkout(self, request: CheckoutRequest) -> Checkout:
        if request.amount.currency != CURRENCY:
            raise PaymentError(f"wechatpay takes {CURRENCY} only, not {request.amount.currency}")
        # time_expire is the order's own expiry, absolute, so asking again for the same checkout sends the
        # same parameters: WeChat Pay then answers with a code_url again instead of refusing a changed order.
        answer = await self._api.request(
            "POST",
            NATIVE_PATH,
            {
                "appid": self.appid,
                "mchid": self.mchid,
                "description": _clip_utf8(request.title, DESCRIPTION_BYTES),
                "out_trade_no": request.checkout_ref,
                "time_expire": _rfc3339(request.expires_at),
                "notify_url": self.notify_url,
                "amount": {"total": request.amount.minor, "currency": CURRENCY},
            },
        )
        code_url = answer.data.get("code_url")
        if not answer.ok or not isinstance(code_url, str) or not code_url:
            raise answer.failure("native order")
        return Checkout(
            provider=self.name,
            kind=CheckoutKind.QR,
            checkout_ref=request.checkout_ref,
            amount=request.amount,
            expires_at=request.expires_at,
            qr_payload=code_url,
        )

    async def query(self, checkout: CheckoutRef) -> PaymentEvent | None:
        ref = quote(checkout.checkout_ref, safe="")
        answer = await self._api.request("GET", f"/v3/pay/transactions/out-trade-no/{ref}?mchid={self.mchid}")
        if answer.code == "ORDER_NOT_EXIST":
            return None
        if not answer.ok:
            raise answer.failure("order query")
        state = str(answer.data.get("trade_state", ""))
        if state in STILL_OPEN:
            return None
        if state not in OUTCOMES:
            # REFUND: paid, then refunded outside daifu while its notice was lost. Neither crediting nor
            # declining it is right; the merchant platform shows what happened.
            log.warning("wechatpay order %s is %s; look at it in the merchant platform", checkout.checkout_ref, state)
            return None
        self._check_merchant(answer.data)
        reference = answer.data.get("transaction_id") or checkout.checkout_ref
        return self._event(f"query:{reference}:{state}", answer.data, OUTCOMES[state], fallback=checkout.amount)

    async def close(self, checkout: CheckoutRef) -> None:
        ref = quote(checkout.checkout_ref, safe="")
        answer = await self._api.request(
            "POST", f"/v3/pay/transactions/out-trade-no/{ref}/close", {"mchid": self.mchid}
        )
        if not answer.ok and answer.code != "ORDER_NOT_EXIST":
            raise answer.failure("close")

    async def refund(self, request: RefundRequest) -> Refund:
        # The money goes back to the payer's WeChat balance or card; WeChat Pay allows it up to a year after
        # the payment, and at most 50 partial refunds per order. out_refund_no makes a repeat harmless.
        answer = await self._api.request(
            "POST",
            REFUNDS_PATH,
            {
                "transaction_id": request.charge_ref,
                "out_refund_no": request.refund_key,
                "amount": {
                    "refund": request.amount.minor,
                    "total": request.charge_amount.minor,
                    "currency": request.amount.currency,
                },
            },
        )
        if not answer.ok:
            raise answer.failure("refund")
        return self._refund_from(answer.data, request)

    async def query_refund(self, request: RefundRequest, refund_ref: str | None) -> Refund | None:
        answer = await self._api.request("GET", f"{REFUNDS_PATH}/{quote(request.refund_key, safe='')}")
        if answer.code == "RESOURCE_NOT_EXISTS":
            return None
        if not answer.ok:
            raise answer.failure("refund query")
        return self._refund_from(answer.data, request)

    @staticmethod
    def _refund_from(data: Mapping[str, Any], request: RefundRequest) -> Refund:
        """WeChat Pay answers PROCESSING first, and SUCCESS once the money is back; ABNORMAL (the payer's card
        or account is closed) and CLOSED mean it did not go back."""
        status = REFUND_STATUSES.get(str(data.get("status")))
        if status is None:
            raise PaymentError(f"wechatpay refund {request.refund_key} has an unknown status {data.get('status')!r}")
        amount = data.get("amount") or {}
        refunded = amount.get("refund") if isinstance(amount, Mapping) else None
        return Refund(
            refund_ref=str(data.get("refund_id", request.refund_key)),
            amount=Amount(refunded if isinstance(refunded, int) else request.amount.minor, request.amount.currency),
            status=status,
            failure=f"WeChat Pay says {data.get('status')}" if status == RefundStatus.FAILED else None,
            refund_key=request.refund_key,
        )

    # -- notices -----------------------------------------------------------------------------------

    async def parse_notice(self, headers: Mapping[str, str], body: bytes) -> PaymentEvent:
        notice = self._api.verified_notice(headers, body)
        resource = notice.get("resource")
        if not isinstance(resource, dict):
            raise InvalidNotice("the notice has no resource")
        self._check_merchant(resource)
        # Refund notices (which daifu does not ask for) carry no trade_state: nothing for the books.
        outcome = OUTCOMES.get(str(resource.get("trade_state", "")), ChargeOutcome.PENDING)
        return self._event(str(notice.get("id", "")), resource, outcome)

    def acknowledge(self, accepted: bool, reason: str = "") -> NoticeReply:
        # Taken: 200 or 204 and no body. Refused: any 4xx/5xx with {"code": "FAIL"}; WeChat Pay sends it again.
        if accepted:
            return NoticeReply(204, "")
        return NoticeReply(500, json.dumps({"code": "FAIL", "message": reason or "refused"}))

    def _check_merchant(self, transaction: Mapping[str, Any]) -> None:
        if str(transaction.get("mchid", "")) != self.mchid:
            raise InvalidNotice("for another merchant")
        if "appid" in transaction and str(transaction["appid"]) != self.appid:
            raise InvalidNotice("for another app")

    def _event(
        self,
        event_id: str,
        transaction: Mapping[str, Any],
        outcome: ChargeOutcome,
        *,
        fallback: Amount | None = None,
    ) -> PaymentEvent:
        """An event from a transaction, as a notice's resource or a query's answer gives it."""
        amount = transaction.get("amount") or {}
        try:
            out_trade_no = str(transaction["out_trade_no"])
            money = Amount(_total(amount, fallback), str(amount.get("currency", CURRENCY)))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise InvalidNotice(f"malformed transaction: {error!r}") from None
        transaction_id = transaction.get("transaction_id")
        if outcome == ChargeOutcome.SUCCEEDED and not transaction_id:
            raise InvalidNotice("a successful transaction without a transaction_id")
        if not event_id:
            raise InvalidNotice("a notice without an id")
        extra = {"trade_state": str(transaction.get("trade_state", ""))}
        if "payer_total" in amount:
            extra["payer_total"] = str(amount["payer_total"])  # less than total when a coupon paid a part
        return PaymentEvent(
            provider=self.name,
            event_id=event_id,
            checkout_ref=out_trade_no,
            # An unpaid order has no transaction yet; its declined event needs a charge id all the same.
            charge_ref=str(transaction_id or f"{out_trade_no}:{extra['trade_state']}"),
            outcome=outcome,
            amount=money,
            extra=extra,
        )


PROVIDERS: tuple[ProviderKind, ...] = (WeChatPayNative,)
