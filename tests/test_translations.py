"""Every English string marked with _() has a Simplified Chinese translation that fits it.

After adding or changing an English string, refresh the catalog and translate what is new:

    .venv/bin/pybabel extract -F babel.cfg -o /tmp/daifu-messages.pot --no-location .
    .venv/bin/pybabel update -i /tmp/daifu-messages.pot -d services/locales -D messages -l zh_Hans \
        --no-fuzzy-matching

then fill in the empty msgstr entries of services/locales/zh_Hans/LC_MESSAGES/messages.po and run
`.venv/bin/pytest tests/test_translations.py`. `make messages` runs the same two commands.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from functools import cache
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from services.i18n import LOCALES_DIR, gettext_for

ROOT = Path(__file__).resolve().parent.parent
LOCALE = "zh_Hans"
PO_PATH = LOCALES_DIR / LOCALE / "LC_MESSAGES" / "messages.po"

# The tags Telegram's HTML parse mode understands: a translation must keep exactly the msgid's.
TELEGRAM_TAGS = {
    "a",
    "b",
    "blockquote",
    "code",
    "del",
    "em",
    "i",
    "ins",
    "pre",
    "s",
    "span",
    "strike",
    "strong",
    "tg-emoji",
    "tg-spoiler",
    "u",
}
TAG = re.compile(r"</?([A-Za-z][\w-]*)(?:\s[^<>]*)?/?>")


@cache
def source_messages() -> dict[tuple[str, str | None], list[str]]:
    """(msgid, msgctxt) -> where it is used, extracted in-process with babel.cfg's method map."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg, str(ROOT / "babel.cfg"))
    found: dict[tuple[str, str | None], list[str]] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(ROOT, method_map, options_map):
        msgid = message[0] if isinstance(message, tuple) else message  # ngettext: the catalog's key
        if msgid:
            found.setdefault((msgid, context), []).append(f"{filename}:{lineno}")
    return found


@cache
def catalog() -> Catalog:
    with PO_PATH.open("rb") as po_file:
        return read_po(po_file, locale=LOCALE)


def as_tuple(value: object) -> tuple[str, ...]:
    """A catalog message's id or string: one str, or a tuple of them for plural forms."""
    if isinstance(value, tuple | list):
        return tuple(str(item or "") for item in value)
    return (str(value or ""),)


def translations() -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for message in catalog():
        if not message.id or message.fuzzy:
            continue
        strings = as_tuple(message.string)
        pairs.extend((msgid, text) for msgid in as_tuple(message.id) for text in strings if text)
    return pairs


def placeholders(text: str) -> Counter[str]:
    return Counter(field for _lit, field, _spec, _conv in string.Formatter().parse(text) if field is not None)


def tags(text: str) -> Counter[str]:
    return Counter(match.group(0) for match in TAG.finditer(text))


def telegram_tags(text: str) -> Counter[str]:
    return Counter(match.group(0) for match in TAG.finditer(text) if match.group(1).lower() in TELEGRAM_TAGS)


def test_extraction_finds_the_strings() -> None:
    assert ("your orders and payments", None) in source_messages()  # marked with N_ in handlers.command_list


def test_every_source_string_is_translated() -> None:
    po = catalog()
    missing = []
    for (msgid, context), where in sorted(source_messages().items()):
        message = po.get(msgid, context)
        if message is None or message.fuzzy or not all(as_tuple(message.string)):
            missing.append(f"  {msgid!r} ({', '.join(where)})")
    assert not missing, (
        f"{len(missing)} English string(s) without a {LOCALE} translation in {PO_PATH.relative_to(ROOT)} "
        "(refresh it as the top of tests/test_translations.py says):\n" + "\n".join(missing)
    )


def test_catalog_has_no_fuzzy_entries() -> None:
    fuzzy = [message.id for message in catalog() if message.id and message.fuzzy]
    assert not fuzzy, f"fuzzy entries are ignored at run time; review and unmark them: {fuzzy}"


def test_translations_keep_placeholders() -> None:
    wrong = []
    for msgid, text in translations():
        try:
            found = placeholders(text)
        except ValueError as error:  # an unbalanced brace would break .format() at run time
            wrong.append(f"  {msgid!r} -> {text!r}: {error}")
            continue
        if found != placeholders(msgid):
            wrong.append(f"  {msgid!r} -> {text!r}: {sorted(found)} != {sorted(placeholders(msgid))}")
    assert not wrong, "translations with different {placeholders}:\n" + "\n".join(wrong)


def test_translations_keep_html_tags() -> None:
    wrong = []
    for msgid, text in translations():
        # Telegram's tags exactly as in the English; and no other tag the English does not have.
        # (Angle-bracketed words such as "<amount>" in a usage line may be translated.)
        added = tags(text) - tags(msgid)
        if telegram_tags(text) != telegram_tags(msgid) or added:
            wrong.append(f"  {msgid!r} -> {text!r}")
    assert not wrong, "translations with different HTML tags:\n" + "\n".join(wrong)


def test_runtime_uses_the_chinese_catalog() -> None:
    zh = gettext_for("zh_Hans")
    assert zh("your orders and payments") == "我的订单和付款记录"
    assert zh("I will speak English with you from now on.") == "从现在起，我会用简体中文和你交流。"
    assert zh("<b>Your orders</b> (page {page})").format(page=2) == "<b>我的订单</b>（第 2 页）"


def test_runtime_english_is_the_source() -> None:
    en = gettext_for("en")
    assert en("your orders and payments") == "your orders and payments"
    assert en("I will speak English with you from now on.") == "I will speak English with you from now on."
