"""An in-process Stripe, on loopback, for the parts of the API daifu's Stripe adapter uses.

It behaves as Stripe documents wherever the adapter could notice: form-encoded requests in Stripe's
bracket syntax, Bearer authentication, Stripe's error JSON, idempotency keys (the same key with the same
parameters replays the first answer, with others it is an idempotency_error), the expires_at window of
Checkout Sessions, refunds bounded by what is left of a PaymentIntent (a refund naming no amount gives back
what is left), refunds answered pending, requires_action, succeeded or failed (refund_status) and finished
later with finish_refund() (which sends refund.updated, as Stripe does), refunds listed by PaymentIntent,
refunds made in the Dashboard (dashboard_refund()), idempotency keys forgotten after idempotency_window
seconds, and webhooks signed with the library's own signer. Tests drive the payer's side with pay(),
expire() and send_event().
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import stripe
from aiohttp import web

API_VERSION = stripe.api_version
MIN_EXPIRY = 30 * 60
MAX_EXPIRY = 24 * 60 * 60
_KEY_PART = re.compile(r"\[([^\]]*)\]")


class StripeFailure(Exception):
    """Answered as Stripe's error object: {"error": {"type", "code", "message", "param"}}."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        error = {"type": kind, "message": message, "code": code, "param": param}
        self.body = {"error": {key: value for key, value in error.items() if value is not None}}


