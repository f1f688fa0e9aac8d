"""People as daifu knows them: name for notices, and the language they chose.

Nearly every update asks who the person is and which language they speak, so the answer is cached in the
process for a minute. Another worker learns of a language change within that minute: a fair price for
saving a database round trip on most updates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from services.i18n import LOCALE_NAMES, resolve_locale
from storage.database import Database
from storage.models import User

CACHE_SECONDS = 60.0
CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class Known:
    first_name: str
    username: str | None
    language_code: str | None
    locale: str | None
    until: float

    @property
    def speaks(self) -> str:
        return resolve_locale(self.locale, self.language_code)


class Users:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._known: dict[int, Known] = {}

    def _fresh(self, user_id: int) -> Known | None:
        known = self._known.get(user_id)
        return known if known is not None and known.until > time.monotonic() else None

    def _keep(self, user: User) -> Known:
        if len(self._known) >= CACHE_SIZE:
            self._known.clear()  # cheap and rare; the next updates fill it again
        known = Known(user.first_name, user.username, user.language_code, user.locale, time.monotonic() + CACHE_SECONDS)
        self._known[user.id] = known
        return known

    async def remember(self, user_id: int, *, first_name: str, username: str | None, language_code: str | None) -> str:
        """Store or refresh the person; returns the locale to speak to them in."""
        known = self._fresh(user_id)
        if known is not None and (known.first_name, known.username, known.language_code) == (
            first_name,
            username,
            language_code,
        ):
            return known.speaks
        try:
            async with self.db.transaction() as session:
                user = await session.get(User, user_id)
                if user is None:
                    user = User(id=user_id, first_name=first_name, username=username, language_code=language_code)
                    session.add(user)
                elif (user.first_name, user.username, user.language_code) != (first_name, username, language_code):
                    user.first_name, user.username, user.language_code = first_name, username, language_code
                    session.add(user)
                return self._keep(user).speaks
        except IntegrityError:  # first contact reached two workers at once; the other one stored it
            return resolve_locale(None, language_code)

    async def _lookup(self, user_id: int) -> Known | None:
        known = self._fresh(user_id)
        if known is not None:
            return known
        async with self.db.transaction() as session:
            user = await session.get(User, user_id)
        return self._keep(user) if user is not None else None

    async def locale_of(self, user_id: int) -> str:
        known = await self._lookup(user_id)
        return known.speaks if known else resolve_locale(None, None)

    async def name_of(self, user_id: int | None) -> str:
        if user_id is None:
            return ""
        known = await self._lookup(user_id)
        return known.first_name if known else str(user_id)

    async def username_of(self, user_id: int) -> str | None:
        known = await self._lookup(user_id)
        return known.username if known else None

    async def choose_locale(self, user_id: int, locale: str) -> bool:
        if locale not in LOCALE_NAMES:
            return False
        async with self.db.transaction() as session:
            user = await session.get(User, user_id)
            if user is None:
                return False
            user.locale = locale
            session.add(user)
            self._keep(user)
        return True
