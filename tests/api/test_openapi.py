"""The OpenAPI document matches the server: schemathesis fuzzes the live API (valid and invalid requests)
and must find no 5xx, no undocumented status, and no response that breaks the documented schema."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.client import ApiClient
from tests.harness import RunningShop

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
