"""JSON nested deep enough to crash Python's parser (or to make walking it costly) is a plain 400 with a
clear message at the shop API, never a 500 with a traceback, and changes nothing."""

from __future__ import annotations

from tests.api.client import ApiClient
from tests.api.test_api_errors import orders_in_database
from tests.harness import RunningShop


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def nested_lists(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth  # two bytes a level: deep enough within the API's 16 KiB


async def test_json_nested_to_crash_the_parser_is_a_400(shop: RunningShop, api: ApiClient) -> None:
    for body in (nested(33), nested(1_000), nested_lists(5_000), nested_lists(8_000)):
        status, answer, _ = await api.call(
            "POST", "/api/v1/orders", data=body, headers={"Idempotency-Key": f"deep-{len(body)}"}
        )
        assert status == 400, (len(body), answer)
        assert answer["error"] == {
            "code": "bad_request",
            "message": "the JSON is nested too deeply (at most 32 levels)",
        }
    assert await orders_in_database(shop) == 0

    order = await api.new_order()
    for body in (nested(33), nested_lists(5_000)):
        status, answer, _ = await api.call("POST", f"/api/v1/orders/{order['id']}/refunds", data=body)
        assert status == 400 and "nested too deeply" in answer["error"]["message"]
    status, answer = await api.get(f"/api/v1/orders/{order['id']}")
    assert status == 200 and answer["status"] == "open"  # nothing was refunded or changed


async def test_a_deep_notice_is_refused_like_any_unsigned_one(shop: RunningShop, api: ApiClient) -> None:
    """Provider notices are parsed only after their signature checks out, so a stranger's deep JSON is
    refused as unsigned, never parsed."""
    for body in (nested_lists(5_000), nested(5_000)):
        status, _answer, _ = await api.call("POST", "/notify/sandbox", data=body, headers={"Stripe-Signature": "x"})
        assert 400 <= status < 500
