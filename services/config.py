"""The shop's rules that the domain needs, handed in by the composition root (no settings import here)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class ShopRules:
    shop_name: str
    admin_ids: frozenset[int]
    public_base_url: str
    default_currency: str = "USD"
    usual_currencies: tuple[str, ...] = ("USD", "EUR", "CNY", "XTR")
    order_ttl: timedelta = timedelta(days=3)
    # Stars per major unit of a currency (e.g. USD -> 50 means 1.00 USD is offered as 50 Stars).
    stars_rates: Mapping[str, Decimal] = field(default_factory=dict)
    payforme_ttl: timedelta = timedelta(hours=24)
    payforme_hold: timedelta = timedelta(minutes=10)
    # However often renewed, a hold ends this long after it was first taken (None: twice payforme_hold).
    payforme_hold_max: timedelta | None = None
    payforme_max_open: int = 10
    # The requester is reminded once, this long before an open request expires.
    payforme_reminder: timedelta = timedelta(hours=2)
    # Checkouts still pending after this long are looked up at their provider (a notice may be lost).
    reconcile_after: timedelta = timedelta(minutes=15)
    # Shops' callbacks may go to private and loopback addresses (a shop on the same private network).
    callback_private_allowed: bool = False
    # How people reach the shop about a payment; the shop's terms as a link and/or a text (None: not given).
    support_contact: str | None = None
    terms_url: str | None = None
    terms_text: str | None = None
    # The Mini App's short name with @BotFather (None: not registered; cards keep the /start deep link).
    miniapp_short_name: str | None = None
    # Offline (the playground, tests): the Mini App opens over http too, as Telegram's test environment allows.
    miniapp_over_http: bool = False

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.admin_ids

    @property
    def hold_limit(self) -> timedelta:
        return max(self.payforme_hold_max or 2 * self.payforme_hold, self.payforme_hold)

    def landing_url(self, token: str) -> str:
        return f"{self.public_base_url}/o/{token}"

    def request_url(self, token: str) -> str:
        return f"{self.public_base_url}/r/{token}"

    def receipt_url(self, key: str) -> str:
        return f"{self.public_base_url}/receipt/{key}"

    def mini_app_url(self, start: str | None = None) -> str | None:
        """The Mini App's page, opening the order or request `start` names; None where Telegram would not open it
        (it opens https pages only)."""
        if not self.public_base_url.startswith(("https://", "http://") if self.miniapp_over_http else "https://"):
            return None
        return f"{self.public_base_url}/app" + (f"?startapp={start}" if start else "")
