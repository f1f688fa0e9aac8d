"""The providers daifu knows, found in their modules; the settings they read; the enabled ones, built.

Adding a provider is its module (a class with a name, Capabilities, a ProviderSettings class and from_settings,
listed in the module's PROVIDERS) and its line in MODULES; nothing else names it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, cast

from pydantic import create_model
from pydantic_settings import BaseSettings

from payments import alipay, sandbox, stripe_checkout, telegram_invoice, wechat_pay
from payments.base import Capabilities, PaymentProvider, ProviderContext, ProviderKind, ProviderSettings
from payments.sdk import absent_sdks

MODULES: tuple[ModuleType, ...] = (sandbox, telegram_invoice, stripe_checkout, wechat_pay, alipay)


class UnknownProvider(ValueError):
    pass


def discover(modules: Iterable[ModuleType]) -> dict[str, ProviderKind]:
    """Every provider the modules list in their PROVIDERS, by name."""
    kinds: dict[str, ProviderKind] = {}
    for module in modules:
        for kind in cast(Sequence[ProviderKind], module.PROVIDERS):
            if kind.name in kinds:
                raise ValueError(f"two payment providers are named {kind.name!r}")
            kinds[kind.name] = kind
    return kinds


KINDS = discover(MODULES)
KNOWN = tuple(KINDS)


def settings_of(kinds: Iterable[ProviderKind]) -> type[ProviderSettings]:
    """One settings class that takes in every provider's own, for daifu's settings to inherit."""
    classes = tuple(dict.fromkeys(kind.settings_class for kind in kinds if kind.settings_class is not None))
    return create_model("EveryProviderSettings", __base__=classes or (ProviderSettings,), __module__=__name__)


if TYPE_CHECKING:
    # The type checker sees none of the providers' fields here: each provider reads them from its own class.
    EveryProviderSettings = ProviderSettings
else:
    EveryProviderSettings = settings_of(KINDS.values())


def capabilities_of(name: str) -> Capabilities:
    """What the provider of this name can do as it comes, enabled or not (a payment made through one that has
    been turned off since is still shown and refunded as it was made); a name no provider has: the defaults."""
    kind = KINDS.get(name)
    return kind.capabilities if kind is not None else Capabilities()


def check_keys(names: Sequence[str], settings: BaseSettings, kinds: Mapping[str, ProviderKind] = KINDS) -> None:
    """Refuse, naming them, the keys an enabled provider needs and the settings leave empty."""
    for name in names:
        kind = kinds.get(name)
        missing = kind.settings_class.missing(settings) if kind is not None and kind.settings_class else []
        if missing:
            raise ValueError(f"PAYMENT_PROVIDERS has {name}, which needs {', '.join(missing)}")


async def build_providers(
    names: Sequence[str],
    settings: BaseSettings,
    context: ProviderContext,
    kinds: Mapping[str, ProviderKind] = KINDS,
) -> dict[str, PaymentProvider]:
    """The enabled providers, in the order named, each built from its own settings; none is built while one
    of them lacks its SDK (MissingSdk)."""
    for name in names:
        kind = kinds.get(name)
        if kind is None:
            raise UnknownProvider(f"unknown payment provider {name!r}; known: {', '.join(kinds)}")
        absent = absent_sdks(sys.modules[kind.__module__])
        if absent:
            raise absent[0].error(provider=name)
    providers: dict[str, PaymentProvider] = {}
    for name in names:
        kind = kinds[name]
        if kind.settings_class is not None and not isinstance(settings, kind.settings_class):
            raise TypeError(f"the settings do not include {kind.settings_class.__name__}, which {name} reads")
        providers[name] = await kind.from_settings(settings, context)
    return providers
