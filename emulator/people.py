"""The person-facing side: what people do in Telegram (write, tap, pay, use inline mode), as updates.

Each action becomes the updates Telegram would send the bot; actions that wait for the bot
(button taps, inline queries, payments) wait for the bot's answer and return it.
"""

from __future__ import annotations

import copy
import hashlib
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .api_payments import STARS, build_invoice
from .errors import NoAnswer, PaymentRefused
from .formatting import render
from .markup import find_button
from .media import image_size
from .mini_apps import init_data
from .stars_ledger import record_payment
from .state import Chat, Invoice, Payment, PendingQuery, StoredMessage, User, World

UserRef = User | int
# A person stands for their private chat with the bot (same id, as in Telegram).
ChatRef = Chat | User | int
MessageRef = dict[str, Any] | StoredMessage
START_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")
LINK_ACTIONS = ("url", "login_url", "web_app")


class People:
    """Actions of the people in the emulated Telegram. All user/chat arguments take objects or ids."""

    def __init__(self, world: World) -> None:
        self.world = world

    # --- who is there -----------------------------------------------------------------------------

    def add_user(
        self,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        is_premium: bool = False,
    ) -> User:
        return self.world.add_user(
            first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
            is_premium=is_premium,
        )

    def add_group(
        self,
        title: str,
        members: list[User],
        *,
        supergroup: bool = False,
        username: str | None = None,
        bot_member: bool = True,
        bot_admin: bool = False,
        privacy_mode: bool = False,
    ) -> Chat:
        return self.world.add_group(
            title,
            members,
            supergroup=supergroup,
            username=username,
            bot_member=bot_member,
            bot_admin=bot_admin,
            privacy_mode=privacy_mode,
        )

    def add_direct_chat(self, first: User, second: User) -> Chat:
        return self.world.add_direct_chat(first, second)

    def private_chat(self, user: UserRef) -> Chat:
        return self.world.chats[self.world.user(user).id]

    def mini_app_init_data(
        self, user: UserRef, *, age: int = 0, start_param: str | None = None, with_query: bool = False
    ) -> str:
        """The signed initData the bot's Mini App gets when `user` opens it, signed `age` seconds ago. with_query:
        opened from a keyboard or the menu button, the session has a query_id the bot may answer once
        (answerWebAppQuery)."""
        person = self.world.user(user)
        query_id = None
        if with_query:
            query_id = "AAH" + secrets.token_urlsafe(24)
            self.world.web_app_queries[query_id] = person.id
        return init_data(
            self.world.token, person, auth_date=self.world.now() - age, start_param=start_param, query_id=query_id
        )

    async def share_prepared(self, user: UserRef, prepared_id: str, chat: ChatRef) -> dict[str, Any]:
        """The Mini App's shareMessage: the person picks a chat and sends the message the bot prepared for them
        (savePreparedInlineMessage). It is sent as an inline result via the bot, as a chosen inline result is."""
        person = self.world.user(user)
        prepared = self.world.prepared_messages.get(prepared_id)
        if prepared is None or prepared.user_id != person.id:
            raise LookupError(f"no prepared message {prepared_id!r} for {person.first_name}")
        if prepared.expires_at <= self.world.now():
            raise LookupError(f"the prepared message {prepared_id!r} has expired")
        target = self._chat_for(person, chat)
        if self._share_type(target) not in prepared.chat_types:
            raise ValueError(f"the prepared message may not be sent to a {self._share_type(target)} chat")
        return copy.deepcopy(self.post_inline(person, prepared.result, target, "").data)

    def _share_type(self, chat: Chat) -> str:
        if chat.type in ("group", "supergroup"):
            return "groups"
        if chat.type == "channel":
            return "channels"
        return "bots" if chat.user is not None else "users"  # the chat with the bot, or between two people

    # --- writing ----------------------------------------------------------------------------------

    async def send_text(
        self, user: UserRef, text: str, *, chat: ChatRef | None = None, reply_to: MessageRef | None = None
    ) -> dict[str, Any]:
        person = self.world.user(user)
        target = self._chat_for(person, chat)
        plain, entities = render(text, None)
        if not plain:
            raise ValueError("Telegram does not send empty messages")
        content: dict[str, Any] = {"text": plain}
        if entities:
            content["entities"] = entities
        if reply_to is not None:
            content["reply_to_message"] = self._quoted(reply_to)
        return self._post(person, target, content, source_text=text)

    async def send_photo(
        self,
        user: UserRef,
        data: bytes,
        *,
        caption: str | None = None,
        chat: ChatRef | None = None,
        file_name: str = "photo.jpg",
    ) -> dict[str, Any]:
        person = self.world.user(user)
        target = self._chat_for(person, chat)
        size = image_size(data)
        if size is None:
            raise ValueError("not a PNG, JPEG, GIF or WebP image")
        stored_file = self.world.files.add(data, "photo", file_name=file_name, size=size)
        content: dict[str, Any] = {"photo": [stored_file.photo_size()]}
        if caption:
            text, entities = render(caption, None)
            content["caption"] = text
            if entities:
                content["caption_entities"] = entities
        return self._post(person, target, content, source_text=caption)

    async def edit_text(self, user: UserRef, message: MessageRef, text: str) -> dict[str, Any]:
        """The person edits a text message of theirs; the bot gets an edited_message update."""
        person = self.world.user(user)
        stored = self.world.stored(message)
        if stored.data["from"]["id"] != person.id or "text" not in stored.data:
            raise ValueError("people can only edit their own text messages")
        plain, entities = render(text, None)
        changes: dict[str, Any] = {"text": plain, **({"entities": entities} if entities else {})}
        self.world.edit(stored, changes, remove=() if entities else ("entities",), source_text=text)
        self.world.deliver_message(self.world.chat(stored.chat_id), stored, kind="edited_message")
        return copy.deepcopy(stored.data)

    async def open_link(self, user: UserRef, url: str) -> dict[str, Any] | Invoice | None:
        """Open a t.me link: a bot link sends /start (with its payload), an invoice link gives the Invoice.

        Returns the /start message, the invoice, or None when the chat was already open and the link
        had no payload (Telegram then sends nothing).
        """
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        if parts.scheme in ("http", "https") and parts.netloc in ("t.me", "telegram.me"):
            name = parts.path.strip("/").split("/")[0]
            if name.startswith("$"):
                return self.invoice_from_link(url)
        elif parts.scheme == "tg" and parts.netloc == "resolve":
            name = query.get("domain", [""])[0]
        else:
            raise ValueError(f"not a Telegram link: {url}")
        if name.lower() != self.world.bot_username.lower():
            raise ValueError(f"{url} does not lead to @{self.world.bot_username}")
        if "startgroup" in query:
            raise NotImplementedError("adding the bot to a group by link is not emulated; use add_group")
        payload = query.get("start", [""])[0]
        person = self.world.user(user)
        if START_PAYLOAD.fullmatch(payload):
            return await self.send_text(person, f"/start {payload}")
        # An invalid payload is dropped by Telegram; an open chat gets no message at all.
        if person.started and not person.blocked_bot:
            return None
        return await self.send_text(person, "/start")

    def block_bot(self, user: UserRef) -> None:
        """The person blocks the bot: sending to them fails with 403 from now on."""
        person = self.world.user(user)
        if not person.blocked_bot:
            person.blocked_bot = True
            self._member_change(person, "member", "kicked")

    # --- buttons ----------------------------------------------------------------------------------

    async def click(
        self,
        user: UserRef,
        message: MessageRef,
        text: str | None = None,
        *,
        callback_data: str | None = None,
        timeout: float = 5.0,
        as_shown: bool = False,
    ) -> Any:
        """Tap an inline button, found by text (exact, else substring) or callback_data.

        Callback buttons return the bot's answerCallbackQuery as {text, show_alert, url, cache_time};
        url, login and web app buttons return their URL; copy buttons their text; a Pay button pays
        (see pay_invoice). Raises NoAnswer if the bot does not answer a callback in time.
        as_shown: tap the message as given (a dict), as an app that has not drawn its latest edit yet shows it.
        """
        person = self.world.user(user)
        stored = self.world.stored(message)
        chat = self.world.chat(stored.chat_id)
        if not chat.has_member(person):
            raise ValueError(f"{person.first_name} cannot see chat {chat.id}")
        shown = message if as_shown and isinstance(message, dict) else stored.data
        markup = shown.get("reply_markup")
        if "invoice" in stored.data and markup is None and (text is None or "pay" in text.casefold()):
            # Without a keyboard Telegram draws the Pay button itself.
            return await self.pay_invoice(person, stored)
        button = find_button(markup, text, callback_data)
        if button.get("pay"):
            return await self.pay_invoice(person, stored)
        for action in LINK_ACTIONS:
            if action in button:
                target = button[action]
                return target if isinstance(target, str) else target["url"]
        if "copy_text" in button:
            return button["copy_text"]["text"]
        if "callback_data" not in button and "callback_game" not in button:
            raise NotImplementedError("switch-inline buttons are not emulated; call inline_query instead")
        query_id = self.world.new_query_id()
        self.world.queries[query_id] = PendingQuery("callback", person.id)
        payload: dict[str, Any] = {
            "id": query_id,
            "from": person.to_api(),
            "chat_instance": self._chat_instance(chat),
        }
        if stored.inline_message_id is not None:
            # Telegram does not show the bot messages it was not sent to: only their inline id.
            payload["inline_message_id"] = stored.inline_message_id
        else:
            payload["message"] = copy.deepcopy(shown)
        if "callback_data" in button:
            payload["data"] = button["callback_data"]
        else:
            payload["game_short_name"] = button["text"]
        self._act_in(chat)
        self.world.deliver("callback_query", payload)
        return await self._answer(query_id, timeout, "answerCallbackQuery")

    # --- payments ---------------------------------------------------------------------------------

    def invoice_from_link(self, url: str) -> Invoice:
        slug = urlsplit(url).path.strip("/").removeprefix("$")
        invoice = self.world.invoice_links.get(slug)
        if invoice is None:
            raise LookupError(f"no invoice link {url}")
        return invoice

    async def pre_checkout(
        self,
        user: UserRef,
        invoice: MessageRef | Invoice | str,
        *,
        total_amount: int | None = None,
        currency: str | None = None,
        payload: str | None = None,
        order_info: dict[str, Any] | None = None,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """Send the pre_checkout_query for an invoice (overrides let a test tamper with it).

        Returns {"ok": bool, "error_message": str | None}. Telegram gives the bot 10 s; NoAnswer after that.
        """
        person = self.world.user(user)
        found = self._invoice(invoice)
        query_id = self.world.new_query_id()
        self.world.queries[query_id] = PendingQuery("pre_checkout", person.id)
        query: dict[str, Any] = {
            "id": query_id,
            "from": person.to_api(),
            "currency": currency if currency is not None else found.currency,
            "total_amount": total_amount if total_amount is not None else found.total_amount,
            "invoice_payload": payload if payload is not None else found.payload,
        }
        if order_info is not None:
            query["order_info"] = order_info
        self.world.deliver("pre_checkout_query", query)
        return await self._answer(query_id, timeout, "answerPreCheckoutQuery")

    async def pay_invoice(
        self,
        user: UserRef,
        invoice: MessageRef | Invoice | str,
        *,
        telegram_payment_charge_id: str | None = None,
        provider_payment_charge_id: str | None = None,
        order_info: dict[str, Any] | None = None,
        timeout: float = 10.0,
        already_approved: bool = False,
    ) -> dict[str, Any]:
        """Pay as Telegram does: pre-checkout, then a successful_payment service message from the payer.

        The message goes to the invoice's chat, or to the private chat with the bot for invoice links
        and inline invoices. Returns that message; raises PaymentRefused if the bot said no.
        already_approved: the bot answered this person's pre-checkout earlier (see pre_checkout) and the
        payment completes now; Telegram does not ask again, whatever changed in between.
        """
        person = self.world.user(user)
        found = self._invoice(invoice)
        if not already_approved:
            answer = await self.pre_checkout(person, found, order_info=order_info, timeout=timeout)
            if not answer["ok"]:
                raise PaymentRefused(answer["error_message"])
        stars = found.currency == STARS
        charge_id = telegram_payment_charge_id or ("stx" if stars else "tg") + secrets.token_hex(16)
        if provider_payment_charge_id is None:
            # Stars have no payment provider, so Telegram leaves the provider's id empty.
            provider_payment_charge_id = "" if stars else f"prov_{secrets.token_hex(10)}"
        paid: dict[str, Any] = {
            "currency": found.currency,
            "total_amount": found.total_amount,
            "invoice_payload": found.payload,
            "telegram_payment_charge_id": charge_id,
            "provider_payment_charge_id": provider_payment_charge_id,
        }
        if found.subscription_period:
            paid.update(
                subscription_expiration_date=self.world.now() + found.subscription_period,
                is_recurring=True,
                is_first_recurring=True,
            )
        if order_info is not None:
            paid["order_info"] = order_info
        if charge_id not in self.world.payments:
            payment = Payment(
                person.id, found.currency, found.total_amount, found.payload, charge_id, provider_payment_charge_id
            )
            self.world.payments[charge_id] = payment
            if stars:
                record_payment(self.world, payment)
        return self._post(person, self._payment_chat(person, found), {"successful_payment": paid})

    async def repeat_payment(self, paid_message: MessageRef) -> dict[str, Any]:
        """Post the same successful_payment again (a duplicate delivery), to test idempotency."""
        stored = self.world.stored(paid_message)
        if "successful_payment" not in stored.data:
            raise ValueError("not a successful_payment message")
        person = self.world.user(stored.data["from"]["id"])
        content = {"successful_payment": copy.deepcopy(stored.data["successful_payment"])}
        return self._post(person, self.world.chat(stored.chat_id), content)

    # --- inline mode ------------------------------------------------------------------------------

    async def inline_query(
        self,
        user: UserRef,
        query: str,
        *,
        chat_type: str | None = "sender",
        offset: str = "",
        timeout: float = 5.0,
    ) -> list[dict[str, Any]]:
        """Type "@bot query"; returns the results of the bot's answerInlineQuery (NoAnswer on timeout).

        chat_type is where it is typed: "sender" (the chat with the bot), "private", "group", "supergroup".
        """
        if not self.world.supports_inline_queries:
            raise RuntimeError("this bot has inline mode off")
        if len(query) > 256:
            raise ValueError("inline queries are at most 256 characters")
        person = self.world.user(user)
        query_id = self.world.new_query_id()
        self.world.queries[query_id] = PendingQuery("inline", person.id)
        payload: dict[str, Any] = {"id": query_id, "from": person.to_api(), "query": query, "offset": offset}
        if chat_type is not None:
            payload["chat_type"] = chat_type
        self.world.deliver("inline_query", payload)
        answer = await self._answer(query_id, timeout, "answerInlineQuery")
        self.world.inline_answers[person.id] = (query, answer["results"])
        return copy.deepcopy(answer["results"])

    async def choose_inline_result(
        self, user: UserRef, result: dict[str, Any], *, chat: ChatRef, query: str | None = None
    ) -> dict[str, Any]:
        """Pick a result of the person's last inline query: it is posted into chat "via" the bot.

        The bot gets chosen_inline_result (with an inline_message_id when the message has a keyboard);
        taps on that keyboard then carry the inline_message_id instead of the message.
        """
        person = self.world.user(user)
        last_query, results = self.world.inline_answers.get(person.id, ("", []))
        chosen = next((r for r in results if r["id"] == result.get("id")), None)
        if chosen is None:
            raise LookupError(f"result {result.get('id')!r} was not among the bot's last answer to {person.first_name}")
        target = self._chat_for(person, chat)
        stored = self.post_inline(person, chosen, target, last_query if query is None else query)
        return copy.deepcopy(stored.data)

    def post_inline(self, person: User, chosen: dict[str, Any], target: Chat, query: str) -> StoredMessage:
        """Post an inline result into target "via" the bot, as its sender (a chosen result, a Mini App's prepared
        or answered message): the bot gets chosen_inline_result, with an inline_message_id when it has a keyboard."""
        content, source_text, invoice = self._inline_content(chosen)
        content["via_bot"] = self.world.bot_user()
        markup = chosen.get("reply_markup")
        if markup is not None and "inline_keyboard" in markup:
            content["reply_markup"] = markup
        self._act_in(target)
        stored = self.world.post(target, content, sender=person, source_text=source_text)
        chosen_update: dict[str, Any] = {
            "result_id": chosen["id"],
            "from": person.to_api(),
            "query": query,
        }
        if "reply_markup" in content:
            # Only a message with a keyboard gets an id the bot can edit it by.
            stored.inline_message_id = "BAAAA" + secrets.token_urlsafe(18)
            self.world.inline_messages[stored.inline_message_id] = (target.id, stored.message_id)
            chosen_update["inline_message_id"] = stored.inline_message_id
        if invoice is not None:
            invoice.chat_id, invoice.message_id, invoice.via_inline = target.id, stored.message_id, True
            self.world.invoices[(target.id, stored.message_id)] = invoice
        self.world.deliver("chosen_inline_result", chosen_update)
        self.world.deliver_message(target, stored)
        return stored

    def _inline_content(self, result: dict[str, Any]) -> tuple[dict[str, Any], str | None, Invoice | None]:
        content = result.get("input_message_content")
        if isinstance(content, dict) and "message_text" in content:
            source = str(content["message_text"])
            text, entities = render(source, content.get("parse_mode"), content.get("entities"))
            message: dict[str, Any] = {"text": text}
            if entities:
                message["entities"] = entities
            return message, source, None
        if isinstance(content, dict) and "payload" in content:
            invoice = build_invoice(content)
            return {"invoice": invoice.to_api()}, None, invoice
        if result["type"] == "photo" and content is None:
            stored = self.world.files.get(result.get("photo_file_id", ""))
            if stored is None:
                # A photo_url result: the emulator cannot download it, so the photo has no bytes.
                size = (int(result.get("photo_width") or 0), int(result.get("photo_height") or 0))
                stored = self.world.files.add(b"", "photo", size=size)
            message = {"photo": [stored.photo_size()]}
            caption = result.get("caption")
            if caption:
                text, entities = render(str(caption), result.get("parse_mode"), result.get("caption_entities"))
                message["caption"] = text
                if entities:
                    message["caption_entities"] = entities
            return message, caption, None
        raise NotImplementedError(f"choosing a {result['type']!r} result with this content is not emulated")

    # --- helpers ----------------------------------------------------------------------------------

    def _chat_for(self, person: User, chat: ChatRef | None) -> Chat:
        target = self.private_chat(person) if chat is None else self.world.chat(chat)
        if not target.has_member(person):
            raise ValueError(f"{person.first_name} is not in chat {target.id}")
        if target.user is person:
            self._open_private(person)
        return target

    def _open_private(self, person: User) -> Chat:
        # Writing to a blocked bot unblocks it, and any message to the bot opens the chat.
        if person.blocked_bot:
            person.blocked_bot = False
            self._member_change(person, "kicked", "member")
        person.started = True
        return self.private_chat(person)

    def _member_change(self, person: User, old: str, new: str) -> None:
        bot = self.world.bot_user()
        change = {
            "chat": self.private_chat(person).to_api(),
            "from": person.to_api(),
            "date": self.world.now(),
            "old_chat_member": {"user": bot, "status": old, **({"until_date": 0} if old == "kicked" else {})},
            "new_chat_member": {"user": bot, "status": new, **({"until_date": 0} if new == "kicked" else {})},
        }
        self.world.deliver("my_chat_member", change)

    def _act_in(self, chat: Chat) -> None:
        # next_bot_message looks for bot messages after a person's latest action in the chat.
        self.world.cursors[chat.id] = chat.next_message_id - 1

    def _post(
        self, person: User, chat: Chat, content: dict[str, Any], source_text: str | None = None
    ) -> dict[str, Any]:
        self._act_in(chat)
        stored = self.world.post(chat, content, sender=person, source_text=source_text)
        self.world.deliver_message(chat, stored)
        return copy.deepcopy(stored.data)

    def _quoted(self, message: MessageRef) -> dict[str, Any]:
        stored = self.world.stored(message)
        return copy.deepcopy({k: v for k, v in stored.data.items() if k != "reply_to_message"})

    def _chat_instance(self, chat: Chat) -> str:
        digest = hashlib.sha256(f"{self.world.bot_id}:{chat.id}".encode()).hexdigest()
        return str(int(digest[:15], 16))

    def _invoice(self, invoice: MessageRef | Invoice | str) -> Invoice:
        if isinstance(invoice, Invoice):
            return invoice
        if isinstance(invoice, str):
            return self.invoice_from_link(invoice)
        stored = self.world.stored(invoice)
        found = self.world.invoices.get((stored.chat_id, stored.message_id))
        if found is None:
            raise LookupError("that message has no invoice")
        return found

    def _payment_chat(self, person: User, invoice: Invoice) -> Chat:
        if invoice.chat_id is not None and not invoice.via_inline:
            chat = self.world.chat(invoice.chat_id)
            if chat.bot_member:
                return chat
        return self._open_private(person)

    async def _answer(self, query_id: str, timeout: float, method: str) -> dict[str, Any]:
        query = self.world.queries[query_id]
        try:
            answer = await self.world.notifier.wait_for(lambda: query.answer, timeout, f"the bot's {method}")
        except NoAnswer:
            # Telegram stops waiting too: a late answer gets "query is too old".
            query.expired = True
            raise
        return copy.deepcopy(answer)
