"""Link tokens: unguessable, URL-safe, and an order's token never reads as a request's."""

from __future__ import annotations

import pytest

from services import tokens
from services.pay_requests import is_request_token


def test_tokens_are_long_random_and_url_safe() -> None:
    made = {tokens.new_order_token() for _ in range(1000)}
    assert len(made) == 1000
    assert all(len(token) == 22 and tokens.looks_like_token(token) for token in made)


def test_an_order_token_never_starts_like_a_request_token(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = iter(["r_looksLikeARequest0000", "r_andAnotherOne0000000", "an-order-token-123456A"])
    monkeypatch.setattr(tokens.secrets, "token_urlsafe", lambda _size: next(drawn))

    token = tokens.new_order_token()

    assert token == "an-order-token-123456A" and not is_request_token(token)
