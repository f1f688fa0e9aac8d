"""A provider's SDK, loaded when first used: every provider module is imported (the registry reads each one's
settings and capabilities), but an SDK costs start-up time and memory only where its provider is enabled.

An SDK that is not installed is no error until its provider is enabled: the registry then refuses to build it,
naming the pip extra that installs it (`pip install 'daifu[stripe]'`)."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


class MissingSdk(ModuleNotFoundError):
    """An enabled provider's SDK is not installed."""


class AbsentSdk(ModuleType):
    """Stands in for an SDK that is not installed: any use of it raises MissingSdk."""

    def __init__(self, name: str, extra: str) -> None:
        super().__init__(name)
        self.extra = extra

    def __getattr__(self, attribute: str) -> object:
        if attribute.startswith("__"):  # what Python's own machinery asks of any module (repr, pickling)
            raise AttributeError(attribute)
        raise self.error()

    def error(self, provider: str | None = None) -> MissingSdk:
        who = f"PAYMENT_PROVIDERS has {provider}, but its SDK" if provider else "the SDK"
        return MissingSdk(
            f"{who} (the Python package {self.__name__}) is not installed: pip install 'daifu[{self.extra}]'",
            name=self.__name__,
        )


def load_when_used(name: str, extra: str) -> ModuleType:
    """The module `name`, executed on the first access to one of its attributes (importlib's LazyLoader);
    not installed, a stand-in that names the pip extra `daifu[extra]` when used."""
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return AbsentSdk(name, extra)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


def absent_sdks(module: ModuleType) -> list[AbsentSdk]:
    """The SDKs a provider's module loads with load_when_used that are not installed, its own or those of the
    payments modules whose classes it builds on (WeChat Pay's provider on its API client)."""
    modules = {module.__name__: module}
    for value in vars(module).values():
        home = getattr(value, "__module__", "") if isinstance(value, type) else ""
        if home.startswith("payments.") and home in sys.modules:
            modules.setdefault(home, sys.modules[home])
    return [value for each in modules.values() for value in vars(each).values() if isinstance(value, AbsentSdk)]
