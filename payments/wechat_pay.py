"""WeChat Pay APIv3 Native payments: daifu asks for a code_url and the payer scans its QR code with WeChat.

Why the SDK only signs, verifies and decrypts: wechatpayv3 2.0.4 makes its calls with `requests`, which is
synchronous (it would stall the event loop, and with it every chat), and it always calls
https://api.mch.weixin.qq.com (so neither the backup domain nor a local test double could be used). Its
cryptography is what matters, and it is used as it is: `build_authorization` signs each request,
`rsa_verify` checks each answer, and `WeChatPay.callback` verifies a notice and decrypts its resource.
aiohttp makes the calls, against WECHATPAY_API_BASE.

The SDK runs in public-key mode (WeChat Pay's platform public key and its id, from the merchant platform).
In that mode it never downloads platform certificates when it is built. Its verifier still downloads them
(over blocking HTTP) when a `Wechatpay-Serial` does not match the public key id, so that header is checked
here before the SDK sees anything.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

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
    import wechatpayv3
    import wechatpayv3.utils
else:
    wechatpayv3 = load_when_used("wechatpayv3", extra="wechatpay")  # its package loads wechatpayv3.utils too

log = logging.getLogger(__name__)

CURRENCY = "CNY"  # domestic WeChat Pay merchants are paid in yuan only
CHINA = timezone(timedelta(hours=8))  # WeChat Pay's own clock; time_expire is written in it
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
# WeChat Pay sometimes sends a notice with a deliberately wrong signature, to see that merchants refuse it.
PROBE_PREFIX = "WECHATPAY/SIGNTEST/"
# WeChat Pay signs every delivery (and every answer) afresh, so an older signature is a replay. WeChat's own
# SDKs allow 5 minutes.
TOLERANCE_SECONDS = 300
DESCRIPTION_BYTES = 127  # description is string[1,127]
TIMEOUT = aiohttp.ClientTimeout(total=10)
SIGNED_HEADERS = (
    "Wechatpay-Signature",
    "Wechatpay-Timestamp",
    "Wechatpay-Nonce",
    "Wechatpay-Serial",
    "Wechatpay-Signature-Type",
)
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


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    data: dict[str, Any]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def code(self) -> str:
        return str(self.data.get("code", ""))

    def failure(self, what: str) -> PaymentError:
        message = str(self.data.get("message", ""))
        return PaymentError(f"wechatpay {what}: HTTP {self.status} {self.code} {message}".rstrip())


def _header(headers: Mapping[str, str], name: str) -> str:
    """A header by name in any letter case: stored notices come back as plain dicts."""
    wanted = name.lower()
    return next((str(value) for key, value in headers.items() if key.lower() == wanted), "")


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

    def __init__(
        self,
        *,
        mchid: str,
        appid: str,
        private_key_pem: str,
        cert_serial_no: str,
        apiv3_key: str,
        platform_public_key_pem: str,
        platform_public_key_id: str,
        api_base: str,
        notify_url: str,
    ) -> None:
        if len(apiv3_key.encode()) != 32:
            raise ValueError("WECHATPAY_APIV3_KEY must be the 32-character APIv3 key")
        if not platform_public_key_pem or not platform_public_key_id:
            # Without both, the SDK would download platform certificates, synchronously, right here.
            raise ValueError("WECHATPAY_PUBLIC_KEY and WECHATPAY_PUBLIC_KEY_ID are both needed")
        self.mchid = mchid
        self.appid = appid
        self.api_base = api_base.rstrip("/")
        self.notify_url = notify_url
        self._cert_serial_no = cert_serial_no
        self._public_key_id = platform_public_key_id
        try:
            self._private_key = wechatpayv3.utils.load_private_key(private_key_pem)
            self._public_key = wechatpayv3.utils.load_public_key(platform_public_key_pem)
            self._sdk = wechatpayv3.WeChatPay(
                wechatpay_type=wechatpayv3.WeChatPayType.NATIVE,
                mchid=mchid,
                private_key=private_key_pem,
                cert_serial_no=cert_serial_no,
                appid=appid,
                apiv3_key=apiv3_key,
                notify_url=notify_url,
                public_key=platform_public_key_pem,
                public_key_id=platform_public_key_id,
            )
        except Exception:  # the SDK raises a bare Exception for a key it cannot load
            raise ValueError("WECHATPAY_PRIVATE_KEY and WECHATPAY_PUBLIC_KEY must be PEM keys") from None
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    async def from_settings(cls, settings: WeChatPaySettings, context: ProviderContext) -> WeChatPayNative:
        return cls(
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

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- checkouts ---------------------------------------------------------------------------------

    async def create_checkout(self, request: CheckoutRequest) -> Checkout:
        if request.amount.currency != CURRENCY:
            raise PaymentError(f"wechatpay takes {CURRENCY} only, not {request.amount.currency}")
        # time_expire is the order's own expiry, absolute, so asking again for the same checkout sends the
        # same parameters: WeChat Pay then answers with a code_url again instead of refusing a changed order.
        answer = await self._request(
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
        answer = await self._request("GET", f"/v3/pay/transactions/out-trade-no/{ref}?mchid={self.mchid}")
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
        answer = await self._request("POST", f"/v3/pay/transactions/out-trade-no/{ref}/close", {"mchid": self.mchid})
        if not answer.ok and answer.code != "ORDER_NOT_EXIST":
            raise answer.failure("close")

    async def refund(self, request: RefundRequest) -> Refund:
        # The money goes back to the payer's WeChat balance or card; WeChat Pay allows it up to a year after
        # the payment, and at most 50 partial refunds per order. out_refund_no makes a repeat harmless.
        answer = await self._request(
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
        answer = await self._request("GET", f"{REFUNDS_PATH}/{quote(request.refund_key, safe='')}")
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
        signed = self._trusted_headers(headers)
        try:
            notice = self._sdk.callback(signed, body.decode("utf-8"))
        except Exception as error:  # the SDK raises a bare Exception for what it cannot read
            raise InvalidNotice(f"unreadable notice: {error}") from None
        if not notice:
            raise InvalidNotice("signature does not match, or the resource does not decrypt with the APIv3 key")
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

    def _trusted_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """The signature headers, after the checks the SDK does not make; raises InvalidNotice."""
        signed = {name: _header(headers, name) for name in SIGNED_HEADERS}
        signature = signed["Wechatpay-Signature"]
        if not signature:
            raise InvalidNotice("unsigned")
        if signature.startswith(PROBE_PREFIX):
            raise InvalidNotice("a signature probe")
        if signed["Wechatpay-Serial"] != self._public_key_id:
            raise InvalidNotice("signed with a key other than WeChat Pay's configured public key")
        try:
            timestamp = int(signed["Wechatpay-Timestamp"])
        except ValueError:
            raise InvalidNotice("missing or malformed Wechatpay-Timestamp") from None
        if abs(time.time() - timestamp) > TOLERANCE_SECONDS:
            raise InvalidNotice("timestamp outside the tolerance")
        # The SDK insists on the type header; RSA is the only scheme it (and this key) verifies anyway.
        signed["Wechatpay-Signature-Type"] = signed["Wechatpay-Signature-Type"] or SIGNATURE_TYPE
        return signed

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

    # -- HTTP ----------------------------------------------------------------------------------------

    def _http(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running loop; one per provider, so connections are reused.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT)
        return self._session

    async def _request(self, method: str, path: str, payload: Mapping[str, Any] | None = None) -> _Answer:
        """Call WeChat Pay signed as the merchant; a 2xx answer counts only if WeChat Pay's signature holds."""
        body = "" if payload is None else json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        headers = {
            "Authorization": wechatpayv3.utils.build_authorization(
                path, method, self.mchid, self._cert_serial_no, self._private_key, data=body
            ),
            "Accept": "application/json",
            "Wechatpay-Serial": self._public_key_id,
            "User-Agent": "daifu (aiohttp)",
        }
        if payload is not None:
            headers["Content-Type"] = "application/json"
        what = f"{method} {path.split('?')[0]}"
        try:
            async with self._http().request(
                method, self.api_base + path, data=body.encode() if payload is not None else None, headers=headers
            ) as response:
                status, answer_headers, raw = response.status, response.headers, await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise PaymentError(f"wechatpay {what}: {type(error).__name__}: {error}") from None
        text = raw.decode("utf-8", errors="replace")
        if 200 <= status < 300:
            self._verify_answer(answer_headers, text, what)
        try:
            data = json.loads(text) if text.strip() else {}
        except ValueError:
            data = {"message": text[:200]}
        return _Answer(status, data if isinstance(data, dict) else {})

    def _verify_answer(self, headers: Mapping[str, str], text: str, what: str) -> None:
        # An unsigned or wrongly signed success is forged or tampered with (WeChat Pay's own rule).
        try:
            signed = self._trusted_headers(headers)
        except InvalidNotice as error:
            raise PaymentError(f"wechatpay {what}: answer not trusted: {error}") from None
        if not wechatpayv3.utils.rsa_verify(
            signed["Wechatpay-Timestamp"],
            signed["Wechatpay-Nonce"],
            text,
            signed["Wechatpay-Signature"],
            self._public_key,
        ):
            raise PaymentError(f"wechatpay {what}: the answer's signature does not match")


PROVIDERS: tuple[ProviderKind, ...] = (WeChatPayNative,)