def parse_form(body: str) -> dict[str, Any]:
    """Stripe's form encoding: a[b][0][c]=v becomes {"a": {"b": [{"c": "v"}]}}."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        head = key.split("[", 1)[0]
        path = [head, *_KEY_PART.findall(key[len(head) :])]
        node = root
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    """Dictionaries keyed 0, 1, 2... are the encoding of lists."""
    if not isinstance(node, dict):
        return node
    items = {key: _lists(value) for key, value in node.items()}
    if items and all(key.isdigit() for key in items):
        return [items[key] for key in sorted(items, key=int)]
    return items


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _integer(value: Any, param: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StripeFailure(400, f"Invalid integer: {value}", param=param) from None


@dataclass
class Recorded:
    """A request as the fake received it, for tests to check what the adapter sent."""

    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str | None


@dataclass
class FakeStripe:
    api_key: str
    webhook_secret: str
    notify_url: str | None = None  # where webhooks go (daifu's /notify/stripe)
    avoid_port: int | None = None  # daifu's port, chosen before daifu starts
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    payment_intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    deliveries: list[tuple[str, int]] = field(default_factory=list)  # (event type, daifu's HTTP status)
    # When set, a refund is made but its answer held back until the event is set: the caller may be gone by then.
    refund_answers_held: asyncio.Event | None = None
    # The status a new refund is answered with: succeeded, or pending / requires_action (finished later with
    # finish_refund), or failed (Stripe answers a refund it could not make at once with status failed).
    refund_status: str = "succeeded"
    refund_failure_reason: str = "expired_or_canceled_card"
    # Stripe keeps an idempotency key for (at least) 24 hours; after that the same key makes a new request.
    idempotency_window: float = 24 * 60 * 60

    def __post_init__(self) -> None:
        self._idempotent: dict[str, tuple[str, dict[str, Any], int, dict[str, Any], float]] = {}
        self._intent_metadata: dict[str, dict[str, str]] = {}  # per session, for the PaymentIntent to come
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._background: set[asyncio.Task[int]] = set()
        self.url = ""

    # -- life -------------------------------------------------------------------------------------------

    async def __aenter__(self) -> FakeStripe:
        app = web.Application(middlewares=[self._errors])
        app.add_routes(
            [
                web.post("/v1/checkout/sessions", self._create_session),
                web.get("/v1/checkout/sessions/{id}", self._retrieve_session),
                web.post("/v1/checkout/sessions/{id}/expire", self._expire_session),
                web.post("/v1/refunds", self._create_refund),
                web.get("/v1/refunds", self._list_refunds),
                web.get("/v1/refunds/{id}", self._retrieve_refund),
                web.get("/c/pay/{id}", self._hosted_page),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port = self.avoid_port
        while port == self.avoid_port:
            # A free port of the system's choosing, but not the one already promised to daifu's web server.
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            port = self._runner.addresses[-1][1]
            if port == self.avoid_port:
                await site.stop()
        self.url = f"http://127.0.0.1:{port}"
        self._client = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.settle()
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def settle(self) -> None:
        """Wait for the webhooks Stripe sends on its own (after an API call) to be delivered."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    # -- the API ----------------------------------------------------------------------------------------

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            if request.path.startswith("/v1/"):
                self._authenticate(request)
            return await handler(request)
        except StripeFailure as failure:
            return web.json_response(failure.body, status=failure.status)

    def _authenticate(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise StripeFailure(401, "You did not provide an API key.")
        if header.removeprefix("Bearer ") != self.api_key:
            shown = header.removeprefix("Bearer ")[-4:]
            raise StripeFailure(401, f"Invalid API Key provided: sk_test_********{shown}")

    async def _record(self, request: web.Request) -> Recorded:
        params = parse_form(await request.text()) if request.method == "POST" else dict(request.query)
        if request.method == "POST" and request.content_type != "application/x-www-form-urlencoded":
            raise StripeFailure(400, "Invalid request: expected a form-encoded body")
        recorded = Recorded(request.method, request.path, params, request.headers.get("Idempotency-Key"))
        self.requests.append(recorded)
        return recorded

    async def _idempotently(self, recorded: Recorded, act: Any) -> web.Response:
        """Stripe keeps the first answer to a key and replays it; other parameters under it are an error."""
        key = recorded.idempotency_key
        if key and key in self._idempotent and time.monotonic() - self._idempotent[key][4] > self.idempotency_window:
            del self._idempotent[key]  # forgotten: the same key now makes a new request
        if key and key in self._idempotent:
            path, params, status, body, _at = self._idempotent[key]
            if (path, params) != (recorded.path, recorded.params):
                raise StripeFailure(
                    400,
                    f"Keys for idempotent requests can only be used with the same parameters they were first "
                    f"used with. Try using a key other than '{key}' if you meant to execute a different request.",
                    kind="idempotency_error",
                )
            return web.json_response(body, status=status, headers={"Idempotent-Replayed": "true"})
        body = act(recorded.params)
        if key:
            self._idempotent[key] = (recorded.path, recorded.params, 200, body, time.monotonic())
        return web.json_response(body)

    async def _create_session(self, request: web.Request) -> web.Response:
        return await self._idempotently(await self._record(request), self._new_session)

    def _new_session(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("mode") != "payment":
            raise StripeFailure(400, "Missing or unsupported mode", param="mode")
        items = params.get("line_items")
        if not isinstance(items, list) or not items:
            raise StripeFailure(400, "line_items is required in payment mode", param="line_items")
        total, currency = 0, None
        for index, item in enumerate(items):
            price = item.get("price_data") or {}
            amount = _integer(price.get("unit_amount"), f"line_items[{index}][price_data][unit_amount]")
            currency = price.get("currency", "")
            if not re.fullmatch(r"[a-z]{3}", currency):
                raise StripeFailure(400, f"Invalid currency: {currency}", param="currency")
            if not (price.get("product_data") or {}).get("name"):
                raise StripeFailure(400, "Missing required param: product_data[name].", param="product_data")
            total += amount * _integer(item.get("quantity", 1), f"line_items[{index}][quantity]")
        self._check_expiry(params)
        session_id = _new_id("cs_test")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": total,
            "amount_total": total,
            "currency": currency,
            "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata") or {},
            "mode": "payment",
            "payment_intent": None,  # made when the payer confirms (API versions since 2022-08-01)
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params.get("success_url"),
            "cancel_url": params.get("cancel_url"),
            "created": int(time.time()),
            "expires_at": int(params.get("expires_at") or time.time() + MAX_EXPIRY),
            "livemode": False,
            "customer_details": None,
            "url": f"{self.url}/c/pay/{session_id}",
        }
        self.sessions[session_id] = session
        self._intent_metadata[session_id] = (params.get("payment_intent_data") or {}).get("metadata") or {}
        return session

    @staticmethod
    def _check_expiry(params: dict[str, Any]) -> None:
        if "expires_at" not in params:
            return
        ahead = _integer(params["expires_at"], "expires_at") - time.time()
        if ahead < MIN_EXPIRY:
            raise StripeFailure(
                400, "The `expires_at` timestamp must be at least 30 minutes from now.", param="expires_at"
            )
        if ahead > MAX_EXPIRY:
            raise StripeFailure(
                400, "The `expires_at` timestamp must be less than 24 hours from now.", param="expires_at"
            )

    def _session(self, session_id: str) -> dict[str, Any]:
        if session_id not in self.sessions:
            raise StripeFailure(
                404, f"No such checkout.session: '{session_id}'", code="resource_missing", param="session"
            )
        return self.sessions[session_id]

    async def _retrieve_session(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.json_response(self._session(request.match_info["id"]))

    async def _expire_session(self, request: web.Request) -> web.Response:
        recorded = await self._record(request)
        session_id = request.match_info["id"]
        return await self._idempotently(recorded, lambda _params: self._expire_by_api(session_id))

    def _expire_by_api(self, session_id: str) -> dict[str, Any]:
        session = self._session(session_id)
        if session["status"] != "open":
            raise StripeFailure(
                400,
                f'Only Checkout Sessions with a status in ["open"] can be expired. '
                f'This Checkout Session has a status of "{session["status"]}".',
            )
        self._mark_expired(session)
        # Stripe tells the webhook endpoint on its own, a moment after answering.
        self._in_background(self.event("checkout.session.expired", session))
        return session

    async def _create_refund(self, request: web.Request) -> web.Response:
        answer = await self._idempotently(await self._record(request), self._new_refund)
        if self.refund_answers_held is not None:
            await self.refund_answers_held.wait()
        return answer

    def _new_refund(self, params: dict[str, Any]) -> dict[str, Any]:
        intent = self.payment_intents.get(params.get("payment_intent", ""))
        if intent is None:
            raise StripeFailure(
                404,
                f"No such payment_intent: '{params.get('payment_intent')}'",
                code="resource_missing",
                param="payment_intent",
            )
        left = intent["amount"] - intent["amount_refunded"]
        if left <= 0:
            raise StripeFailure(
                400, f"Charge {intent['latest_charge']} has already been refunded.", code="charge_already_refunded"
            )
        amount = _integer(params["amount"], "amount") if "amount" in params else left
        if amount <= 0 or amount > left:
            raise StripeFailure(
                400,
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                code="amount_too_large",
                param="amount",
            )
        return self._refund(intent, amount, params.get("metadata") or {}, self.refund_status)

    def _refund(self, intent: dict[str, Any], amount: int, metadata: dict[str, Any], status: str) -> dict[str, Any]:
        # A failed refund gives nothing back; pending ones count against what is left, as at Stripe.
        if status != "failed":
            intent["amount_refunded"] += amount
        refund: dict[str, Any] = {
            "id": _new_id("re"),
            "object": "refund",
            "amount": amount,
            "currency": intent["currency"],
            "payment_intent": intent["id"],
            "charge": intent["latest_charge"],
            "metadata": metadata,
            "status": status,
            "failure_reason": self.refund_failure_reason if status == "failed" else None,
            "next_action": {"type": "display_details"} if status == "requires_action" else None,
            "created": int(time.time()),
        }
        self.refunds.append(refund)
        return json.loads(json.dumps(refund))  # the answer is a snapshot: finishing it later changes the record

    def _refund_by_id(self, refund_id: str) -> dict[str, Any]:
        found = next((refund for refund in self.refunds if refund["id"] == refund_id), None)
        if found is None:
            raise StripeFailure(404, f"No such refund: '{refund_id}'", code="resource_missing", param="id")
        return found

    async def _retrieve_refund(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.json_response(self._refund_by_id(request.match_info["id"]))

    async def _list_refunds(self, request: web.Request) -> web.Response:
        recorded = await self._record(request)
        intent = recorded.params.get("payment_intent")
        limit = _integer(recorded.params.get("limit", 10), "limit")
        if not 1 <= limit <= 100:
            raise StripeFailure(400, "This value must be between 1 and 100.", param="limit")
        found = [refund for refund in reversed(self.refunds) if intent is None or refund["payment_intent"] == intent]
        return web.json_response(
            {"object": "list", "url": "/v1/refunds", "has_more": len(found) > limit, "data": found[:limit]}
        )

    async def finish_refund(
        self, refund_id: str, status: str = "succeeded", *, failure_reason: str | None = None, notify: bool = True
    ) -> dict[str, Any]:
        """A pending refund finishes at Stripe; returns the refund.updated event (sent if notify)."""
        refund = self._refund_by_id(refund_id)
        if status == "failed" and refund["status"] != "failed":
            self.payment_intents[refund["payment_intent"]]["amount_refunded"] -= refund["amount"]
            refund["failure_reason"] = failure_reason or self.refund_failure_reason
        refund.update(status=status, next_action=None)
        event = self.event("refund.updated", refund)
        if notify:
            await self.send_event(event)
        return event

    def dashboard_refund(self, intent_id: str, amount: int) -> dict[str, Any]:
        """Someone refunds part of a payment in Stripe's Dashboard, outside daifu (no refund key of daifu's)."""
        intent = self.payment_intents[intent_id]
        if amount > intent["amount"] - intent["amount_refunded"]:
            raise AssertionError("more than is left to refund")
        return self._refund(intent, amount, {}, "succeeded")

    async def _hosted_page(self, request: web.Request) -> web.Response:
        session = self.sessions.get(request.match_info["id"])
        if session is None or session["status"] != "open":
            return web.Response(status=404, text="This Checkout Session is no longer active.")
        return web.Response(
            text=f"<h1>Stripe test checkout</h1><p>{session['amount_total']} {session['currency']}</p>",
            content_type="text/html",
        )

    # -- the payer's side, and the webhooks -------------------------------------------------------------

    async def pay(
        self,
        session_id: str,
        *,
        notify: bool = True,
        amount_total: int | None = None,
        currency: str | None = None,
        even_if_closed: bool = False,
    ) -> dict[str, Any]:
        """The payer pays on the hosted page; returns the checkout.session.completed event (sent if notify).

        amount_total/currency: charge something other than the session said (a notice daifu must refuse).
        even_if_closed: the payment went through just as the session was being expired.
        """
        session = self._session(session_id)
        if session["status"] != "open" and not even_if_closed:
            raise AssertionError(f"session {session_id} is {session['status']}: it cannot be paid")
        if amount_total is not None:
            session["amount_total"] = session["amount_subtotal"] = amount_total
        if currency is not None:
            session["currency"] = currency
        intent = {
            "id": _new_id("pi"),
            "object": "payment_intent",
            "amount": session["amount_total"],
            "amount_refunded": 0,
            "currency": session["currency"],
            "latest_charge": _new_id("ch"),
            "metadata": self._intent_metadata.get(session_id, {}),
            "status": "succeeded",
        }
        self.payment_intents[intent["id"]] = intent
        session.update(
            status="complete",
            payment_status="paid",
            payment_intent=intent["id"],
            customer_details={"email": "payer@example.com", "name": "Test Payer"},
            url=None,
        )
        event = self.event("checkout.session.completed", session)
        if notify:
            await self.send_event(event)
        return event

    async def expire(self, session_id: str, *, notify: bool = True) -> dict[str, Any]:
        """The session runs out (Stripe's own clock); returns the checkout.session.expired event."""
        session = self._session(session_id)
        self._mark_expired(session)
        event = self.event("checkout.session.expired", session)
        if notify:
            await self.send_event(event)
        return event

    @staticmethod
    def _mark_expired(session: dict[str, Any]) -> None:
        session.update(status="expired", url=None)

    @staticmethod
    def event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        """An event as Stripe sends it: a snapshot of the object at the time."""
        return {
            "id": _new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "data": {"object": json.loads(json.dumps(obj))},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
        }

    def signed(
        self, event: dict[str, Any], *, timestamp: int | None = None, secret: str | None = None
    ) -> tuple[dict[str, str], bytes]:
        """Headers and body as Stripe POSTs them, signed by the library's own signer."""
        payload = json.dumps(event, indent=2)
        header = stripe.WebhookSignature.generate_signature_header(
            payload, secret or self.webhook_secret, timestamp or int(time.time())
        )
        return {"Content-Type": "application/json; charset=utf-8", "Stripe-Signature": header}, payload.encode()

    async def send_event(
        self,
        event: dict[str, Any],
        *,
        timestamp: int | None = None,
        secret: str | None = None,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> int:
        """POST an event to daifu; override the timestamp, secret, headers or body to forge or age it."""
        assert self.notify_url is not None and self._client is not None
        signed_headers, signed_body = self.signed(event, timestamp=timestamp, secret=secret)
        async with self._client.post(
            self.notify_url,
            data=body if body is not None else signed_body,
            headers=headers if headers is not None else signed_headers,
        ) as answer:
            await answer.read()
            self.deliveries.append((event["type"], answer.status))
            return answer.status

    def _in_background(self, event: dict[str, Any]) -> None:
        if self.notify_url is None:
            return
        task = asyncio.get_running_loop().create_task(self.send_event(event))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
