"""API keys for shops: made for a shop by name, shown once, kept only as a hash, revocable by prefix.

A key is a SHA-256 hash at rest (it has 256 random bits, so a slow hash adds nothing); the shop's callback
secret must be kept to sign with, so it is stored encrypted when SECRETS_KEY is set (storage.secrets). Both
are remembered for the log redaction (services.redaction) the moment they are made or read.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from services.read_models import ShopInfo
from services.redaction import remember
from storage.database import Database
from storage.models import ApiKey, Shop, utcnow
from storage.queries import api_keys as queries
from storage.secrets import seal, unseal

KEY_PREFIX = "dfk_"
PREFIX_LENGTH = 12  # "dfk_" and 8 characters: enough to tell keys apart in a list, useless to an attacker


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class NewKey:
    key: str  # shown to the shop once, never stored
    prefix: str
    shop: ShopInfo
    callback_secret: str  # signs the callbacks to this shop (see docs/shop-api.md)


class ApiKeys:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def shop_named(self, name: str) -> Shop:
        """The shop with this name, created (with its callback secret) on first use.

        The row's callback_secret is as stored (encrypted when SECRETS_KEY is set): callback_secret() reads it.
        """
        name = " ".join(name.split())[:128]
        try:
            async with self.db.transaction() as session:
                shop = await queries.shop_named(session, name=name)
                if shop is None:
                    shop = Shop(name=name)
                if not shop.callback_secret:
                    made = "whsec_" + secrets.token_urlsafe(32)
                    remember(made)
                    shop.callback_secret = seal(made)
                session.add(shop)
                await session.flush()
                return shop
        except IntegrityError:  # made by another worker at the same moment
            async with self.db.transaction() as session:
                winner = await queries.shop_named(session, name=name)
            assert winner is not None
            return winner

    @staticmethod
    def callback_secret(shop: Shop) -> str:
        """The shop's callback secret in clear, to show its admin or to sign with."""
        assert shop.callback_secret is not None
        secret = unseal(shop.callback_secret, what=f"the callback secret of the shop {shop.name!r}")
        remember(secret)
        return secret

    async def create(self, shop_name: str, *, created_by: int | None) -> NewKey:
        shop = await self.shop_named(shop_name)
        assert shop.id is not None
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        remember(key)
        async with self.db.transaction() as session:
            session.add(
                ApiKey(shop_id=shop.id, prefix=key[:PREFIX_LENGTH], key_hash=hash_key(key), created_by=created_by)
            )
        return NewKey(key, key[:PREFIX_LENGTH], ShopInfo.of(shop), self.callback_secret(shop))

    async def revoke(self, prefix: str, *, revoked_by: int | None) -> bool:
        async with self.db.transaction() as session:
            return await queries.revoke_key(session, prefix=prefix, revoked_by=revoked_by, at=utcnow())

    async def shop_for(self, key: str) -> ShopInfo | None:
        """The shop a presented key belongs to, if the key is known and not revoked."""
        if not key.startswith(KEY_PREFIX):
            return None
        async with self.db.transaction() as session:
            shop = await queries.shop_with_key(session, key_hash=hash_key(key))
            return ShopInfo.of(shop) if shop is not None else None
