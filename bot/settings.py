"""Settings from the environment or `.env` (pydantic-settings); secrets stay SecretStr.

Each payment provider's settings are its own module's (payments.registry takes them all in): only which
providers are enabled, and that each has what it needs, is decided here."""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from payments.currencies import is_money
from payments.registry import KNOWN as KNOWN_PROVIDERS
from payments.registry import EveryProviderSettings, check_keys
from storage.secrets import parse_keys

CommaList = Annotated[list[str], NoDecode]
CommaIds = Annotated[list[int], NoDecode]
Rates = Annotated[dict[str, Decimal], NoDecode]


def _split(value: object) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return list(value) if isinstance(value, list | tuple) else []


def seconds_or_iso(value: object) -> object:
    """A duration as the environment gives it: plain seconds ("30", "1.5") or ISO 8601 ("PT30S", "P7D").
    Text arrives as text, which pydantic reads only as ISO 8601."""
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return value
    return value


class Settings(EveryProviderSettings):
    # A setting left empty (as .env.example lists them) means "not set": its default applies.
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True)

    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_api_file_url: str | None = None
    database_url: str = "sqlite+aiosqlite:///./daifu.db"
    public_base_url: str = "http://127.0.0.1:8080"
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    admin_ids: CommaIds = Field(default_factory=list)
    payment_providers: CommaList = Field(default_factory=lambda: ["sandbox"])
    default_currency: str = "USD"
    shop_currencies: CommaList = Field(default_factory=lambda: ["USD", "EUR", "CNY", "XTR"])
    shop_name: str = "daifu shop"
    stars_rates: Rates = Field(default_factory=dict)
    order_ttl_hours: float = Field(default=72, gt=0)
    payforme_ttl: timedelta = Field(default=timedelta(hours=24), gt=timedelta(0))
    payforme_hold: timedelta = Field(default=timedelta(minutes=10), gt=timedelta(0))
    payforme_max_open: int = Field(default=10, ge=1)
    payforme_reminder: timedelta = Field(default=timedelta(hours=2), ge=timedelta(0))
    reconcile_after: timedelta = Field(default=timedelta(minutes=15), gt=timedelta(0))
    # Shop callbacks may go to loopback and private addresses (tests, a shop backend on daifu's own network).
    callback_allow_private_addresses: bool = False
    run_mode: Literal["polling", "webhook"] = "polling"
    webhook_secret: SecretStr | None = None
    webhook_path: str = "/telegram/webhook"
    rate_limiter: bool = True
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    # --- ssrf-currencies-secrets ---
    # Fernet keys (comma list) encrypting the secrets kept in the database; the first encrypts, all decrypt.
    secrets_key: SecretStr | None = None

    # --- telegram-side ---
    # Per person: taps and messages a second, sustained; how many may come at once; how long a flooder is ignored.
    throttle_user_rate: float = Field(default=1.0, gt=0)
    throttle_user_burst: int = Field(default=10, ge=1)
    throttle_user_pause: timedelta = Field(default=timedelta(seconds=30), ge=timedelta(0))

    # --- web-hardening ---
    # A client has this long to send a request's headers (from connecting, or from its previous answer).
    web_header_timeout: timedelta = Field(default=timedelta(seconds=10), gt=timedelta(0))
    # ...and this long to send its body once the headers are in.
    web_body_timeout: timedelta = Field(default=timedelta(seconds=30), gt=timedelta(0))
    # Open connections one address may hold; 0 for no cap (behind a proxy every client has its address).
    web_max_connections_per_address: int = Field(default=50, ge=0)

    # --- throttling ---
    # However often a friend starts paying again, their hold on a request ends this long after they first took
    # it; then others may start, and they only a hold's time later. Empty: twice PAYFORME_HOLD.
    payforme_hold_max: timedelta | None = Field(default=None, gt=timedelta(0))
    # Token buckets on the web side: requests per second (refilled) and burst, per client address.
    web_rate_per_address: float = Field(default=10, gt=0)
    web_burst_per_address: int = Field(default=100, ge=1)
    # A stricter bucket for the pages' form posts (paying on a request page, the sandbox checkout).
    web_form_rate_per_address: float = Field(default=1, gt=0)
    web_form_burst_per_address: int = Field(default=20, ge=1)
    # The shop API, per API key.
    api_rate_per_key: float = Field(default=20, gt=0)
    api_burst_per_key: int = Field(default=200, ge=1)
    # Proxies (addresses or CIDR ranges) whose X-Forwarded-For names the client; from any other peer it is ignored.
    trusted_proxies: CommaList = Field(default_factory=list)

    # --- introduction ---
    # Where people reach the shop about a payment (/paysupport): "@shop_support", an email address or a URL.
    support_contact: str | None = None
    # The shop's terms (/terms): a link, a text shown in the chat, or both (the text, then the link).
    terms_url: str | None = None
    # Room left in one Telegram message (4096 characters) for the heading and the link.
    terms_text: str | None = Field(default=None, max_length=3500)

    # --- mini app ---
    # How long the Mini App's sign-in (Telegram's init data) is good for, in seconds from when Telegram signed it.
    miniapp_auth_max_age: int = Field(default=3600, ge=60)
    # Serve daifu's own stand-in for telegram-web-app.js and let daifu's own pages frame the app: offline only
    # (the playground, browser tests), where telegram.org cannot be reached and no Telegram app is around; there the
    # app opens over plain http too, as Telegram's test environment allows.
    miniapp_local_sdk: bool = False

    @field_validator("payforme_hold_max", mode="before")
    @classmethod
    def _hold_max(cls, value: object) -> object:
        # Empty means the default (twice PAYFORME_HOLD); plain seconds or ISO 8601 like the other durations.
        return None if isinstance(value, str) and not value.strip() else seconds_or_iso(value)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: object) -> list[str]:
        parts = _split(value)
        for part in parts:
            ipaddress.ip_network(part, strict=False)  # a ValueError names the bad entry
        return parts

    # --- jobs-and-notices ---
    # Telegram retries an update for about a day: a finished one pruned sooner could be handled twice.
    retain_updates: timedelta = Field(default=timedelta(days=7), ge=timedelta(days=2))
    retain_rejected_notices: timedelta = Field(default=timedelta(days=30), gt=timedelta(0))

    # --- operations listener ---
    # /metrics, /readyz and /healthz for Prometheus and the orchestrator, apart from the public port; 0: none.
    ops_host: str = "127.0.0.1"
    ops_port: int = Field(default=9090, ge=0, le=65535)
    # --- Mini App ---
    # The app's short name registered with @BotFather (/newapp): request cards in groups then open the app by a
    # t.me/<bot>/<short name>?startapp=<token> link. None: cards keep the /start deep link.
    miniapp_short_name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_]{3,30}$")

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _ids(cls, value: object) -> list[int]:
        return [int(part) for part in _split(value)]

    @field_validator("payment_providers", mode="before")
    @classmethod
    def _providers(cls, value: object) -> list[str]:
        names = [name.lower() for name in _split(value)]
        unknown = sorted(set(names) - set(KNOWN_PROVIDERS))
        if unknown:
            raise ValueError(f"unknown provider(s) {', '.join(unknown)}; known: {', '.join(KNOWN_PROVIDERS)}")
        return names

    @field_validator("shop_currencies", mode="before")
    @classmethod
    def _currencies(cls, value: object) -> list[str]:
        codes = [code.upper() for code in _split(value)]
        not_money = [code for code in codes if not is_money(code)]
        if not_money:
            raise ValueError(f"not a currency people pay in: {', '.join(not_money)} (funds, metals, test codes)")
        return codes

    @field_validator("default_currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        code = value.strip().upper()
        if not is_money(code):
            raise ValueError(f"not a currency people pay in: {code} (funds, metals, test codes)")
        return code

    @field_validator("stars_rates", mode="before")
    @classmethod
    def _rates(cls, value: object) -> dict[str, Decimal]:
        if isinstance(value, dict):
            return {str(k).upper(): Decimal(str(v)) for k, v in value.items()}
        rates = {}
        for pair in _split(value):
            code, _, rate = pair.partition("=")
            rates[code.strip().upper()] = Decimal(rate.strip())
        return rates

    @field_validator(
        "payforme_ttl",
        "payforme_hold",
        "payforme_reminder",
        "reconcile_after",
        "throttle_user_pause",
        "web_header_timeout",
        "web_body_timeout",
        "retain_updates",
        "retain_rejected_notices",
        mode="before",
    )
    @classmethod
    def _seconds(cls, value: object) -> object:
        return seconds_or_iso(value)

    @field_validator("terms_url")
    @classmethod
    def _terms_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"https?://\S+\Z", value.strip()):
            raise ValueError("must be a web address starting with https:// (or http://)")
        return value.strip() if value is not None else None

    @field_validator("public_base_url", "telegram_api_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _provider_needs(self) -> Settings:
        check_keys(self.payment_providers, self)
        return self

    @field_validator("secrets_key")
    @classmethod
    def _secrets_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_keys(value.get_secret_value())  # the message names the key's place in the list, not the key
        return value

    @property
    def secrets_keys(self) -> list[str]:
        return parse_keys(self.secrets_key.get_secret_value()) if self.secrets_key else []

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule)")
        return value

    @property
    def order_ttl(self) -> timedelta:
        return timedelta(hours=self.order_ttl_hours)

    @property
    def file_base_url(self) -> str:
        if self.telegram_api_file_url:
            return self.telegram_api_file_url
        # https://api.telegram.org/bot -> https://api.telegram.org/file/bot
        head, _, tail = self.telegram_api_base_url.rpartition("/")
        return f"{head}/file/{tail}"
