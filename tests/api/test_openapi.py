"""The OpenAPI document matches the server: schemathesis fuzzes the live API (valid and invalid requests)
and must find no 5xx, no undocumented status, and no response that breaks the documented schema; and every
limit the request models validate with is stated in the served document, so the two cannot drift apart."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from typing import Annotated, Any, get_args, get_origin

import aiohttp
import annotated_types
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from pydantic.fields import FieldInfo
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.orders import DESCRIPTION_MAX, TITLE_MAX
from services.shop_order_intake import CALLBACK_URL_MAX, EXTERNAL_ID_MAX, MAX_TTL, MIN_TTL
from tests.api.client import ApiClient
from tests.harness import RunningShop
from web.shop_schemas import METHODS_MAX, REQUESTS

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# Per operation and mode: a few seconds in all. DAIFU_FUZZ_EXAMPLES=500 digs deeper when changing the API.
EXAMPLES = int(os.environ.get("DAIFU_FUZZ_EXAMPLES", "25"))


def fuzz(base_url: str, key: str, order_id: int) -> None:
    """Runs in a thread: schemathesis calls with `requests`, which would block the server's event loop."""
    schema = schemathesis.openapi.from_url(f"{base_url}/api/v1/openapi.json")
    auth = {"Authorization": f"Bearer {key}"}
    runs: list[tuple[Any, GenerationMode, dict[str, int] | None]] = []
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an invalid operation fails the test here
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            runs.append((operation, mode, None))
        if "{id}" in operation.path:  # also an order that exists, so the 200 and 409 answers are checked too
            runs.append((operation, GenerationMode.POSITIVE, {"id": order_id}))
    for operation, mode, path_parameters in runs:
        strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters, headers=auth)

        @given(case=strategy)
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,  # the same cases every run: a failure here is a real one, not luck
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
        )
        def call(case: Any) -> None:
            case.call_and_validate(base_url=base_url, headers=auth, checks=CHECKS, timeout=10)

        call()


async def test_the_api_keeps_to_its_openapi_document(shop: RunningShop, api: ApiClient) -> None:
    paid_or_not = await api.new_order(title="Fuzzed")
    await asyncio.to_thread(fuzz, shop.web_url, api.key, paid_or_not["id"])


# -- the document is generated from the models: every limit they validate with is stated ------------------


def stated(schema: Any) -> set[tuple[str, Any]]:
    """Every (keyword, value) in a schema and all its branches, items and properties."""
    found: set[tuple[str, Any]] = set()
    pending = [schema]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            found |= {(key, value) for key, value in item.items() if isinstance(value, str | int | float)}
            pending += item.values()
        elif isinstance(item, list):
            pending += item
    return found


def validated(annotation: Any, metadata: Sequence[Any]) -> set[tuple[frozenset[str], Any]]:
    """The limits pydantic applies to a field, read from the model's own metadata (not from its JSON schema):
    (the JSON Schema keywords that can state it, the limit)."""
    keywords: dict[type, tuple[frozenset[str], str]] = {
        annotated_types.MinLen: (frozenset({"minLength", "minItems"}), "min_length"),
        annotated_types.MaxLen: (frozenset({"maxLength", "maxItems"}), "max_length"),
        annotated_types.Ge: (frozenset({"minimum"}), "ge"),
        annotated_types.Le: (frozenset({"maximum"}), "le"),
        annotated_types.Gt: (frozenset({"exclusiveMinimum"}), "gt"),
        annotated_types.Lt: (frozenset({"exclusiveMaximum"}), "lt"),
    }
    limits: set[tuple[frozenset[str], Any]] = set()
    for item in metadata:
        if isinstance(item, FieldInfo):
            limits |= validated(None, item.metadata)
        elif type(item) in keywords:
            words, attribute = keywords[type(item)]
            limits.add((words, getattr(item, attribute)))
        elif getattr(item, "pattern", None) is not None:
            limits.add((frozenset({"pattern"}), item.pattern))
    if get_origin(annotation) is Annotated:
        limits |= validated(get_args(annotation)[0], get_args(annotation)[1:])
    else:
        for inner in get_args(annotation):  # the members of a union, the items of a list
            limits |= validated(inner, ())
    return limits


async def test_every_limit_a_request_model_validates_with_is_in_the_served_document(shop: RunningShop) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{shop.web_url}/api/v1/openapi.json") as answer:
        schemas = (await answer.json())["components"]["schemas"]

    checked = 0
    for model in REQUESTS:
        schema = schemas[model.__name__]
        assert schema["additionalProperties"] is False, model
        assert set(schema.get("required", [])) == {name for name, f in model.model_fields.items() if f.is_required()}
        assert set(schema["properties"]) == set(model.model_fields), model
        for name, field in model.model_fields.items():
            said = stated(schema["properties"][name])
            for keywords, limit in validated(field.annotation, field.metadata):
                assert any((keyword, limit) in said for keyword in keywords), (model.__name__, name, keywords, limit)
                checked += 1
    assert checked >= 15  # the walk above found the limits, rather than nothing to compare

    # The limits the drift was in, against the constants the service checks with.
    new_order = schemas["NewOrder"]["properties"]
    assert new_order["currency"]["pattern"] == "^[A-Za-z]{3}$"
    assert ("maxLength", TITLE_MAX) in stated(new_order["title"])
    assert ("maxLength", DESCRIPTION_MAX) in stated(new_order["description"])
    assert ("maxLength", EXTERNAL_ID_MAX) in stated(new_order["external_id"])
    assert ("maxLength", CALLBACK_URL_MAX) in stated(new_order["callback_url"])
    assert {("minimum", int(MIN_TTL.total_seconds())), ("maximum", int(MAX_TTL.total_seconds()))} <= stated(
        new_order["expires_in_seconds"]
    )
    methods = next(branch for branch in new_order["allowed_methods"]["anyOf"] if branch.get("type") == "array")
    assert methods["minItems"] == 1 and methods["maxItems"] == METHODS_MAX
    assert methods["items"]["enum"] == list(shop.daifu.providers)
