"""People as daifu knows them: name for notices, and the language they chose."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from services.i18n import LOCALE_NAMES, resolve_locale
from storage.database import Database
from storage.models import User


class Users:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def remember(self, user_id: int, *, first_name: str, username: str | None, language_code: str | None) -> str:
        """Store or refresh the person; returns the locale to speak to them in."""
        try:
            async with self.db.transaction() as session:
                user = await session.get(User, user_id)
                if user is None:
                    user = User(id=user_id, first_name=first_name, username=username, language_code=language_code)
                    session.add(user)
                elif (user.first_name, user.username, user.language_code) != (
                    first_name,
                    username,
                    language_code,
                ):
                    user.first_name, user.username, user.language_code = first_name, username, language_code
                    session.add(user)
                return resolve_locale(user.locale, language_code)
        except IntegrityError:  # first contact reached two workers at once; the other one stored it
            return resolve_locale(None, language_code)

    async def locale_of(self, user_id: int) -> str:
        async with self.db.transaction() as session:
            user = await session.get(User, user_id)
        return resolve_locale(user.locale, user.language_code) if user else resolve_locale(None, None)

    async def choose_locale(self, user_id: int, locale: str) -> bool:
        if locale not in LOCALE_NAMES:
            return False
        async with self.db.transaction() as session:
            user = await session.get(User, user_id)
            if user is None:
                return False
            user.locale = locale
            session.add(user)
        return True

    async def name_of(self, user_id: int | None) -> str:
        if user_id is None:
            return ""
        async with self.db.transaction() as session:
            user = await session.get(User, user_id)
        return user.first_name if user else str(user_id)
