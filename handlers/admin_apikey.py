"""/apikey create <shop name> | /apikey revoke <prefix>: keys to the shop API, made and revoked by admins.

A key is kept only as a hash, so the reply that creates it is the one time anyone sees it; the shop's callback
signing secret comes with it. Who made a key is stored with it (api_keys.created_by); both actions are logged.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import BaseHandler, CommandHandler

from handlers.common import admin_only, speak
from handlers.context import DaifuContext
from presentation.formatting import esc

log = logging.getLogger(__name__)


async def api_key(update: Update, context: DaifuContext) -> None:
    _locale, _ = await speak(update, context)
    message = update.effective_message
    if message is None or update.effective_user is None or not await admin_only(update, context, _):
        return
    admin_id = update.effective_user.id
    action, *rest = context.args or [""]
    keys = context.daifu.api_keys
    if action == "create" and rest:
        made = await keys.create(" ".join(rest), created_by=admin_id)
        log.info("admin %s created API key %s for shop %s", admin_id, made.prefix, made.shop.id)
        lines = [
            _("🔑 New API key for <b>{shop}</b>:").format(shop=esc(made.shop.name)),
            f"<code>{made.key}</code>",
            _("Callback signing secret:"),
            f"<code>{made.callback_secret}</code>",
            "",
            _("Store both now: the key is shown only this once. Revoke it with /apikey revoke {prefix}").format(
                prefix=made.prefix
            ),
        ]
        await message.reply_text("\n".join(lines), parse_mode=ParseMode.HTML)
    elif action == "revoke" and len(rest) == 1:
        if await keys.revoke(rest[0], revoked_by=update.effective_user.id if update.effective_user else None):
            log.info("admin %s revoked API key %s", admin_id, rest[0])
            await message.reply_text(_("Key {prefix} is revoked.").format(prefix=rest[0]))
        else:
            await message.reply_text(_("No active key starts with {prefix}.").format(prefix=rest[0]))
    else:
        await message.reply_text(_("Usage: /apikey create SHOP NAME, or /apikey revoke PREFIX"))


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    return [CommandHandler("apikey", api_key)]
