"""An in-process Alipay openapi gateway for the tests, on a free loopback port.

It answers alipay.trade.precreate, .query, .close, .cancel and .refund with the documented shapes
(`{"<method>_response": {...}, "sign": "..."}`, signed RSA2 over the exact JSON of the inner object),
checks the app's RSA2 request signatures and Beijing-time timestamps, holds out_trade_no to Alipay's rule
(refusing any other with ACQ.INVALID_PARAMETER, as Alipay does), keeps trades in memory (a precreated
trade does not exist until it is scanned, as at Alipay), and sends form-encoded asynchronous notices signed
with Alipay's key. The test side scans, pays, and sends forged or otherwise bad notices.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.providers.provider_keys import AlipayKeys, alipay_keys, intruder

CHINA = timezone(timedelta(hours=8))
AMOUNT = re.compile(r"^\d{1,9}(\.\d{1,2})?$")
TIMESTAMP_TOLERANCE = timedelta(minutes=10)
# "商户订单号,64个字符以内、只能包含字母、数字、下划线" (https://docs.open.alipay.com/api_1/alipay.trade.precreate):
# at most 64 characters, ASCII letters, digits and "_" only. Any other is answered as Alipay answers an invalid
# parameter: a business failure, 40004 "Business Failed", sub_code ACQ.INVALID_PARAMETER, sub_msg "参数无效".
OUT_TRADE_NO = re.compile(r"[A-Za-z0-9_]{1,64}")


def _sign(key: rsa.RSAPrivateKey, message: str) -> str:
    return base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def _fen(text: str) -> int:
    whole, _, part = text.partition(".")
    return int(whole) * 100 + int((part + "00")[:2])


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _beijing_now() -> str:
    return datetime.now(CHINA).strftime("%Y-%m-%d %H:%M:%S")


def _content(params: dict[str, str]) -> str:
    """What RSA2 signs: the non-empty parameters, sorted, as k=v joined with &."""
    return "&".join(f"{key}={value}" for key, value in sorted(params.items()) if value != "")


@dataclass
class Trade:
    out_trade_no: str
    total: int
    subject: str
    notify_url: str
    seller_id: str
    qr_code: str
    # CREATED: precreated, not scanned, unknown to query/close. Then WAIT_BUYER_PAY, TRADE_SUCCESS, TRADE_CLOSED.
    state: str = "CREATED"
    trade_no: str | None = None
    gmt_payment: str | None = None
    notify_id: str = field(default_factory=lambda: secrets.token_hex(17))  # the same for every delivery
    refunds: dict[str, int] = field(default_factory=dict)  # by out_request_no

    @property
    def refunded(self) -> int:
        return sum(self.refunds.values())


class FakeAlipay:
    def __init__(self, keys: AlipayKeys | None = None) -> None:
        self.keys = keys or alipay_keys()
        self.trades: dict[str, Trade] = {}
        self.calls: list[str] = []  # the methods called with a valid signature
        self.refused: list[str] = []  # why calls were refused
        self.answer_key = self.keys.alipay.private_key  # a test may swap it to forge Alipay's answers
        self.gateway = ""
        self._runner: web.AppRunner | None = None

    # -- running ---------------------------------------------------------------------------------------

    async def __aenter__(self) -> FakeAlipay:
        app = web.Application()
        app.add_routes([web.post("/gateway.do", self._gateway), web.get("/gateway.do", self._gateway)])
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.gateway = f"http://{host}:{port}/gateway.do"
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def settings(self) -> dict[str, Any]:
        """daifu's settings for a shop that uses this Alipay."""
        return self.keys.settings(self.gateway)

    def latest(self) -> Trade:
        return list(self.trades.values())[-1]

    # -- the app's side: requests ----------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.Response:
        params = dict(request.query) | {key: str(value) for key, value in (await request.post()).items()}
        method = params.get("method", "")
        problem = self._request_problem(params)
        if problem:
            self.refused.append(problem)
            return self._answer(method, {"code": "40002", "msg": "Invalid Arguments", "sub_code": problem})
        self.calls.append(method)
        handler = {
            "alipay.trade.precreate": self._precreate,
            "alipay.trade.query": self._query,
            "alipay.trade.close": self._close,
            "alipay.trade.cancel": self._cancel,
            "alipay.trade.refund": self._refund,
        }.get(method)
        if handler is None:
            return self._answer(method, {"code": "40004", "msg": "Business Failed", "sub_code": "isv.invalid-method"})
        biz = json.loads(params.get("biz_content", "{}"))
        out_trade_no = biz.get("out_trade_no")
        if out_trade_no not in (None, "") and not (
            isinstance(out_trade_no, str) and OUT_TRADE_NO.fullmatch(out_trade_no)
        ):
            self.refused.append(f"{method}: out_trade_no {out_trade_no!r} breaks Alipay's rule")
            return self._answer(method, self._failed("ACQ.INVALID_PARAMETER", "参数无效"))
        return self._answer(method, handler(params, biz))

    def _request_problem(self, params: dict[str, str]) -> str | None:
        if params.get("app_id") != self.keys.app_id:
            return "isv.invalid-app-id"
        if params.get("sign_type") != "RSA2" or params.get("charset", "").lower() != "utf-8":
            return "isv.invalid-signature-type"
        try:
            sent = datetime.strptime(params.get("timestamp", ""), "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA)
        except ValueError:
            return "isv.invalid-timestamp"
        if abs(datetime.now(CHINA) - sent) > TIMESTAMP_TOLERANCE:
            return "isv.invalid-timestamp"
        unsigned = {key: value for key, value in params.items() if key != "sign"}
        try:
            self.keys.app.public_key.verify(
                base64.b64decode(params.get("sign", "")),
                _content(unsigned).encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except (InvalidSignature, ValueError):
            return "isv.invalid-signature"
        return None

    def _answer(self, method: str, content: dict[str, Any]) -> web.Response:
        inner = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
        name = method.replace(".", "_") + "_response" if method else "error_response"
        text = f'{{"{name}":{inner},"sign":"{_sign(self.answer_key, inner)}"}}'
        return web.Response(text=text, content_type="application/json", charset="utf-8")

    @staticmethod
    def _failed(sub_code: str, sub_msg: str) -> dict[str, Any]:
        return {"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_msg}

    def _existing(self, biz: dict[str, Any]) -> Trade | None:
        """The trade a request names, if Alipay knows it (a precreated trade is known once scanned)."""
        if "trade_no" in biz:
            trade = next((t for t in self.trades.values() if t.trade_no == biz["trade_no"]), None)
        else:
            trade = self.trades.get(biz.get("out_trade_no", ""))
        return None if trade is None or trade.state == "CREATED" else trade

    def _precreate(self, params: dict[str, str], biz: dict[str, Any]) -> dict[str, Any]:
        out_trade_no, total = biz.get("out_trade_no", ""), str(biz.get("total_amount", ""))
        if not out_trade_no or not biz.get("subject") or not AMOUNT.match(total) or _fen(total) <= 0:
            return {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.missing-or-invalid-parameter"}
        if biz.get("seller_id", self.keys.seller_id) != self.keys.seller_id:
            return self._failed("ACQ.INVALID_PARAMETER", "卖家不存在")
        if "time_expire" in biz and biz["time_expire"] <= _beijing_now():
            return self._failed("ACQ.INVALID_PARAMETER", "time_expire 已过期")
        trade = self.trades.get(out_trade_no)
        if trade is None:
            trade = Trade(
                out_trade_no=out_trade_no,
                total=_fen(total),
                subject=biz["subject"],
                notify_url=params.get("notify_url", ""),
                seller_id=self.keys.seller_id,
                qr_code=f"https://qr.alipay.com/bax0{secrets.token_hex(10)}",
            )
            self.trades[out_trade_no] = trade
        elif trade.state == "TRADE_SUCCESS":
            return self._failed("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
        elif trade.state == "TRADE_CLOSED":
            return self._failed("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
        elif trade.total != _fen(total):
            return self._failed("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
        return {"code": "10000", "msg": "Success", "out_trade_no": out_trade_no, "qr_code": trade.qr_code}

    def _query(self, params: dict[str, str], biz: dict[str, Any]) -> dict[str, Any]:
        trade = self._existing(biz)
        if trade is None:
            return self._failed("ACQ.TRADE_NOT_EXIST", "交易不存在")
        answer = {
            "code": "10000",
            "msg": "Success",
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "buyer_logon_id": "fak***@sandbox.com",
            "trade_status": trade.state,
            "total_amount": _yuan(trade.total),
        }
        if trade.gmt_payment:
            answer |= {"send_pay_date": trade.gmt_payment, "buyer_pay_amount": _yuan(trade.total)}
        return answer

    def _close(self, params: dict[str, str], biz: dict[str, Any]) -> dict[str, Any]:
        trade = self._existing(biz)
        if trade is None:
            return self._failed("ACQ.TRADE_NOT_EXIST", "交易不存在")
        if trade.state != "WAIT_BUYER_PAY":
            return self._failed("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        trade.state = "TRADE_CLOSED"
        return {"code": "10000", "msg": "Success", "trade_no": trade.trade_no, "out_trade_no": trade.out_trade_no}

    def _cancel(self, params: dict[str, str], biz: dict[str, Any]) -> dict[str, Any]:
        # Unlike close, cancel reaches a precreated trade nobody scanned: it is closed before it exists.
        trade = self.trades.get(biz.get("out_trade_no", ""))
        if trade is None:
            return self._failed("ACQ.TRADE_NOT_EXIST", "交易不存在")
        action = "close"
        if trade.state == "TRADE_SUCCESS":
            trade.refunds["cancel"] = trade.total - trade.refunded
            action = "refund"
        trade.state = "TRADE_CLOSED"
        trade.trade_no = trade.trade_no or self._trade_no()
        return {
            "code": "10000",
            "msg": "Success",
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "retry_flag": "N",
            "action": action,
        }

    def _refund(self, params: dict[str, str], biz: dict[str, Any]) -> dict[str, Any]:
        trade = self._existing(biz)
        amount = str(biz.get("refund_amount", ""))
        if trade is None:
            return self._failed("ACQ.TRADE_NOT_EXIST", "交易不存在")
        request_no = str(biz.get("out_request_no") or trade.out_trade_no)
        fund_change = "N"
        if request_no not in trade.refunds:  # a repeated out_request_no is the same refund, not a second one
            if trade.state != "TRADE_SUCCESS":
                return self._failed("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
            if not AMOUNT.match(amount) or not 0 < _fen(amount) <= trade.total - trade.refunded:
                return self._failed("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
            trade.refunds[request_no] = _fen(amount)
            fund_change = "Y"
            if trade.refunded == trade.total:
                trade.state = "TRADE_CLOSED"
        return {
            "code": "10000",
            "msg": "Success",
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "buyer_logon_id": "fak***@sandbox.com",
            "fund_change": fund_change,
            "refund_fee": _yuan(trade.refunded),
            "gmt_refund_pay": _beijing_now(),
        }

    @staticmethod
    def _trade_no() -> str:
        return datetime.now(CHINA).strftime("%Y%m%d") + f"22001{secrets.randbelow(10**15):015d}"

    # -- the payer's side, and notices -------------------------------------------------------------------

    def scan(self, out_trade_no: str) -> Trade:
        """The payer scans the code: now the trade exists at Alipay, waiting for payment."""
        trade = self.trades[out_trade_no]
        if trade.state == "CREATED":
            trade.state, trade.trade_no = "WAIT_BUYER_PAY", self._trade_no()
        return trade

    async def pay(
        self, out_trade_no: str, *, notify: bool = True, amount: int | None = None, force: bool = False
    ) -> tuple[int, str] | None:
        """The payer scans and pays; then Alipay notifies daifu (once: no retries here).

        amount: the payer was charged this instead (a trade that does not match its order).
        force: pay a closed trade anyway (a payment that completed as the order was being closed).
        Returns daifu's answer to the notice, if one was sent.
        """
        trade = self.scan(out_trade_no)
        assert force or trade.state == "WAIT_BUYER_PAY", f"trade {out_trade_no} is {trade.state}"
        trade.state, trade.gmt_payment = "TRADE_SUCCESS", _beijing_now()
        trade.trade_no = trade.trade_no or self._trade_no()
        trade.total = trade.total if amount is None else amount
        if not notify:
            return None
        return await self.deliver(self.notice(out_trade_no), url=trade.notify_url)

    def notice(self, out_trade_no: str, *, key: rsa.RSAPrivateKey | None = None, **overrides: str) -> bytes:
        """The asynchronous notice of a trade's state, form-encoded and signed; overrides change fields
        before signing (a notice Alipay signed, with content daifu must refuse)."""
        trade = self.trades[out_trade_no]
        total = _yuan(trade.total)
        fields = {
            "notify_time": _beijing_now(),
            "notify_type": "trade_status_sync",
            "notify_id": trade.notify_id,
            "charset": "utf-8",
            "version": "1.0",
            "sign_type": "RSA2",
            "app_id": self.keys.app_id,
            "auth_app_id": self.keys.app_id,
            "trade_no": trade.trade_no or "",
            "out_trade_no": trade.out_trade_no,
            "seller_id": trade.seller_id,
            "seller_email": "shop@example.com",
            "buyer_id": "2088102122524333",
            "buyer_logon_id": "fak***@sandbox.com",
            "trade_status": trade.state,
            "total_amount": total,
            "receipt_amount": total,
            "invoice_amount": total,
            "buyer_pay_amount": total,
            "point_amount": "0.00",
            "subject": trade.subject,
            "gmt_create": trade.gmt_payment or _beijing_now(),
            "gmt_payment": trade.gmt_payment or "",
            "fund_bill_list": json.dumps([{"amount": total, "fundChannel": "ALIPAYACCOUNT"}]),
        } | overrides
        fields = {name: value for name, value in fields.items() if value != ""}  # Alipay leaves out empty fields
        signed = {k: v for k, v in fields.items() if k not in ("sign", "sign_type")}
        fields["sign"] = _sign(key or self.keys.alipay.private_key, _content(signed))
        return urlencode(fields).encode()

    def forged_notice(self, out_trade_no: str) -> bytes:
        return self.notice(out_trade_no, key=intruder().private_key)

    def paid_stranger(self, notify_url: str, total: int) -> str:
        """A paid trade daifu never precreated (someone else's out_trade_no, same app); its out_trade_no."""
        out_trade_no = secrets.token_hex(8)
        self.trades[out_trade_no] = Trade(
            out_trade_no=out_trade_no,
            total=total,
            subject="not from daifu",
            notify_url=notify_url,
            seller_id=self.keys.seller_id,
            qr_code="https://qr.alipay.com/stranger",
            state="TRADE_SUCCESS",
            trade_no=self._trade_no(),
            gmt_payment=_beijing_now(),
        )
        return out_trade_no

    async def deliver(self, body: bytes, *, url: str) -> tuple[int, str]:
        """POST a notice to daifu's notify URL as Alipay does; daifu's status and body."""
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        async with aiohttp.ClientSession() as client, client.post(url, data=body, headers=headers) as answer:
            return answer.status, await answer.text()
