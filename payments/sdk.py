"""A provider's SDK, loaded when first used: every provider module is imported (the registry reads each one's
settings and capabilities), but an SDK costs start-up time and memory only where its provider is enabled."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def load_when_used(name: str) -> ModuleType:
    """The module `name`, executed on the first access to one of its attributes (importlib's LazyLoader)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
