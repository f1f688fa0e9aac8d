"""Build the enabled providers by their short names, from plain settings values."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from payments.alipay import AlipayPrecreate
from payments.base import Capabilities, PaymentProvider
from payments.sandbox import SandboxGateway
from payments.stripe_checkout import StripeCheckout
from payments.telegram_invoice import RefundStars, TelegramCardInvoices, TelegramStars
from payments.wechat_pay import WeChatPayNative

KINDS = {
    kind.name: kind
    for kind in (SandboxGateway, TelegramCardInvoices, TelegramStars, StripeCheckout, WeChatPayNative, AlipayPrecreate)
}
KNOWN = tuple(KINDS)


def capabilities_of(name: str) -> Capabilities:
    """What the provider of this name can do as it comes, enabled or not (a payment made through one that has
    been turned off since is still shown and refunded as it was made); a name no provider has: the defaults."""
    kind = KINDS.get(name)
    return kind.capabilities if kind is not None else Capabilities()


class UnknownProvider(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """Every provider's settings, as plain values (the composition root reads them from the environment)."""

    public_base_url: str
    sandbox_secret: str = ""
    telegram_provider_token: str = ""
    stripe_api_key: str = ""
    stripe_webhook_secret: str = ""
    stripe_api_base: str = "https://api.stripe.com"
    wechatpay_mchid: str = ""
    wechatpay_appid: str = ""
    wechatpay_private_key: str = ""  # PEM of the merchant's API private key
    wechatpay_cert_serial_no: str = ""
    wechatpay_apiv3_key: str = ""
    wechatpay_public_key: str = ""  # PEM of WeChat Pay's platform public key
    wechatpay_public_key_id: str = ""
    wechatpay_api_base: str = "https://api.mch.weixin.qq.com"
    alipay_app_id: str = ""
    alipay_app_private_key: str = ""  # PEM
    alipay_public_key: str = ""  # PEM of Alipay's public key
    alipay_seller_id: str = ""
    alipay_gateway: str = "https://openapi.alipay.com/gateway.do"

    def notify_url(self, provider: str) -> str:
        return f"{self.public_base_url.rstrip('/')}/notify/{provider}"


def build_providers(
    names: Sequence[str], config: ProviderConfig, *, refund_star_payment: RefundStars
) -> dict[str, PaymentProvider]:
    providers: dict[str, PaymentProvider] = {}
    for name in names:
        if name == "sandbox":
            providers[name] = SandboxGateway(config.sandbox_secret, config.public_base_url)
        elif name == "telegram":
            providers[name] = TelegramCardInvoices(config.telegram_provider_token)
        elif name == "stars":
            providers[name] = TelegramStars(refund_star_payment)
        elif name == "stripe":
            providers[name] = StripeCheckout(
                api_key=config.stripe_api_key,
                webhook_secret=config.stripe_webhook_secret,
                api_base=config.stripe_api_base,
            )
        elif name == "wechatpay":
            providers[name] = WeChatPayNative(
                mchid=config.wechatpay_mchid,
                appid=config.wechatpay_appid,
                private_key_pem=config.wechatpay_private_key,
                cert_serial_no=config.wechatpay_cert_serial_no,
                apiv3_key=config.wechatpay_apiv3_key,
                platform_public_key_pem=config.wechatpay_public_key,
                platform_public_key_id=config.wechatpay_public_key_id,
                api_base=config.wechatpay_api_base,
                notify_url=config.notify_url("wechatpay"),
            )
        elif name == "alipay":
            providers[name] = AlipayPrecreate(
                app_id=config.alipay_app_id,
                app_private_key_pem=config.alipay_app_private_key,
                alipay_public_key_pem=config.alipay_public_key,
                seller_id=config.alipay_seller_id,
                gateway=config.alipay_gateway,
                notify_url=config.notify_url("alipay"),
            )
        else:
            raise UnknownProvider(f"unknown payment provider {name!r}; known: {', '.join(KNOWN)}")
    return providers
