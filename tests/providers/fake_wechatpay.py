"""An in-process WeChat Pay APIv3 for the tests, on a free loopback port.

It answers the endpoints daifu uses with the documented shapes, checks the merchant's request signatures
(`Authorization: WECHATPAY2-SHA256-RSA2048 ...`), signs every answer with the platform key the way WeChat
Pay does, keeps trades in memory, and sends payment notices encrypted with the APIv3 key (AEAD_AES_256_GCM)
and signed over "timestamp\\nnonce\\nbody\\n". The test side pays, and sends forged, stale, probing or
otherwise bad notices.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.providers.provider_keys import WeChatKeys, intruder, wechat_keys

CHINA = timezone(timedelta(hours=8))
OUT_TRADE_NO = re.compile(r"^[A-Za-z0-9_\-|*]{6,32}$")
MAX_REFUNDS = 50


def _sign(key: rsa.RSAPrivateKey, message: str) -> str:
    return base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def _now_text() -> str:
    return datetime.now(CHINA).isoformat(timespec="seconds")


@dataclass
class Trade:
    out_trade_no: str
    appid: str
    mchid: str
    description: str
    total: int
    currency: str
    notify_url: str
    time_expire: str
    code_url: str
    state: str = "NOTPAY"
    transaction_id: str | None = None
    success_time: str | None = None
    notice_id: str = field(default_factory=lambda: str(uuid.uuid4()))  # the same for every delivery
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)  # by out_refund_no

    @property
    def refunded(self) -> int:
        return sum(refund["amount"]["refund"] for refund in self.refunds.values())

    def transaction(self) -> dict[str, Any]:
        """The transaction as the query answers it and a notice's resource carries it."""
        data: dict[str, Any] = {
            "appid": self.appid,
            "mchid": self.mchid,
            "out_trade_no": self.out_trade_no,
            "trade_type": "NATIVE",
            "trade_state": self.state,
            "trade_state_desc": {"NOTPAY": "订单未支付", "SUCCESS": "支付成功", "CLOSED": "已关闭"}.get(self.state, ""),
            "amount": {"total": self.total, "currency": self.currency},
        }
        if self.transaction_id:
            data |= {
                "transaction_id": self.transaction_id,
                "bank_type": "OTHERS",
                "success_time": self.success_time,
                "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
            }
            data["amount"] |= {"payer_total": self.total, "payer_currency": self.currency}
        return data


