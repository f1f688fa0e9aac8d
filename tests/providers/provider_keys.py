"""Test keys for the WeChat Pay and Alipay fakes, made with `cryptography` once per test session.

Each party holds what it would hold for real: daifu the merchant's private keys and the providers' public
keys; the fakes the providers' private keys and the merchant's public keys. Nothing here is a real key.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


@dataclass(frozen=True, slots=True)
class KeyPair:
    private_pem: str  # PKCS#8, the form WeChat Pay's apiclient_key.pem and Alipay's Java-style keys take
    public_pem: str  # SubjectPublicKeyInfo

    @property
    def private_key(self) -> rsa.RSAPrivateKey:
        key = serialization.load_pem_private_key(self.private_pem.encode(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        return key

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        key = serialization.load_pem_public_key(self.public_pem.encode())
        assert isinstance(key, rsa.RSAPublicKey)
        return key


def new_key_pair() -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return KeyPair(private_pem, public_pem)


def certificate_serial(pair: KeyPair, common_name: str) -> str:
    """A self-signed certificate for the key, as WeChat Pay issues the merchant's API certificate; its serial
    number (upper-case hex) is what the merchant names in every request's Authorization header."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(pair.public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(pair.private_key, hashes.SHA256())
    )
    return f"{certificate.serial_number:X}"


@dataclass(frozen=True, slots=True)
class WeChatKeys:
    mchid: str
    appid: str
    merchant: KeyPair  # the merchant's API key pair: daifu signs requests with it
    merchant_serial_no: str
    platform: KeyPair  # WeChat Pay's platform key pair: the fake signs answers and notices with it
    public_key_id: str
    apiv3_key: str  # 32 ASCII characters: the AES-256-GCM key of notices

    def settings(self, api_base: str) -> dict[str, Any]:
        """The daifu settings a shop with these keys sets."""
        return {
            "wechatpay_mchid": self.mchid,
            "wechatpay_appid": self.appid,
            "wechatpay_private_key": self.merchant.private_pem,
            "wechatpay_cert_serial_no": self.merchant_serial_no,
            "wechatpay_apiv3_key": self.apiv3_key,
            "wechatpay_public_key": self.platform.public_pem,
            "wechatpay_public_key_id": self.public_key_id,
            "wechatpay_api_base": api_base,
        }


@dataclass(frozen=True, slots=True)
class AlipayKeys:
    app_id: str
    seller_id: str  # the merchant's Alipay user id (2088...)
    app: KeyPair  # the application's key pair: daifu signs requests with it
    alipay: KeyPair  # Alipay's key pair: the fake signs answers and notices with it

    def settings(self, gateway: str) -> dict[str, Any]:
        return {
            "alipay_app_id": self.app_id,
            "alipay_app_private_key": self.app.private_pem,
            "alipay_public_key": self.alipay.public_pem,
            "alipay_seller_id": self.seller_id,
            "alipay_gateway": gateway,
        }


@cache
def wechat_keys() -> WeChatKeys:
    merchant = new_key_pair()
    return WeChatKeys(
        mchid="1900000109",
        appid="wxd678efh567hg6787",
        merchant=merchant,
        merchant_serial_no=certificate_serial(merchant, "daifu test merchant"),
        platform=new_key_pair(),
        public_key_id="PUB_KEY_ID_0119000001092025010100000000000001",
        apiv3_key=secrets.token_hex(16),
    )


@cache
def alipay_keys() -> AlipayKeys:
    return AlipayKeys(
        app_id="2021000000000001",
        seller_id="2088102177846880",
        app=new_key_pair(),
        alipay=new_key_pair(),
    )


@cache
def intruder() -> KeyPair:
    """Someone else's key: what a forger signs with."""
    return new_key_pair()
