"""What most handlers share: the person's locale, the admin gate, Telegram refusals that mean nothing is wrong."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from telegram import InputFile, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest

from handlers.context import DaifuContext
from services.i18n import Gettext, gettext_for
from services.links import qr_png

log = logging.getLogger(__name__)


async def locale_of(update: Update, context: DaifuContext) -> str:
    user = update.effective_user
    if user is None:
        return "en"
    return await context.daifu.users.remember(
        user.id, first_name=user.first_name, username=user.username, language_code=user.language_code
    )


async def speak(update: Update, context: DaifuContext) -> tuple[str, Gettext]:
    locale = await locale_of(update, context)
    return locale, gettext_for(locale)


async def admin_only(update: Update, context: DaifuContext, _: Gettext) -> bool:
    """True for the shop's admins; everyone else is told so, and the attempt is logged."""
    user = update.effective_user
    if context.daifu.rules.is_admin(user.id if user else None):
        return True
    log.warning("refused admin command from user %s", user.id if user else None)
    if update.effective_message:
        refused = _("Sorry, only the shop's admins can do that.")
        text = f"{refused}\n{your_id(_, user.id)}" if user else refused
        await update.effective_message.reply_text(text, parse_mode=ParseMode.HTML)
    return False


def your_id(_: Gettext, user_id: int) -> str:
    """A person's id, and how to become an admin: the owner finds the id to put in ADMIN_IDS this way."""
    return _(
        "Your Telegram user id is <code>{user_id}</code>. To make you an admin, the shop's owner adds it to "
        "ADMIN_IDS in daifu's settings and restarts daifu."
    ).format(user_id=user_id)


@contextlib.contextmanager
def unless_telegram_says(words: str, meaning: str = "") -> Iterator[None]:
    """Around a call whose refusal with these words means nothing is wrong (logged as meaning, if given)."""
    try:
        yield
    except BadRequest as error:
        if words not in error.message.lower():
            raise
        if meaning:
            log.info("%s", meaning)


def unless_query_gone(kind: str, query_id: str) -> contextlib.AbstractContextManager[None]:
    """Around answering a pre-checkout or inline query. Those skip the update inbox (bot.update_journal), so a
    second delivery of one is answered again, and Telegram refuses that answer as it refuses one given after it
    stopped waiting: the person got (or gave up on) the first answer, and nothing is wrong here."""
    meaning = f"the {kind} query {query_id} was answered already, or Telegram stopped waiting for it"
    return unless_telegram_says("query is too old", meaning)


def unless_unchanged() -> contextlib.AbstractContextManager[None]:
    """Around an edit a repeated tap may make twice: Telegram refuses to set what a message shows already."""
    return unless_telegram_says("not modified")


def qr_photo(data: str) -> InputFile:
    """A QR code to send as a photo, uploaded as qr.png (image/png): a name and type, not bytes of no kind."""
    return InputFile(qr_png(data), filename="qr.png")
