"""/terms: the shop's terms, as its settings give them (a text, a link, or both)."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import BaseHandler, CommandHandler

from handlers.common import speak
from handlers.context import DaifuContext
from presentation.formatting import esc
from services.config import ShopRules
from services.i18n import Gettext


def terms_text(rules: ShopRules, _: Gettext) -> str:
    if not (rules.terms_text or rules.terms_url):
        return _("{shop} has not published terms. Ask the shop if you need them.").format(shop=esc(rules.shop_name))
    lines = [_("<b>Terms of {shop}</b>").format(shop=esc(rules.shop_name))]
    if rules.terms_text:
        lines += ["", esc(rules.terms_text)]
    if rules.terms_url:
        lines += ["", _("The full terms: {url}").format(url=esc(rules.terms_url))]
    return "\n".join(lines)


async def show_terms(update: Update, context: DaifuContext) -> None:
    _locale, _ = await speak(update, context)
    if update.effective_message:
        await update.effective_message.reply_text(terms_text(context.daifu.rules, _), parse_mode=ParseMode.HTML)


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [CommandHandler("terms", show_terms)]
