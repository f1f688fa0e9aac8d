"""Messages as the page draws them: the emulator's Bot API dicts, plus what a Telegram app would work out
itself (what each button does, the amount on an invoice, the link a QR code holds, service lines)."""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from emulator import BotApiEmulator
from services.i18n import gettext_for
from services.links import qr_png
from services.money import Money, format_money

from .words import WORDS

ButtonKind = Literal[
    "callback", "deep_link", "invoice_link", "app_link", "url", "web_app", "share", "pay", "copy", "unsupported"
]
LINK_ENTITIES = ("url", "text_link")
# How far back a QR code's link is looked for when its caption has none (the share kit's QR follows its text).
SCAN_LOOKBACK = 3


def file_url(file_id: str) -> str:
    return f"/playground/api/files/{file_id}"


class MessageViews:
    def __init__(self, emu: BotApiEmulator) -> None:
        self.emu = emu
        self.bot_username = emu.world.bot_username.lower()
        self._scans: dict[str, str | None] = {}  # file_id -> the link its QR code holds

    # --- links --------------------------------------------------------------------------------------

    def link_kind(self, url: str) -> ButtonKind:
        """deep_link for links into a chat with this bot, invoice_link for t.me/$…, else a plain url."""
        parts = urlsplit(url)
        if parts.scheme == "tg" and parts.netloc == "resolve":
            name = parse_qs(parts.query).get("domain", [""])[0]
            return "deep_link" if name.lower() == self.bot_username else "url"
        if parts.scheme in ("http", "https") and parts.netloc.lower() in ("t.me", "telegram.me"):
            name = parts.path.strip("/").split("/")[0]
            if name.startswith("$"):
                return "invoice_link"
            if name.lower() == self.bot_username and len(parts.path.strip("/").split("/")) == 2:
                return "app_link"  # t.me/<bot>/<app>?startapp=…: the bot's Mini App, opened directly
            if name.lower() == self.bot_username and "startgroup" not in parse_qs(parts.query):
                return "deep_link"
        return "url"

    def button(self, button: dict[str, Any]) -> dict[str, Any]:
        shown: dict[str, Any] = {"text": button["text"]}
        if "callback_data" in button:
            shown["kind"] = "callback"
        elif "url" in button:
            shown.update(kind=self.link_kind(button["url"]), url=button["url"])
        elif "web_app" in button:  # opens the Mini App in the phone pane
            shown.update(kind="web_app", url=button["web_app"].get("url", ""))
        elif "login_url" in button:
            shown.update(kind="url", url=button["login_url"].get("url", ""))
        elif any(key.startswith("switch_inline_query") for key in button):
            shown["kind"] = "share"
        elif button.get("pay"):
            shown["kind"] = "pay"
        elif "copy_text" in button:
            shown.update(kind="copy", copy=button["copy_text"]["text"])
        else:  # callback_game: there are no games here
            shown["kind"] = "unsupported"
        return shown

    # --- messages -----------------------------------------------------------------------------------

    def message(self, message: dict[str, Any], locale: str) -> dict[str, Any]:
        sender = message.get("from") or {}
        view: dict[str, Any] = {
            "id": message["message_id"],
            "chat_id": message["chat"]["id"],
            "from": {"id": sender.get("id"), "name": sender.get("first_name", ""), "is_bot": sender.get("is_bot")},
            "date": message.get("date"),
            "edited": "edit_date" in message,
            "text": message.get("text", message.get("caption", "")),
            "entities": message.get("entities", message.get("caption_entities", [])),
        }
        if "via_bot" in message:
            view["via"] = "@" + message["via_bot"]["username"]
        if "reply_to_message" in message:
            quoted = message["reply_to_message"]
            view["reply_to"] = {
                "name": (quoted.get("from") or {}).get("first_name", ""),
                "text": quoted.get("text", quoted.get("caption", "")),
            }
        if "photo" in message:
            biggest = message["photo"][-1]
            view["photo"] = {"url": file_url(biggest["file_id"]), "width": biggest["width"]}
            view["scan"] = self.scanned_link(message)
        if "document" in message:
            document = message["document"]
            view["document"] = {"url": file_url(document["file_id"]), "name": document.get("file_name", "file")}
        if "invoice" in message:
            invoice = message["invoice"]
            view["invoice"] = {
                "title": invoice["title"],
                "description": invoice["description"],
                "amount": money(invoice["total_amount"], invoice["currency"], locale),
            }
        view["service"] = self.service_line(message, locale)
        rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        view["buttons"] = [[self.button(button) for button in row] for row in rows]
        return view

    def service_line(self, message: dict[str, Any], locale: str) -> str | None:
        """What Telegram writes across the chat for a payment or refund, in the page's language."""
        # Not "_": these are keys into WORDS, whose English was marked for extraction there.
        translate = gettext_for(locale)
        name = (message.get("from") or {}).get("first_name", "")
        if "successful_payment" in message:
            paid = message["successful_payment"]
            amount = money(paid["total_amount"], paid["currency"], locale)
            return translate(WORDS["paid_service"]).format(name=name, amount=amount)
        if "refunded_payment" in message:
            refund = message["refunded_payment"]
            amount = money(refund["total_amount"], refund["currency"], locale)
            return translate(WORDS["refunded_service"]).format(name=name, amount=amount)
        return None

    # --- scanning QR codes --------------------------------------------------------------------------

    def scanned_link(self, message: dict[str, Any]) -> str | None:
        """The link a QR photo holds, or None when it is not a QR code of a link the chat mentions.

        The page does not decode images: it takes the links in the caption (then in the few messages
        before it), draws each one's QR code as daifu does, and keeps the one whose picture is the photo.
        """
        file_id = message["photo"][-1]["file_id"]
        if file_id not in self._scans:
            self._scans[file_id] = self._match_qr(message, file_id)
        return self._scans[file_id]

    def _match_qr(self, message: dict[str, Any], file_id: str) -> str | None:
        try:
            picture = self.emu.file_bytes(file_id)
        except KeyError:
            return None
        earlier = [m for m in self.emu.chat_messages(message["chat"]["id"]) if m["message_id"] < message["message_id"]]
        candidates = links_in(message) + [link for m in reversed(earlier[-SCAN_LOOKBACK:]) for link in links_in(m)]
        for link in dict.fromkeys(candidates):
            if qr_png(link) == picture:
                return link
        return None


def links_in(message: dict[str, Any]) -> list[str]:
    """The links in a message's text or caption, as its entities mark them, in order."""
    text = message.get("text", message.get("caption", ""))
    units = text.encode("utf-16-le")  # entity offsets count UTF-16 code units
    found = []
    for entity in message.get("entities", message.get("caption_entities", [])):
        if entity["type"] == "text_link":
            found.append(entity["url"])
        elif entity["type"] == "url":
            start, end = 2 * entity["offset"], 2 * (entity["offset"] + entity["length"])
            link = units[start:end].decode("utf-16-le")
            found.append(link if re.match(r"[a-z]+://", link) else "https://" + link)
    return found


def money(total_amount: int, currency: str, locale: str) -> str:
    try:
        return format_money(Money(total_amount, currency), locale)
    except (ValueError, KeyError):  # a currency Babel does not know: say it plainly
        return f"{total_amount} {currency}"
