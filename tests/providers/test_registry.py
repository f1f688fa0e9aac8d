"""The registry finds the providers in their modules: a new provider is its module, and nothing else names it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import ClassVar

import pytest
from pydantic import SecretStr

from bot.settings import Settings
from payments.base import (
    Capabilities,
    Checkout,
    CheckoutRequest,
    InvalidNotice,
    PaymentEvent,
    ProviderContext,
    ProviderDefaults,
    ProviderSettings,
    Refund,
    RefundRequest,
)
from payments.registry import (
    KINDS,
    MODULES,
    UnknownProvider,
    build_providers,
    check_keys,
    discover,
    settings_of,
)
from payments.sandbox import SandboxGateway
from services.providers import capabilities_of

ROOT = Path(__file__).resolve().parents[2]


class TipJarSettings(ProviderSettings):
    needs = ("tipjar_account",)
    tipjar_account: str = ""
    tipjar_api_key: SecretStr = SecretStr("")
    tipjar_api_base: str = "https://tipjar.example"


class TipJar(ProviderDefaults):
    """A provider nobody wrote into daifu: it exists only in this test's module."""

    name = "tipjar"
    capabilities = Capabilities(currencies=frozenset({"EUR"}), partial_refunds=False)
    settings_class: ClassVar[type[TipJarSettings]] = TipJarSettings

    def __init__(self, account: str, api_key: str, notify_url: str) -> None:
        self.account, self.api_key, self.notify_url = account, api_key, notify_url

    @classmethod
    async def from_settings(cls, settings: TipJarSettings, context: ProviderContext) -> TipJar:
        return cls(settings.tipjar_account, settings.tipjar_api_key.get_secret_value(), context.notify_url(cls.name))

    async def create_checkout(self, request: CheckoutRequest) -> Checkout:
        raise NotImplementedError

    async def parse_notice(self, headers: Mapping[str, str], body: bytes) -> PaymentEvent:
        raise InvalidNotice("not in this test")

    async def refund(self, request: RefundRequest) -> Refund:
        raise NotImplementedError


def tipjar_module() -> ModuleType:
    module = ModuleType("payments.tipjar")
    module.PROVIDERS = (TipJar,)  # type: ignore[attr-defined]
    return module


async def never_kept(name: str) -> str:
    raise AssertionError(f"no secret is made for {name} when the settings give one")


async def no_stars(user_id: int, charge_id: str) -> bool:
    raise AssertionError("no Stars are refunded here")


CONTEXT = ProviderContext("https://shop.example", kept_secret=never_kept, refund_star_payment=no_stars)


async def test_a_new_provider_module_is_found_configured_checked_and_built(monkeypatch: pytest.MonkeyPatch) -> None:
    kinds = discover((*MODULES, tipjar_module()))
    monkeypatch.setenv("TIPJAR_ACCOUNT", "acct-7")
    monkeypatch.setenv("TIPJAR_API_KEY", "tj-secret")
    every = settings_of(kinds.values())

    settings = every(_env_file=None, sandbox_secret="s3cret")  # type: ignore[call-arg]

    assert list(kinds)[-1] == "tipjar" and list(kinds)[:-1] == list(KINDS)
    check_keys(["sandbox", "tipjar"], settings, kinds)
    providers = await build_providers(["sandbox", "tipjar"], settings, CONTEXT, kinds)
    tipjar = providers["tipjar"]
    assert isinstance(tipjar, TipJar) and isinstance(providers["sandbox"], SandboxGateway)
    assert (tipjar.account, tipjar.api_key) == ("acct-7", "tj-secret")
    assert tipjar.notify_url == "https://shop.example/notify/tipjar"
    # What it can do is read from it: the core needs no line about it.
    assert capabilities_of("tipjar", providers) == TipJar.capabilities
    assert capabilities_of("tipjar", providers).takes("EUR") and not capabilities_of("tipjar", providers).takes("USD")


def test_a_new_provider_enabled_without_its_keys_is_named_like_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    kinds = discover((*MODULES, tipjar_module()))
    monkeypatch.delenv("TIPJAR_ACCOUNT", raising=False)
    settings = settings_of(kinds.values())(_env_file=None)  # type: ignore[call-arg]

    check_keys(["sandbox"], settings, kinds)  # not enabled: its keys are not asked for
    with pytest.raises(ValueError, match=r"^PAYMENT_PROVIDERS has tipjar, which needs TIPJAR_ACCOUNT$"):
        check_keys(["sandbox", "tipjar"], settings, kinds)


def test_two_providers_of_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match="two payment providers are named 'tipjar'"):
        discover((tipjar_module(), tipjar_module()))


async def test_a_provider_nobody_knows_is_not_built() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    with pytest.raises(UnknownProvider, match="paypal"):
        await build_providers(["paypal"], settings, CONTEXT)


def test_daifus_settings_take_in_every_providers_own() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    for kind in KINDS.values():
        assert kind.settings_class is None or isinstance(settings, kind.settings_class), kind.name


def test_env_example_lists_every_setting_and_only_settings() -> None:
    """Each provider's settings are read under the names they always had, and .env.example shows them all."""
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert listed == {name.upper() for name in Settings.model_fields}
