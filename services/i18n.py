"""Translations from Babel catalogs (English source strings, Chinese catalog) and locale choice."""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALES_DIR = Path(__file__).with_name("locales")
DEFAULT_LOCALE = "en"
LOCALE_NAMES = {"en": "English", "zh_Hans": "简体中文"}

Gettext = Callable[[str], str]


def resolve_locale(chosen: str | None, language_code: str | None) -> str:
    """The person's own choice first, then what their Telegram app reports, then English."""
    if chosen in LOCALE_NAMES:
        return chosen
    if language_code and language_code.lower().startswith("zh"):
        return "zh_Hans"
    return DEFAULT_LOCALE


@cache
def translations(locale: str) -> NullTranslations:
    po_path = LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not po_path.exists():
        return NullTranslations()
    # Compiled in memory from the .po file so the repository carries no build artefacts.
    with po_path.open("rb") as po_file:
        catalog = read_po(po_file, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def gettext_for(locale: str) -> Gettext:
    return translations(locale).gettext


def N_(message: str) -> str:  # the name Babel's extractor looks for
    """Marks a message for the catalog where it is defined, for a table; it is translated where it is shown."""
    return message
