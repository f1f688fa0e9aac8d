"""The shop API's bodies as pydantic models: requests are validated with them, answers rendered through them.

They are also the only source of the OpenAPI document's schemas (web.openapi generates them from these
classes), so a limit written here is the limit the document states. Class names are the schemas' names.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, PlainSerializer

from services.orders import DESCRIPTION_MAX, TITLE_MAX
from services.read_models import OrderStatus
from services.shop_order_errors import Problem
from services.shop_order_intake import CALLBACK_URL_MAX, EXTERNAL_ID_MAX, MAX_TTL, MIN_TTL

# Wider than any one currency allows (1,000,000 major units with up to 4 decimals); the exact bound per
# currency is checked by the service and answered with invalid_amount.
AMOUNT_MINOR_MAX = 10_000_000_000
METHODS_MAX = 16  # more than daifu has providers: a longer list is a mistake
NO_NUL = "^[^\\x00]*$"  # PostgreSQL text cannot hold NUL
CURRENCY = "^[A-Za-z]{3}$"  # the service then checks it is ISO 4217 money (or XTR)
# The callback URL's shape: callback_url_problem checks it, and more (whether a private address may be called
# depends on this server's settings), so the model only states it for clients.
CALLBACK_URL_SHAPE = "^https?://[^/?#@\\x00]+([/?#][^\\x00]*)?$"  # no user:password@
# A pattern said to the client in words rather than as the regular expression.
PATTERN_WORDS = {NO_NUL: "must not contain NUL characters", CURRENCY: "must be a three-letter ISO 4217 code, or XTR"}


def _unicode(value: str) -> str:
    # PostgreSQL text holds no lone surrogates; refuse them here rather than fail in the database.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode") from None
    return value


Text = Annotated[str, Field(pattern=NO_NUL), AfterValidator(_unicode)]
# Written as datetime.isoformat does, like the callbacks' timestamps (pydantic would write UTC as "Z").
Timestamp = Annotated[
    datetime,
    PlainSerializer(datetime.isoformat, return_type=str),
    Field(json_schema_extra={"format": "date-time"}),
]
Url = Annotated[str, Field(json_schema_extra={"format": "uri"})]
RefundState = Literal["done", "owed", "pending"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Answer(BaseModel):
    # Every field is always there (null when unset), and nothing else is.
    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


# -- requests --------------------------------------------------------------------------------------------


class NewOrder(_Request):
    """An order to create; an Idempotency-Key header makes retrying it safe."""

    amount_minor: int = Field(ge=1, le=AMOUNT_MINOR_MAX)
    currency: str = Field(pattern=CURRENCY, description="ISO 4217, or XTR")
    title: Text = Field(min_length=1, max_length=TITLE_MAX)
    description: Text = Field(default="", max_length=DESCRIPTION_MAX)
    external_id: Text | None = Field(default=None, min_length=1, max_length=EXTERNAL_ID_MAX)
    callback_url: Text | None = Field(
        default=None,
        max_length=CALLBACK_URL_MAX,
        json_schema_extra={"pattern": CALLBACK_URL_SHAPE},
        description=(
            "Where daifu POSTs the order's signed callbacks. It must reach a public internet address: an"
            " address in the URL that is loopback, private, link-local (such as 169.254.169.254) or"
            " otherwise not public is refused with 400 bad_request, and so is a user name or password;"
            " a host name is resolved at each delivery, and a delivery to a name that resolves to no"
            " public address fails and is retried like any other. Redirects are not followed."
        ),
    )
    expires_in_seconds: int | None = Field(
        default=None, ge=int(MIN_TTL.total_seconds()), le=int(MAX_TTL.total_seconds())
    )
    expires_at: AwareDatetime | None = None
    allowed_methods: list[Text] | None = Field(
        default=None,
        min_length=1,
        max_length=METHODS_MAX,
        description="Some of this server's payment methods (the document lists them); all of them when left out.",
    )
    payforme_allowed: bool = True


class NewRefund(_Request):
    """A refund of the order's charges, each through the provider that took it."""

    amount_minor: int | None = Field(
        default=None, ge=1, le=AMOUNT_MINOR_MAX, description="Part of what is left; all of it when left out."
    )


# -- answers ---------------------------------------------------------------------------------------------


class Amount(_Answer):
    """A sum in minor units of its currency."""

    amount_minor: int
    currency: str


class Amounts(_Answer):
    paid: list[Amount]
    refunded: list[Amount]


class Order(_Answer):
    """An order as its shop sees it: an open order past its time reads expired."""

    id: int = Field(ge=1)
    token: str
    status: OrderStatus
    title: str
    description: str
    external_id: str | None
    amount_minor: int = Field(ge=1)
    currency: str
    amounts: Amounts = Field(description="What was paid, and what was given back, per charge in the charge's currency.")
    allowed_methods: list[str] | None
    payforme_allowed: bool
    callback_url: str | None
    created_at: Timestamp
    expires_at: Timestamp
    paid_at: Timestamp | None
    deep_link: Url
    landing_url: Url
    qr_png_url: Url
    qr_svg_url: Url


class OrderList(_Answer):
    orders: list[Order]
    next_cursor: str | None


class Refund(_Answer):
    payment_id: int
    provider: str
    amount_minor: int
    currency: str
    status: RefundState


class RefundResult(_Answer):
    status: RefundState
    refunds: list[Refund]
    order: Order


class HttpProblem(StrEnum):
    """Error codes about the call rather than the order: no valid key, too large, too many calls, our failure."""

    NOT_ALLOWED = "not_allowed"  # no API key, or an unknown or revoked one
    TOO_LARGE = "too_large"
    TOO_MANY_REQUESTS = "too_many_requests"
    INTERNAL = "internal"


class ErrorDetail(_Answer):
    code: Problem | HttpProblem
    message: str


class Error(_Answer):
    error: ErrorDetail


REQUESTS: tuple[type[BaseModel], ...] = (NewOrder, NewRefund)
ANSWERS: tuple[type[BaseModel], ...] = (Order, OrderList, RefundResult, Error)
