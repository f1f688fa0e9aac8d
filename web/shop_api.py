"""The shop HTTP API under /api/v1: JSON in and out, a Bearer API key per shop.

A thin layer: it authenticates, caps and parses bodies, and renders orders; the services.shop_order_* modules decide.
Every error is `{"error": {"code": ..., "message": ...}}` with a stable code (docs/shop-api.md, and the OpenAPI
document at /api/v1/openapi.json).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from services.daifu import Daifu
from services.links import deep_link
from services.notices import PaymentReturned
from services.read_models import OrderStatus, ShopInfo
from services.shop_order_closing import RefundOutcome
from services.shop_order_errors import IDEMPOTENCY_KEY_MAX, Problem, ShopOrderError
from services.shop_order_intake import OrderRequest, request_hash
from services.shop_order_views import ShopOrder
from web import shop_schemas as schemas
from web.json_input import BadJson, JsonTooDeep, read_json
from web.openapi import PAGE_DEFAULT, openapi_document
from web.rate_limit import RATE_LIMITER, retry_after

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
MAX_BODY_BYTES = 16 * 1024  # an order is a few hundred bytes; anything near this is a mistake or an attack
STATUS_OF = {
    Problem.BAD_REQUEST: 400,
    Problem.INVALID_AMOUNT: 400,
    Problem.UNKNOWN_CURRENCY: 400,
    Problem.NO_PAYMENT_METHOD: 400,
    Problem.NOT_FOUND: 404,
    Problem.CONFLICT: 409,
    Problem.IDEMPOTENCY_CONFLICT: 409,
    Problem.IN_PROGRESS: 409,
    Problem.NOT_REFUNDABLE: 409,
    Problem.PROVIDER_ERROR: 502,
}
# Which error code a badly typed field earns; any other field is a plain bad_request.
FIELD_PROBLEM = {"amount_minor": Problem.INVALID_AMOUNT, "currency": Problem.UNKNOWN_CURRENCY}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str) -> web.Response:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    body = schemas.Error(error=schemas.ErrorDetail.model_validate({"code": code, "message": message}))
    return web.json_response(body.model_dump(mode="json"), status=status, headers=headers)


def _printable_ascii(value: str) -> bool:
    return value.isascii() and value.isprintable()


def _validation_problem(error: ValidationError) -> ApiError:
    first = error.errors(include_input=False, include_url=False)[0]
    location = [str(part) for part in first["loc"]]
    name = location[0] if location else ""
    if first["type"] == "extra_forbidden":
        message = f"unknown field {name!r}"
    elif first["type"] == "missing":
        message = f"{name} is required"
    elif first["type"] == "json_invalid" or not name:
        message = "the body must be a JSON object"
    elif first["type"] == "string_pattern_mismatch":
        words = schemas.PATTERN_WORDS.get(first["ctx"]["pattern"], first["msg"])
        message = f"{'.'.join(location)}: {words}"
    else:
        message = f"{'.'.join(location)}: {first['msg']}"
    return ApiError(400, FIELD_PROBLEM.get(name, Problem.BAD_REQUEST).value, message)


async def _read_body(request: web.Request) -> bytes:
    """The raw body, refused with 413 past MAX_BODY_BYTES whatever the Content-Length claims."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise ApiError(413, "too_large", f"the body must be at most {MAX_BODY_BYTES} bytes")
    body = bytearray()
    while chunk := await request.content.read(MAX_BODY_BYTES + 1 - len(body)):
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, "too_large", f"the body must be at most {MAX_BODY_BYTES} bytes")
    return bytes(body)


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        data = read_json(raw)
    except JsonTooDeep as error:
        raise ApiError(400, "bad_request", str(error)) from None
    except BadJson:
        raise ApiError(400, "bad_request", "the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_request", "the body must be a JSON object")
    return data


def _order_id(request: web.Request) -> int:
    text = request.match_info["id"]
    # Not a number is as unknown as a number nobody has: 404 either way, so ids reveal nothing.
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        raise ApiError(404, "not_found", "no such order")
    return int(text)


LIST_QUERY = frozenset({"status", "limit", "cursor"})
Handler = Callable[[web.Request, ShopInfo], Awaitable[web.Response]]


