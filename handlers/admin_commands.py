"""The admin commands in the chat, gathered so the application registers them in one place."""

from __future__ import annotations

from typing import Any

from telegram.ext import BaseHandler

from handlers import (
    admin_apikey,
    admin_cancel,
    admin_export,
    admin_order,
    admin_orders,
    admin_providers,
    admin_refund,
    admin_stats,
)

FEATURES = (
    admin_stats,
    admin_order,
    admin_orders,
    admin_refund,
    admin_cancel,
    admin_export,
    admin_providers,
    admin_apikey,
)


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [handler for feature in FEATURES for handler in feature.handlers()]
