"""WeChat Pay APIv3 as the merchant calls it: each request signed, each answer's signature checked, each notice
verified and its resource decrypted, all with the official SDK's cryptography (wechatpayv3).

Why the SDK only signs, verifies and decrypts: wechatpayv3 2.0.4 makes its calls with `requests`, which is
synchronous (it would stall the event loop, and with it every chat), and it always calls
https://api.mch.weixin.qq.com (so neither the backup domain nor a local test double could be used). aiohttp makes
the calls, against WECHATPAY_API_BASE.

The SDK runs in public-key mode (WeChat Pay's platform public key and its id, from the merchant platform). In that
mode it never downloads platform certificates when it is built. Its verifier still downloads them (over blocking
HTTP) when a `Wechatpay-Serial` does not match the public key id, so that header is checked here before the SDK
sees anything.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp

from payments.base import InvalidNotice, PaymentError
from payments.sdk import load_when_used

if TYPE_CHECKING:
    import wechatpayv3
    import wechatpayv3.utils
else:
    wechatpayv3 = load_when_used("wechatpayv3", extra="wechatpay")  # its package loads wechatpayv3.utils too

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
# WeChat Pay sometimes sends a notice with a deliberately wrong signature, to see that merchants refuse it.
PROBE_PREFIX = "WECHATPAY/SIGNTEST/"
# WeChat Pay signs every delivery (and every answer) afresh, so an older signature is a replay. WeChat's own
# SDKs allow 5 minutes.
TOLERANCE_SECONDS = 300
TIMEOUT = aiohttp.ClientTimeout(total=10)
SIGNED_HEADERS = (
    "Wechatpay-Signature",
    "Wechatpay-Timestamp",
    "Wechatpay-Nonce",
    "Wechatpay-Serial",
    "Wechatpay-Signature-Type",
)


@dataclass(frozen=True, slots=True)
class Answer:
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


def header_of(headers: Mapping[str, str], name: str) -> str:
    """A header by name in any letter case: stored notices come back as plain dicts."""
    wanted = name.lower()
    return next((str(value) for key, value in headers.items() if key.lower() == wanted), "")


class WeChatPayApi:
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
        self.notify_url = notify_url
        self.api_base = api_base.rstrip("/")
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

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def verified_notice(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        """A notice whose signature holds, its resource decrypted; raises InvalidNotice."""
        signed = self.trusted_headers(headers)
        try:
            notice = self._sdk.callback(signed, body.decode("utf-8"))
        except Exception as error:  # the SDK raises a bare Exception for what it cannot read
            raise InvalidNotice(f"unreadable notice: {error}") from None
        if not notice:
            raise InvalidNotice("signature does not match, or the resource does not decrypt with the APIv3 key")
        return dict(notice)

    def trusted_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """The signature headers, after the checks the SDK does not make; raises InvalidNotice."""
        signed = {name: header_of(headers, name) for name in SIGNED_HEADERS}
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

    def _http(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running loop; one per provider, so connections are reused.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT)
        return self._session

    async def request(self, method: str, path: str, payload: Mapping[str, Any] | None = None) -> Answer:
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
            self.verify_answer(answer_headers, text, what)
        try:
            data = json.loads(text) if text.strip() else {}
        except ValueError:
            data = {"message": text[:200]}
        return Answer(status, data if isinstance(data, dict) else {})

    def verify_answer(self, headers: Mapping[str, str], text: str, what: str) -> None:
        # An unsigned or wrongly signed success is forged or tampered with (WeChat Pay's own rule).
        try:
            signed = self.trusted_headers(headers)
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