class ShopApi:
    def __init__(self, daifu: Daifu, bot_username: Callable[[], str]) -> None:
        self.daifu = daifu
        self.bot_username = bot_username
        self.orders = daifu.shop_order_views
        self.document = openapi_document(daifu.rules.public_base_url, list(daifu.providers))

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{PREFIX}/openapi.json", self.openapi),
            web.post(f"{PREFIX}/orders", self._api(self.create)),
            web.get(f"{PREFIX}/orders", self._api(self.list_orders, query=LIST_QUERY)),
            web.get(f"{PREFIX}/orders/{{id}}", self._api(self.read)),
            web.post(f"{PREFIX}/orders/{{id}}/cancel", self._api(self.cancel)),
            web.post(f"{PREFIX}/orders/{{id}}/refunds", self._api(self.refund)),
        ]

    def _api(
        self, handler: Handler, *, query: frozenset[str] = frozenset()
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        """Authenticate, then run the handler; refusals become JSON errors with their stable code."""

        async def endpoint(request: web.Request) -> web.Response:
            limiter = request.app.get(RATE_LIMITER)
            try:
                try:
                    shop = await self._shop(request)
                except ApiError:
                    if limiter is not None:
                        limiter.key_refused(request)
                    raise
                waiting = limiter.take_for_key(shop.id) if limiter is not None else 0
                if waiting:
                    answer = error_response(429, "too_many_requests", "this API key made too many calls; slow down")
                    answer.headers["Retry-After"] = retry_after(waiting)
                    return answer
                unknown = sorted(set(request.query) - query)
                if unknown:  # a misspelt filter must not silently list everything
                    raise ApiError(400, "bad_request", f"unknown query parameter {unknown[0]!r}")
                return await handler(request, shop)
            except ApiError as error:
                return error_response(error.status, error.code, error.message)
            except ShopOrderError as error:
                return error_response(STATUS_OF[error.problem], error.problem.value, error.message)
            except web.HTTPException:
                raise  # aiohttp's own answers, such as 408 for a body sent too slowly
            except Exception:
                log.exception("shop API %s %s failed", request.method, request.path)
                return error_response(500, "internal", "something went wrong on our side; it has been logged")

        return endpoint

    async def _shop(self, request: web.Request) -> ShopInfo:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key or not _printable_ascii(key):
            raise ApiError(401, "not_allowed", "send your API key as 'Authorization: Bearer <key>'")
        shop = await self.daifu.api_keys.shop_for(key)
        if shop is None:
            raise ApiError(401, "not_allowed", "this API key is unknown or revoked")
        return shop

    # -- endpoints -------------------------------------------------------------------------------------

    async def openapi(self, _request: web.Request) -> web.Response:
        return web.json_response(self.document)

    async def create(self, request: web.Request, shop: ShopInfo) -> web.Response:
        key = request.headers.get("Idempotency-Key", "").strip()
        if not 1 <= len(key) <= IDEMPOTENCY_KEY_MAX or not _printable_ascii(key):
            raise ApiError(400, "bad_request", "send an Idempotency-Key header: 1 to 255 printable ASCII characters")
        raw = await _read_body(request)
        fingerprint = request_hash(_json_object(raw))
        try:
            body = schemas.NewOrder.model_validate_json(raw)
        except ValidationError as error:
            raise _validation_problem(error) from None
        created = await self.daifu.shop_order_intake.create(
            shop.id,
            key,
            OrderRequest(**body.model_dump()),
            fingerprint,
        )
        if created.replayed:
            return web.json_response(self.render(created.order), headers={"Idempotent-Replayed": "true"})
        return web.json_response(self.render(created.order), status=201)

    async def read(self, request: web.Request, shop: ShopInfo) -> web.Response:
        return web.json_response(self.render(await self.orders.get(shop.id, _order_id(request))))

    async def list_orders(self, request: web.Request, shop: ShopInfo) -> web.Response:
        query = request.query
        status = query.get("status")
        if status is not None and status not in {known.value for known in OrderStatus}:
            raise ApiError(400, "bad_request", f"status must be one of: {', '.join(OrderStatus)}")
        limit_text = query.get("limit", str(PAGE_DEFAULT))
        if not (limit_text.isascii() and limit_text.isdigit()) or len(limit_text) > 3:
            raise ApiError(400, "bad_request", "limit must be a whole number from 1 to 100")
        page = await self.orders.page(
            shop.id,
            status=OrderStatus(status) if status is not None else None,
            limit=int(limit_text),
            cursor=query.get("cursor") or None,
        )
        listed = schemas.OrderList(
            orders=[self.order_answer(view) for view in page.orders], next_cursor=page.next_cursor
        )
        return web.json_response(listed.model_dump(mode="json"))

    async def cancel(self, request: web.Request, shop: ShopInfo) -> web.Response:
        view = await self.daifu.shop_order_closing.cancel(shop.id, _order_id(request))
        return web.json_response(self.render(view))

    async def refund(self, request: web.Request, shop: ShopInfo) -> web.Response:
        order_id = _order_id(request)
        raw = await _read_body(request)
        amount_minor = None
        if raw.strip():
            _json_object(raw)
            try:
                amount_minor = schemas.NewRefund.model_validate_json(raw).amount_minor
            except ValidationError as error:
                raise _validation_problem(error) from None
        # Optional here (a whole refund is safe to repeat: nothing is left the second time), but a part refund
        # retried after a time-out without one would give back the part twice.
        key = request.headers.get("Idempotency-Key", "").strip()
        if key:
            if len(key) > IDEMPOTENCY_KEY_MAX or not _printable_ascii(key):
                raise ApiError(400, "bad_request", "an Idempotency-Key is 1 to 255 printable ASCII characters")
            fingerprint = request_hash({"order": order_id, "amount_minor": amount_minor})
            earlier = await self.daifu.refund_keys.claim(shop.id, key, fingerprint)
            if earlier is not None:
                return web.json_response(text=earlier, status=201, headers={"Idempotent-Replayed": "true"})
        try:
            outcome = await self.daifu.shop_order_closing.refund(shop.id, order_id, amount_minor)
        except ShopOrderError:
            if key:
                await self.daifu.refund_keys.release(shop.id, key)
            raise
        answer = self.render_refund(outcome)
        if key:
            await self.daifu.refund_keys.keep_answer(shop.id, key, json.dumps(answer))
        return web.json_response(answer, status=201)

    # -- rendering: through the models the OpenAPI document's schemas come from ------------------------

    def render(self, view: ShopOrder) -> dict[str, Any]:
        return self.order_answer(view).model_dump(mode="json")

    def order_answer(self, view: ShopOrder) -> schemas.Order:
        order = view.order
        landing = self.daifu.rules.landing_url(order.token)
        return schemas.Order(
            id=order.id,
            token=order.token,
            status=view.status,
            title=order.title,
            description=order.description,
            external_id=order.external_id,
            amount_minor=order.amount_minor,
            currency=order.currency,
            amounts=schemas.Amounts(
                paid=[schemas.Amount(amount_minor=c.amount_minor, currency=c.currency) for c in view.charges],
                refunded=[
                    schemas.Amount(amount_minor=c.refunded_minor, currency=c.currency)
                    for c in view.charges
                    if c.refunded_minor
                ],
            ),
            allowed_methods=order.allowed_methods.split(",") if order.allowed_methods else None,
            payforme_allowed=order.payforme_allowed,
            callback_url=order.callback_url,
            created_at=order.created_at,
            expires_at=order.expires_at,
            paid_at=order.paid_at,
            deep_link=deep_link(self.bot_username(), order.token),
            landing_url=landing,
            qr_png_url=f"{landing}/qr.png",
            qr_svg_url=f"{landing}/qr.svg",
        )

    def render_refund(self, outcome: RefundOutcome) -> dict[str, Any]:
        return schemas.RefundResult(
            status="owed" if outcome.owed else "pending" if any(n.pending for n in outcome.returned) else "done",
            refunds=[self._refund(notice) for notice in outcome.returned],
            order=self.order_answer(outcome.order),
        ).model_dump(mode="json")

    @staticmethod
    def _refund(notice: PaymentReturned) -> schemas.Refund:
        return schemas.Refund(
            payment_id=notice.payment.id,
            provider=notice.payment.provider,
            amount_minor=notice.amount.minor,
            currency=notice.amount.currency,
            status="owed" if notice.owed else "pending" if notice.pending else "done",
        )
