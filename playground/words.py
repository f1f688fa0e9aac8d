"""The page's own words (not the bot's: those come from the bot), in the visitor's language.

The English strings are marked with ``_`` so that ``make messages`` extracts them into the Chinese
catalog; they are translated when a page asks for them, through services.i18n like every other word.
"""

from __future__ import annotations

from aiohttp import web

from services.i18n import LOCALE_NAMES, gettext_for
from web.pages import visitor_locale


def _(text: str) -> str:
    """Marks text for extraction; the translation happens in words_for, in the asker's language."""
    return text


WORDS: dict[str, str] = {
    "title": _("daifu playground"),
    "tagline": _("The real bot, talking to a pretend Telegram on this computer. Nothing leaves it."),
    "you_are": _("You are"),
    "shop_admin": _("shop admin"),
    "chats": _("Chats"),
    "bot": _("bot"),
    "group_of": _("group: {names}"),
    "direct_hint": _("Only you two see this chat; the bot does not."),
    "empty": _("Nothing here yet. Type a message, or try:"),
    "direct_empty": _("Send a link here, or share a request into this chat from your chat with the bot."),
    "message_placeholder": _("Message or /command"),
    "send": _("Send"),
    "edited": _("edited"),
    "via": _("via {bot}"),
    "typing": _("typing…"),
    "invoice": _("Invoice"),
    "pay_amount": _("Pay {amount}"),
    "payment": _("Payment"),
    "pay_as": _("Paying as {name}"),
    "test_payment": _("A test payment: no money moves."),
    "paying": _("Paying…"),
    "payment_sent": _("Paid. The bot has been told."),
    "refused": _("The bot refused the payment:"),
    "paid_service": _("{name} paid {amount}"),
    "refunded_service": _("{amount} refunded to {name}"),
    "cancel": _("Cancel"),
    "close": _("Close"),
    "choose_chat": _("Choose a chat"),
    "pick_result": _("What the bot offers to send"),
    "no_results": _("The bot offered nothing to send here."),
    "scan": _("Scan"),
    "who_scans": _("Who scans the code?"),
    "copied": _("Copied: {text}"),
    "opened_tab": _("Opened in a new tab: {url}"),
    "no_answer": _("The bot did not answer in time."),
    "failed": _("That did not work: {error}"),
    "reconnecting": _("Connection lost; reconnecting…"),
    "language": _("Language"),
    "open_app": _("Open the app"),
    "app_title": _("daifu app"),
    "app_theme": _("Light or dark theme"),
    "back": _("Back"),
    "share_to": _("Share to…"),
}


def page_locale(request: web.Request) -> str:
    """The page's language: its ?lang= toggle when it names a catalog, else the browser's languages."""
    chosen = request.query.get("lang", "")
    return chosen if chosen in LOCALE_NAMES else visitor_locale(request)


def words_for(locale: str) -> dict[str, str]:
    gettext = gettext_for(locale)
    return {key: gettext(text) for key, text in WORDS.items()}