class FakeWeChatPay:
    def __init__(self, keys: WeChatKeys | None = None) -> None:
        self.keys = keys or wechat_keys()
        self.trades: dict[str, Trade] = {}
        self.calls: list[tuple[str, str]] = []  # (method, path) of every call whose signature held
        self.refused: list[str] = []  # why calls were refused (bad merchant signatures)
        self.answer_key = self.keys.platform.private_key  # a test may swap it to forge WeChat Pay's answers
        self.refunds_finish_as = "SUCCESS"  # what a PROCESSING refund has become when it is next asked about
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    # -- running ---------------------------------------------------------------------------------------

    async def __aenter__(self) -> FakeWeChatPay:
        app = web.Application(middlewares=[self._authenticate])
        app.add_routes(
            [
                web.post("/v3/pay/transactions/native", self._native),
                web.get("/v3/pay/transactions/out-trade-no/{out_trade_no}", self._query),
                web.post("/v3/pay/transactions/out-trade-no/{out_trade_no}/close", self._close),
                web.post("/v3/refund/domestic/refunds", self._refund),
                web.get("/v3/refund/domestic/refunds/{out_refund_no}", self._query_refund),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def settings(self) -> dict[str, Any]:
        """daifu's settings for a shop that uses this WeChat Pay."""
        return self.keys.settings(self.base_url)

    def latest(self) -> Trade:
        return list(self.trades.values())[-1]

    # -- the merchant's side: requests ---------------------------------------------------------------

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.text()
        problem = self._signature_problem(request.method, request.raw_path, body, request.headers)
        if problem:
            self.refused.append(problem)
            return self._answer(401, {"code": "SIGN_ERROR", "message": problem})
        self.calls.append((request.method, request.path))
        response: web.StreamResponse = await handler(request)
        return response

    def _signature_problem(self, method: str, path: str, body: str, headers: Any) -> str | None:
        scheme, _, params = headers.get("Authorization", "").partition(" ")
        if scheme != "WECHATPAY2-SHA256-RSA2048":
            return "missing or unknown Authorization scheme"
        fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
        if fields.get("mchid") != self.keys.mchid or fields.get("serial_no") != self.keys.merchant_serial_no:
            return "unknown merchant or certificate serial number"
        if not fields.get("timestamp", "").isdigit() or abs(time.time() - int(fields["timestamp"])) > 300:
            return "Http头Authorization中的timestamp与发起请求的时间不得超过5分钟"
        message = f"{method}\n{path}\n{fields['timestamp']}\n{fields.get('nonce_str', '')}\n{body}\n"
        try:
            self.keys.merchant.public_key.verify(
                base64.b64decode(fields.get("signature", "")), message.encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except (InvalidSignature, ValueError):
            return "签名错误"
        return None

    def signature_headers(
        self,
        body: str,
        *,
        key: rsa.RSAPrivateKey | None = None,
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> dict[str, str]:
        """WeChat Pay's signature headers over a body (answers and notices alike)."""
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        nonce = secrets.token_hex(16)
        return {
            "Wechatpay-Timestamp": stamp,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Serial": self.keys.public_key_id,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
            "Wechatpay-Signature": signature or _sign(key or self.answer_key, f"{stamp}\n{nonce}\n{body}\n"),
            "Request-ID": str(uuid.uuid4()),
        }

    def _answer(self, status: int, data: dict[str, Any] | None) -> web.Response:
        body = "" if data is None else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        headers = self.signature_headers(body)
        if data is None:
            return web.Response(status=status, headers=headers)
        return web.Response(status=status, text=body, content_type="application/json", headers=headers)

    def _error(self, status: int, code: str, message: str) -> web.Response:
        return self._answer(status, {"code": code, "message": message})

    async def _native(self, request: web.Request) -> web.Response:
        data = await request.json()
        if any(not data.get(name) for name in ("appid", "mchid", "description", "out_trade_no", "notify_url")):
            return self._error(400, "PARAM_ERROR", "缺少参数")
        if data["mchid"] != self.keys.mchid or data["appid"] != self.keys.appid:
            return self._error(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
        amount = data.get("amount") or {}
        total, currency = amount.get("total"), amount.get("currency", "CNY")
        if not isinstance(total, int) or total <= 0 or currency != "CNY":
            return self._error(400, "PARAM_ERROR", "amount.total 或 currency 不正确")
        if len(data["description"].encode()) > 127 or not OUT_TRADE_NO.match(data["out_trade_no"]):
            return self._error(400, "PARAM_ERROR", "description 或 out_trade_no 格式不正确")
        if "time_expire" in data and datetime.fromisoformat(data["time_expire"]) <= datetime.now(CHINA):
            return self._error(400, "PARAM_ERROR", "time_expire 已过期")
        trade = self.trades.get(data["out_trade_no"])
        if trade is not None:
            return self._native_again(trade, total, data)
        trade = Trade(
            out_trade_no=data["out_trade_no"],
            appid=data["appid"],
            mchid=data["mchid"],
            description=data["description"],
            total=total,
            currency=currency,
            notify_url=data["notify_url"],
            time_expire=data.get("time_expire", ""),
            code_url=f"weixin://wxpay/bizpayurl?pr={secrets.token_urlsafe(7)}",
        )
        self.trades[trade.out_trade_no] = trade
        return self._answer(200, {"code_url": trade.code_url})

    def _native_again(self, trade: Trade, total: int, data: dict[str, Any]) -> web.Response:
        # Ordering again with the same out_trade_no: the same code if nothing changed.
        if trade.state == "SUCCESS":
            return self._error(400, "ORDERPAID", "该订单已支付")
        if trade.state == "CLOSED":
            return self._error(400, "ORDER_CLOSED", "当前订单已关闭，请重新下单")
        if (total, data.get("time_expire", ""), data["notify_url"]) != (
            trade.total,
            trade.time_expire,
            trade.notify_url,
        ):
            return self._error(400, "INVALID_REQUEST", "201 商户订单号重复")
        return self._answer(200, {"code_url": trade.code_url})

    async def _query(self, request: web.Request) -> web.Response:
        if request.query.get("mchid") != self.keys.mchid:
            return self._error(400, "PARAM_ERROR", "mchid 不正确")
        trade = self.trades.get(request.match_info["out_trade_no"])
        if trade is None:
            return self._error(404, "ORDER_NOT_EXIST", "订单不存在")
        return self._answer(200, trade.transaction())

    async def _close(self, request: web.Request) -> web.Response:
        data = await request.json()
        if data.get("mchid") != self.keys.mchid:
            return self._error(400, "PARAM_ERROR", "mchid 不正确")
        trade = self.trades.get(request.match_info["out_trade_no"])
        if trade is None:
            return self._error(404, "ORDER_NOT_EXIST", "订单不存在")
        if trade.state not in ("NOTPAY", "CLOSED"):
            return self._error(400, "ORDERPAID", "订单已支付")
        trade.state = "CLOSED"
        return self._answer(204, None)

    async def _refund(self, request: web.Request) -> web.Response:
        data = await request.json()
        trade = next((t for t in self.trades.values() if t.transaction_id == data.get("transaction_id")), None)
        if trade is None:
            return self._error(404, "RESOURCE_NOT_EXISTS", "订单不存在")
        if data.get("out_refund_no") in trade.refunds:
            return self._answer(200, trade.refunds[data["out_refund_no"]])  # the same refund, not a second one
        amount = data.get("amount") or {}
        refund = amount.get("refund")
        if trade.state not in ("SUCCESS", "REFUND"):
            return self._error(400, "INVALID_REQUEST", "订单未支付")
        if amount.get("total") != trade.total or amount.get("currency") != trade.currency:
            return self._error(400, "PARAM_ERROR", "订单金额或币种与支付金额不一致")
        if not isinstance(refund, int) or refund <= 0 or refund > trade.total - trade.refunded:
            return self._error(400, "NOT_ENOUGH", "申请退款金额超过订单可退金额")
        if len(trade.refunds) >= MAX_REFUNDS:
            return self._error(403, "INVALID_REQUEST", "部分退款次数超过上限")
        record = {
            "refund_id": f"50000{secrets.randbelow(10**23):023d}",
            "out_refund_no": data["out_refund_no"],
            "transaction_id": trade.transaction_id,
            "out_trade_no": trade.out_trade_no,
            "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱",
            "create_time": _now_text(),
            "status": "PROCESSING",  # refunds finish later (refunds_finish_as); the answer says it was accepted
            "amount": {"refund": refund, "total": trade.total, "currency": trade.currency, "payer_refund": refund},
        }
        trade.refunds[data["out_refund_no"]] = record
        trade.state = "REFUND"
        return self._answer(200, record)

    async def _query_refund(self, request: web.Request) -> web.Response:
        """GET /v3/refund/domestic/refunds/{out_refund_no}: by then WeChat Pay has finished the refund, as
        refunds_finish_as says (SUCCESS, or ABNORMAL when the payer's account was closed)."""
        wanted = request.match_info["out_refund_no"]
        record = next((t.refunds[wanted] for t in self.trades.values() if wanted in t.refunds), None)
        if record is None:
            return self._error(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        if record["status"] == "PROCESSING":
            record["status"] = self.refunds_finish_as
            if self.refunds_finish_as == "SUCCESS":
                record["success_time"] = _now_text()
        return self._answer(200, record)

    # -- the payer's side, and notices -------------------------------------------------------------------

    async def pay(
        self, out_trade_no: str, *, notify: bool = True, amount: int | None = None, force: bool = False
    ) -> tuple[int, str] | None:
        """The payer scans and pays; then WeChat Pay notifies daifu (once: no retries here).

        amount: the payer was charged this instead (a trade that does not match its order).
        force: pay a closed trade anyway (a payment that completed as the order was being closed).
        Returns daifu's answer to the notice, if one was sent.
        """
        trade = self.trades[out_trade_no]
        assert force or trade.state == "NOTPAY", f"trade {out_trade_no} is {trade.state}"
        trade.state = "SUCCESS"
        trade.total = trade.total if amount is None else amount
        trade.transaction_id = f"4200{secrets.randbelow(10**24):024d}"
        trade.success_time = _now_text()
        if not notify:
            return None
        return await self.deliver(*self.notice(out_trade_no), url=trade.notify_url)

    def notice(
        self,
        out_trade_no: str,
        *,
        key: rsa.RSAPrivateKey | None = None,
        timestamp: int | None = None,
        signature: str | None = None,
        apiv3_key: str | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """The TRANSACTION.SUCCESS notice for a paid trade: headers and body, ready to POST.

        key signs it (an intruder's key forges it), timestamp dates it (an old one makes it stale),
        signature replaces the signature (a probe), apiv3_key encrypts it (a wrong one garbles it).
        """
        trade = self.trades[out_trade_no]
        plaintext = json.dumps(trade.transaction(), ensure_ascii=False, separators=(",", ":"))
        nonce = secrets.token_urlsafe(9)[:12]
        ciphertext = AESGCM((apiv3_key or self.keys.apiv3_key).encode()).encrypt(
            nonce.encode(), plaintext.encode(), b"transaction"
        )
        notice = {
            "id": trade.notice_id,
            "create_time": _now_text(),
            "resource_type": "encrypt-resource",
            "event_type": "TRANSACTION.SUCCESS",
            "summary": "支付成功",
            "resource": {
                "original_type": "transaction",
                "algorithm": "AEAD_AES_256_GCM",
                "ciphertext": base64.b64encode(ciphertext).decode(),
                "associated_data": "transaction",
                "nonce": nonce,
            },
        }
        body = json.dumps(notice, ensure_ascii=False, separators=(",", ":"))
        headers = self.signature_headers(body, key=key, timestamp=timestamp, signature=signature)
        return {"Content-Type": "application/json", **headers}, body.encode()

    def forged_notice(self, out_trade_no: str) -> tuple[dict[str, str], bytes]:
        return self.notice(out_trade_no, key=intruder().private_key)

    def probe_notice(self, out_trade_no: str) -> tuple[dict[str, str], bytes]:
        probe = "WECHATPAY/SIGNTEST/" + base64.b64encode(secrets.token_bytes(256)).decode()
        return self.notice(out_trade_no, signature=probe)

    def stale_notice(self, out_trade_no: str) -> tuple[dict[str, str], bytes]:
        return self.notice(out_trade_no, timestamp=int(time.time()) - 3600)

    def paid_stranger(self, notify_url: str, total: int) -> str:
        """A paid trade daifu never ordered (someone else's out_trade_no, same merchant); its out_trade_no."""
        out_trade_no = secrets.token_hex(8)
        self.trades[out_trade_no] = Trade(
            out_trade_no=out_trade_no,
            appid=self.keys.appid,
            mchid=self.keys.mchid,
            description="not from daifu",
            total=total,
            currency="CNY",
            notify_url=notify_url,
            time_expire="",
            code_url="weixin://wxpay/bizpayurl?pr=stranger",
            state="SUCCESS",
            transaction_id=f"4200{secrets.randbelow(10**24):024d}",
            success_time=_now_text(),
        )
        return out_trade_no

    async def deliver(self, headers: dict[str, str], body: bytes, *, url: str) -> tuple[int, str]:
        """POST a notice to daifu's notify URL; daifu's status and body."""
        async with aiohttp.ClientSession() as client, client.post(url, data=body, headers=headers) as answer:
            return answer.status, await answer.text()
