"""The OpenAPI 3.0 description of the shop API, served at /api/v1/openapi.json.

Written by hand to say exactly what web.shop_api does; tests/api/test_openapi.py runs schemathesis
against the live server to keep the two in step. The limits come from the same constants the code uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.orders import DESCRIPTION_MAX, TITLE_MAX
from services.shop_orders import (
    CALLBACK_URL_MAX,
    EXTERNAL_ID_MAX,
    IDEMPOTENCY_KEY_MAX,
    MAX_TTL,
    MIN_TTL,
    ORDER_ID_MAX,
    PAGE_MAX,
    Problem,
)
from storage.models import OrderStatus

# Wider than any one currency allows (1,000,000 major units with up to 4 decimals); the exact bound per
# currency is checked by the service and answered with invalid_amount.
AMOUNT_MINOR_MAX = 10_000_000_000
ERROR_CODES = [*(problem.value for problem in Problem), "not_allowed", "too_large", "internal", "too_many_requests"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return {"$ref": f"#/components/responses/{description}"}


def _schemas(methods: Sequence[str]) -> dict[str, Any]:
    amount = {
        "type": "object",
        "required": ["amount_minor", "currency"],
        "properties": {"amount_minor": {"type": "integer"}, "currency": {"type": "string"}},
        "additionalProperties": False,
    }
    url = {"type": "string", "format": "uri"}
    order: dict[str, Any] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "id": {"type": "integer", "minimum": 1},
            "token": {"type": "string"},
            "status": {"type": "string", "enum": [status.value for status in OrderStatus]},
            "title": {"type": "string"},
            "description": {"type": "string"},
            "external_id": {"type": "string", "nullable": True},
            "amount_minor": {"type": "integer", "minimum": 1},
            "currency": {"type": "string"},
            "amounts": {
                "type": "object",
                "description": "What was paid, and what was given back, per charge in the charge's currency.",
                "required": ["paid", "refunded"],
                "additionalProperties": False,
                "properties": {
                    "paid": {"type": "array", "items": _ref("Amount")},
                    "refunded": {"type": "array", "items": _ref("Amount")},
                },
            },
            "allowed_methods": {"type": "array", "items": {"type": "string"}, "nullable": True},
            "payforme_allowed": {"type": "boolean"},
            "callback_url": {"type": "string", "nullable": True},
            "created_at": {"type": "string", "format": "date-time"},
            "expires_at": {"type": "string", "format": "date-time"},
            "paid_at": {"type": "string", "format": "date-time", "nullable": True},
            "deep_link": url,
            "landing_url": url,
            "qr_png_url": url,
            "qr_svg_url": url,
        },
    }
    order["required"] = list(order["properties"])  # every field is always there (null when unset)
    no_nul = "^[^\\x00]*$"  # PostgreSQL text cannot hold NUL
    new_order = {
        "type": "object",
        "additionalProperties": False,
        "required": ["amount_minor", "currency", "title"],
        "properties": {
            "amount_minor": {"type": "integer", "minimum": 1, "maximum": AMOUNT_MINOR_MAX},
            "currency": {"type": "string", "pattern": "^[A-Za-z]{3}$", "description": "ISO 4217, or XTR"},
            "title": {"type": "string", "minLength": 1, "maxLength": TITLE_MAX, "pattern": no_nul},
            "description": {"type": "string", "maxLength": DESCRIPTION_MAX, "pattern": no_nul},
            "external_id": {"type": "string", "minLength": 1, "maxLength": EXTERNAL_ID_MAX, "pattern": no_nul},
            "callback_url": {
                "type": "string",
                "maxLength": CALLBACK_URL_MAX,
                "pattern": "^https?://[^/?#@\\x00]+([/?#][^\\x00]*)?$",  # no user:password@
                "description": (
                    "Where daifu POSTs the order's signed callbacks. It must reach a public internet address: an"
                    " address in the URL that is loopback, private, link-local (such as 169.254.169.254) or"
                    " otherwise not public is refused with 400 bad_request, and so is a user name or password;"
                    " a host name is resolved at each delivery, and a delivery to a name that resolves to no"
                    " public address fails and is retried like any other. Redirects are not followed."
                ),
            },
            "expires_in_seconds": {
                "type": "integer",
                "minimum": int(MIN_TTL.total_seconds()),
                "maximum": int(MAX_TTL.total_seconds()),
            },
            "expires_at": {"type": "string", "format": "date-time"},
            "allowed_methods": {
                "type": "array",
                "minItems": 1,
                "uniqueItems": True,
                "items": {"type": "string", "enum": list(methods)},
            },
            "payforme_allowed": {"type": "boolean", "default": True},
        },
    }
    refund = {
        "type": "object",
        "additionalProperties": False,
        "required": ["payment_id", "provider", "amount_minor", "currency", "status"],
        "properties": {
            "payment_id": {"type": "integer"},
            "provider": {"type": "string"},
            "amount_minor": {"type": "integer"},
            "currency": {"type": "string"},
            "status": {"type": "string", "enum": ["done", "owed", "pending"]},
        },
    }
    return {
        "Amount": amount,
        "Order": order,
        "NewOrder": new_order,
        "OrderList": {
            "type": "object",
            "additionalProperties": False,
            "required": ["orders", "next_cursor"],
            "properties": {
                "orders": {"type": "array", "items": _ref("Order")},
                "next_cursor": {"type": "string", "nullable": True},
            },
        },
        "NewRefund": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"amount_minor": {"type": "integer", "minimum": 1, "maximum": AMOUNT_MINOR_MAX}},
        },
        "Refund": refund,
        "RefundResult": {
            "type": "object",
            "additionalProperties": False,
            "required": ["status", "refunds", "order"],
            "properties": {
                "status": {"type": "string", "enum": ["done", "owed", "pending"]},
                "refunds": {"type": "array", "items": _ref("Refund")},
                "order": _ref("Order"),
            },
        },
        "Error": {
            "type": "object",
            "additionalProperties": False,
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string", "enum": ERROR_CODES},
                        "message": {"type": "string"},
                    },
                }
            },
        },
    }


def openapi_document(base_url: str, methods: Sequence[str]) -> dict[str, Any]:
    """The document for this server: its address and its enabled payment methods filled in."""
    order_id = {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": ORDER_ID_MAX},
    }
    error = _ref("Error")
    document: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "daifu shop API",
            "version": "1",
            "description": "Create orders that shoppers pay in Telegram (or ask friends to pay), and follow them.",
        },
        "servers": [{"url": base_url}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "dfk_… API key"}},
            "schemas": _schemas(methods),
            "responses": {
                "BadRequest": _json(
                    error, "The request is not valid (see the error code); unknown query parameters too."
                ),
                "Unauthorized": _json(error, "Missing, unknown or revoked API key (not_allowed)."),
                "NotFound": _json(error, "No such order for this shop."),
                "Conflict": _json(error, "The order is not in a state that allows this."),
                "TooLarge": _json(error, "The body is over 16 KiB."),
            },
        },
        "paths": {
            "/api/v1/orders": {
                "post": {
                    "operationId": "createOrder",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": True,
                            "description": "Retries with the same key and body return the same order.",
                            "schema": {
                                "type": "string",
                                "minLength": 1,
                                "maxLength": IDEMPOTENCY_KEY_MAX,
                                "pattern": "^[!-~]+$",
                            },
                        }
                    ],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("NewOrder")}}},
                    "responses": {
                        "201": _json(_ref("Order"), "The order was created."),
                        "200": {
                            **_json(_ref("Order"), "This key already created this order (with the same body)."),
                            "headers": {"Idempotent-Replayed": {"schema": {"type": "string", "enum": ["true"]}}},
                        },
                        "400": _error("BadRequest"),
                        "401": _error("Unauthorized"),
                        "409": _error("Conflict"),
                        "413": _error("TooLarge"),
                    },
                },
                "get": {
                    "operationId": "listOrders",
                    "parameters": [
                        {
                            "name": "status",
                            "in": "query",
                            "schema": {"type": "string", "enum": [status.value for status in OrderStatus]},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": PAGE_MAX, "default": 20},
                        },
                        {"name": "cursor", "in": "query", "schema": {"type": "string", "maxLength": 512}},
                    ],
                    "responses": {
                        "200": _json(_ref("OrderList"), "The shop's orders, newest first."),
                        "400": _error("BadRequest"),
                        "401": _error("Unauthorized"),
                    },
                },
            },
            "/api/v1/orders/{id}": {
                "get": {
                    "operationId": "getOrder",
                    "parameters": [order_id],
                    "responses": {
                        "200": _json(_ref("Order"), "The order."),
                        "400": _error("BadRequest"),
                        "401": _error("Unauthorized"),
                        "404": _error("NotFound"),
                    },
                }
            },
            "/api/v1/orders/{id}/cancel": {
                "post": {
                    "operationId": "cancelOrder",
                    "parameters": [order_id],
                    "responses": {
                        "200": _json(_ref("Order"), "The cancelled order."),
                        "400": _error("BadRequest"),
                        "401": _error("Unauthorized"),
                        "404": _error("NotFound"),
                        "409": _error("Conflict"),
                    },
                }
            },
            "/api/v1/orders/{id}/refunds": {
                "post": {
                    "operationId": "refundOrder",
                    "parameters": [
                        order_id,
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "description": (
                                "Retries with the same key and amount answer as the first time and give nothing "
                                "back again (the answer carries Idempotent-Replayed: true); 409 in_progress while "
                                "the first is still at the provider. Send one with every part refund."
                            ),
                            "schema": {
                                "type": "string",
                                "minLength": 1,
                                "maxLength": IDEMPOTENCY_KEY_MAX,
                                "pattern": "^[!-~]+$",
                            },
                        },
                    ],
                    "requestBody": {
                        "required": False,
                        "content": {"application/json": {"schema": _ref("NewRefund")}},
                    },
                    "responses": {
                        "201": _json(_ref("RefundResult"), "What was given back (or is owed: card payments)."),
                        "400": _error("BadRequest"),
                        "401": _error("Unauthorized"),
                        "404": _error("NotFound"),
                        "409": _error("Conflict"),
                        "413": _error("TooLarge"),
                        "502": _json(error, "The provider failed to refund (provider_error); nothing was given back."),
                    },
                }
            },
        },
    }
    # Every call counts against its API key's token bucket (API_RATE_PER_KEY, API_BURST_PER_KEY).
    too_many = {**_json(error, "Too many calls with this key (too_many_requests); wait Retry-After seconds.")}
    too_many["headers"] = {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}}
    for operations in document["paths"].values():
        for operation in operations.values():
            operation["responses"]["429"] = too_many
    return document
