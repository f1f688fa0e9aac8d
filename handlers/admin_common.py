"""What the admin commands share: finding the order an admin names, long replies, names."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from telegram import InlineKeyboardMarkup, LinkPreviewOptions, Message, Update
from telegram.constants import MessageLimit, ParseMode

from handlers.common import unless_unchanged
from handlers.context import DaifuContext
from presentation.formatting import esc
from services.i18n import Gettext
from services.read_models import OrderInfo

log = logging.getLogger(__name__)
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
DETAIL_MAX = 300  # characters of an event's detail or an error shown in a chat


async def admin_tapped(update: Update, context: DaifuContext, _: Gettext) -> bool:
    """admin_only for buttons: only admins see these, but a forwarded or replayed button must do nothing."""
    query = update.callback_query
    user_id = update.effective_user.id if update.effective_user else None
    if context.daifu.rules.is_admin(user_id):
        return True
    log.warning("refused admin button from user %s", user_id)
    if query is not None:
        await query.answer(_("Sorry, only the shop's admins can do that."), show_alert=True)
    return False


async def edit_quietly(update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Show the new text in the tapped message; the same text again (a repeated tap) is no error.

    Text too long for one message: the first part replaces the tapped message, the rest follows it.
    """
    query = update.callback_query
    if query is None:
        return
    first, *rest = split_message(text.split("\n")) or [""]
    with unless_unchanged():
        await query.edit_message_text(
            first, parse_mode=ParseMode.HTML, reply_markup=markup, link_preview_options=NO_PREVIEW
        )
    if rest and isinstance(query.message, Message):
        await reply_long(query.message, rest)


def tapped_text(update: Update) -> str:
    """The HTML of the message whose button was tapped, to add an outcome under it."""
    query = update.callback_query
    message = query.message if query else None
    return message.text_html if isinstance(message, Message) and message.text else ""


def split_message(lines: Iterable[str], limit: int = MessageLimit.MAX_TEXT_LENGTH) -> list[str]:
    """Lines joined into as few messages as fit Telegram's limit, never cutting a line (or its HTML) in two.

    The limit is measured on the HTML source, which is never shorter than the text Telegram counts.
    """
    messages: list[str] = []
    current = ""
    for line in lines:
        line = line if len(line) <= limit else line[: limit - 1] + "…"
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            messages.append(current)
            candidate = line
        current = candidate
    if current.strip():
        messages.append(current)
    return messages


async def reply_long(message: Message, lines: Iterable[str], markup: InlineKeyboardMarkup | None = None) -> None:
    """Reply in as many messages as it takes; buttons go under the last one."""
    texts = split_message(lines)
    for number, text in enumerate(texts, start=1):
        await message.reply_text(
            text,
            parse_mode=ParseMode.HTML,
            link_preview_options=NO_PREVIEW,
            reply_markup=markup if number == len(texts) else None,
        )


async def named_order(update: Update, context: DaifuContext, _: Gettext, usage: str) -> OrderInfo | None:
    """The order the command's first argument names; otherwise the admin is told how to name one."""
    message = update.effective_message
    if message is None:
        return None
    if not context.args:
        await message.reply_text(usage)
        return None
    order = await context.daifu.order_lookup.find_order(context.args[0])
    if order is None:
        await message.reply_text(
            _("No order {reference}. Give its number or the token of its link.").format(reference=esc(context.args[0])),
            parse_mode=ParseMode.HTML,
        )
    return order


def person(names: dict[int, str], user_id: int | None, otherwise: str = "") -> str:
    """A person as admins see them: first name and Telegram id (names are not unique)."""
    if user_id is None:
        return otherwise
    name = names.get(user_id)
    return f"{esc(name)} ({user_id})" if name else str(user_id)


def clipped(text: str, limit: int = DETAIL_MAX) -> str:
    return esc(text if len(text) <= limit else text[: limit - 1] + "…")
