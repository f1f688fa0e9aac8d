"""The OpenAPI 3.1 description of the shop API, served at /api/v1/openapi.json.

Every schema is generated from the pydantic models the API validates requests with and renders answers
through (web.shop_schemas), and the callback's from the read model the callback outbox writes
(services.callback_outbox), so the limits the document states are the ones the code applies. What is written
here is what no model says: the paths and their operations, the security scheme, the error answers and how a
callback is signed. tests/api/test_openapi.py runs schemathesis against the live server to keep it honest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode

from services.callback_delivery import GIVE_UP_AFTER, TIMEOUT_SECONDS
from services.callback_outbox import CallbackEvent
from services.shop_order_errors import IDEMPOTENCY_KEY_MAX
from services.shop_order_views import ORDER_ID_MAX, PAGE_MAX
from web.shop_schemas import ANSWERS, REQUESTS

PAGE_DEFAULT = 20
CURSOR_MAX = 512  # a cursor this API gives out is some forty characters
REF = "#/components/schemas/{model}"
SIGNATURE = (
    'Each callback carries `Daifu-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" with the'
    " shop's callback secret>`. Check it over the raw body, with a constant-time comparison, and refuse a `t`"
    " more than a few minutes old. Delivery is at least once: de-duplicate on `Daifu-Event-Id`."
)
# status: (the component's name, what it means)
ERRORS = {
    "400": ("BadRequest", "The request is not valid (see the error code); unknown query parameters too."),
    "401": ("Unauthorized", "Missing, unknown or revoked API key (not_allowed)."),
    "404": ("NotFound", "No such order for this shop."),
    "409": ("Conflict", "The order is not in a state that allows this."),
    "413": ("TooLarge", "The body is over 16 KiB."),
    # Every call counts against its API key's token bucket (API_RATE_PER_KEY, API_BURST_PER_KEY).
    "429": ("TooManyRequests", "Too many calls with this key (too_many_requests); wait Retry-After seconds."),
    "502": ("ProviderError", "The provider failed to refund (provider_error); nothing was given back."),
}
ALWAYS = ("401", "429")  # every operation needs a key, and every call is counted against it


class _Generator(GenerateJsonSchema):
    def field_title_should_be_set(self, schema: Any) -> bool:
        return False  # "Amount Minor" for amount_minor says nothing a client needs


def component_schemas(methods: Sequence[str]) -> dict[str, Any]:
    """Every schema of the document, generated from the models, with this server's payment methods."""
    inputs: list[tuple[str, JsonSchemaMode, TypeAdapter[Any]]] = [
        *((model.__name__, "validation", TypeAdapter(model)) for model in REQUESTS),
        *((model.__name__, "serialization", TypeAdapter(model)) for model in ANSWERS),
        ("CallbackEvent", "serialization", TypeAdapter(CallbackEvent)),
    ]
    _, generated = TypeAdapter.json_schemas(inputs, ref_template=REF, schema_generator=_Generator)
    schemas: dict[str, Any] = generated["$defs"]
    # Which methods there are is this server's setting (PAYMENT_PROVIDERS), not the model's: named here.
    listed = next(
        branch for branch in schemas["NewOrder"]["properties"]["allowed_methods"]["anyOf"] if "items" in branch
    )
    listed["items"]["enum"] = list(methods)
    return schemas


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _idempotency_key(required: bool, description: str) -> dict[str, Any]:
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": required,
        "description": description,
        "schema": {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX, "pattern": "^[!-~]+$"},
    }


ORDER_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": ORDER_ID_MAX},
}
LIST_QUERY = [
    {"name": "status", "in": "query", "schema": _ref("OrderStatus")},
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": PAGE_MAX, "default": PAGE_DEFAULT},
    },
    {"name": "cursor", "in": "query", "schema": {"type": "string", "maxLength": CURSOR_MAX}},
]


