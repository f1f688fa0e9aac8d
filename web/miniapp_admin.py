"""The Mini App's admin screen: a new checkout link, its amount read as /newlink reads a typed one (ADMIN_IDS only)."""

from __future__ import annotations

from aiohttp import web

from presentation.texts import bad_amount
from services.amount_input import read_amount
from services.bot_api_port import BotApiPort
from services.daifu import Daifu
from services.links import deep_link
from services.money import InvalidAmount, normalise_currency
from services.orders import TITLE_MAX, InvalidTitle
from web.miniapp_gate import Caller, Refusal, bad_request, port_of, read_body, text

AMOUNT_MAX = 64  # "1 234 567.89 USD" and the like; a longer text is not an amount


class AdminScreens:
    def __init__(self, daifu: Daifu, bot_api: BotApiPort | None) -> None:
        self.daifu = daifu
        self.bot_api = bot_api

    async def new_link(self, request: web.Request, caller: Caller) -> web.Response:
        """POST /app/api/admin/links {"title", "amount", "currency"}: a new order, with its link and QR code."""
        _ = caller._
        if not self.daifu.rules.is_admin(caller.person.id):
            raise Refusal(403, _("This is for the shop's admins only."), "not_admin")
        port = port_of(self.bot_api, caller)
        body = await read_body(request)
        title = text(body, "title", 256, required=True)
        amount_text = text(body, "amount", AMOUNT_MAX, required=True)
        currency = text(body, "currency", 8) or self.daifu.rules.default_currency
        try:
            amount = read_amount(amount_text, normalise_currency(currency), caller.locale)
        except InvalidAmount as error:
            raise bad_request(bad_amount(error, _, caller.locale), "bad_amount") from None
        # The app sends one key per form it shows: a double tap, or a retry after a lost answer, makes one order.
        key = text(body, "idempotency_key", 64)
        asked_in = f"miniapp:{caller.person.id}:{key}" if key else None
        try:
            order = await self.daifu.orders.create(amount, title, created_by=caller.person.id, asked_in=asked_in)
        except InvalidTitle:
            raise bad_request(
                _("The title must be 1 to {limit} characters.").format(limit=TITLE_MAX), "bad_title"
            ) from None
        rules = self.daifu.rules
        return web.json_response(
            {
                "order": {
                    "token": order.token,
                    "number": order.id,
                    "link": deep_link(port.bot_username(), order.token),
                    "qr_svg_url": f"{rules.public_base_url}/o/{order.token}/qr.svg",
                    "page_url": rules.landing_url(order.token),
                }
            },
            status=201,
        )