def _operation(
    operation_id: str,
    answers: dict[str, dict[str, Any]],
    errors: Sequence[str] = (),
    *,
    parameters: Sequence[dict[str, Any]] = (),
    body: str | None = None,
    body_required: bool = True,
) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": operation_id}
    if parameters:
        operation["parameters"] = list(parameters)
    if body is not None:
        operation["requestBody"] = {"required": body_required, "content": {"application/json": {"schema": _ref(body)}}}
    refs = {status: {"$ref": f"#/components/responses/{ERRORS[status][0]}"} for status in (*errors, *ALWAYS)}
    operation["responses"] = answers | dict(sorted(refs.items()))
    return operation


CALLBACKS = {
    "orderEvent": {
        "{$request.body#/callback_url}": {
            "post": {
                "summary": "The order was paid, refunded (in full or in part), cancelled or expired.",
                "description": SIGNATURE,
                "security": [],
                "parameters": [
                    {"name": "Daifu-Event-Id", "in": "header", "required": True, "schema": {"type": "string"}},
                    {
                        "name": "Daifu-Signature",
                        "in": "header",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^t=[0-9]+,v1=[0-9a-f]{64}$"},
                    },
                ],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("CallbackEvent")}}},
                "responses": {
                    "2XX": {
                        "description": (
                            f"Received. Anything else, or no answer within {TIMEOUT_SECONDS} s, is retried with"
                            f" growing waits for at least {GIVE_UP_AFTER.total_seconds() / 3600:g} hours."
                        )
                    }
                },
            }
        }
    }
}
PATHS = {
    "/api/v1/orders": {
        "post": _operation(
            "createOrder",
            {
                "201": _json("Order", "The order was created."),
                "200": {
                    **_json("Order", "This key already created this order (with the same body)."),
                    "headers": {"Idempotent-Replayed": {"schema": {"type": "string", "enum": ["true"]}}},
                },
            },
            ("400", "409", "413"),
            parameters=[_idempotency_key(True, "Retries with the same key and body return the same order.")],
            body="NewOrder",
        )
        | {"callbacks": CALLBACKS},
        "get": _operation(
            "listOrders",
            {"200": _json("OrderList", "The shop's orders, newest first.")},
            ("400",),
            parameters=LIST_QUERY,
        ),
    },
    "/api/v1/orders/{id}": {
        "get": _operation("getOrder", {"200": _json("Order", "The order.")}, ("400", "404"), parameters=[ORDER_ID]),
    },
    "/api/v1/orders/{id}/cancel": {
        "post": _operation(
            "cancelOrder", {"200": _json("Order", "The cancelled order.")}, ("400", "404", "409"), parameters=[ORDER_ID]
        ),
    },
    "/api/v1/orders/{id}/refunds": {
        "post": _operation(
            "refundOrder",
            {"201": _json("RefundResult", "What was given back (or is owed: card payments).")},
            ("400", "404", "409", "413", "502"),
            parameters=[
                ORDER_ID,
                _idempotency_key(
                    False,
                    "Retries with the same key and amount answer as the first time and give nothing back again"
                    " (the answer carries Idempotent-Replayed: true); 409 in_progress while the first is still at"
                    " the provider. Send one with every part refund.",
                ),
            ],
            body="NewRefund",
            body_required=False,
        ),
    },
}


def openapi_document(base_url: str, methods: Sequence[str]) -> dict[str, Any]:
    """The document for this server: its address and its enabled payment methods filled in."""
    responses = {name: _json("Error", description) for name, description in ERRORS.values()}
    responses["TooManyRequests"]["headers"] = {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "daifu shop API",
            "version": "1",
            "description": "Create orders that shoppers pay in Telegram (or ask friends to pay), and follow them.",
        },
        "servers": [{"url": base_url}],
        "security": [{"bearer": []}],
        "paths": PATHS,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "dfk_… API key"}},
            "schemas": component_schemas(methods),
            "responses": responses,
        },
    }
