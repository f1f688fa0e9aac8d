"""What a person does on the page, turned into the emulator's person actions, and what the page does next.

Every action answers with what the page should do: show the bot's answer to a tap, open a chat, open a
URL in a new tab, show the chat picker, show the payment sheet, or say why a payment was refused.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from emulator import Chat, PaymentRefused, User
from emulator.state import StoredMessage

from .views import MessageViews, money
from .world import PlaygroundWorld

Reply = dict[str, Any]


class PersonActions:
    def __init__(self, world: PlaygroundWorld, views: MessageViews) -> None:
        self.world = world
        self.emu = world.emu
        self.views = views

    async def send(self, person: User, chat: Chat, text: str) -> Reply:
        sent = await self.emu.send_text(person, text, chat=chat)
        return {"sent": sent["message_id"]}

    async def tap(self, person: User, chat: Chat, message_id: int, row: int, column: int, locale: str) -> Reply:
        """Tap the inline button at (row, column) of a message, as a Telegram app would."""
        stored = self._stored(chat, message_id)
        rows = stored.data.get("reply_markup", {}).get("inline_keyboard", [])
        if not (0 <= row < len(rows) and 0 <= column < len(rows[row])):
            raise LookupError(f"message {message_id} has no button at row {row}, column {column}")
        button = rows[row][column]
        shown = self.views.button(button)
        if shown["kind"] == "callback":
            answer = await self.emu.click(person, stored, callback_data=button["callback_data"])
            reply: Reply = {"answer": {"text": answer.get("text"), "alert": bool(answer.get("show_alert"))}}
            if answer.get("url"):  # a callback may answer with a link to open (t.me/bot?start=… only)
                reply |= await self.open_link(person, answer["url"], locale)
            return reply
        if shown["kind"] == "share":
            return self.share_picker(person, button)
        if shown["kind"] == "pay":
            invoice = stored.data["invoice"]
            amount = money(invoice["total_amount"], invoice["currency"], locale)
            sheet = {"title": invoice["title"], "description": invoice["description"], "amount": amount}
            return {"pay": sheet | {"chat_id": chat.id, "message_id": message_id}}
        if shown["kind"] == "web_app":
            return {"app": {"url": shown["url"]}}
        if shown["kind"] == "copy":
            return {"copied": shown["copy"]}
        if shown["kind"] == "unsupported":
            raise ValueError("games are not part of the playground")
        return await self.open_link(person, shown["url"], locale)

    async def open_link(self, person: User, url: str, locale: str) -> Reply:
        """A link into the bot opens the person's chat with it (sending /start and its payload); an invoice
        link shows its payment sheet; any other link is for the browser to open."""
        kind = self.views.link_kind(url)
        if kind == "deep_link":
            await self.emu.open_link(person, url)
            return {"open_chat": self.emu.private_chat(person).id}
        if kind == "app_link":
            start = parse_qs(urlsplit(url).query).get("startapp", [None])[0]
            return {"app": {"start": start}}
        if kind == "invoice_link":
            invoice = self.emu.invoice_from_link(url)
            amount = money(invoice.total_amount, invoice.currency, locale)
            return {"pay": {"title": invoice.title, "description": invoice.description, "amount": amount, "link": url}}
        return {"open_url": url}

    async def scan(self, scanner: User, chat: Chat, message_id: int, locale: str) -> Reply:
        """Scan a QR photo with someone's phone: it opens the link it holds, for the scanner."""
        stored = self._stored(chat, message_id)
        link = self.views.scanned_link(stored.data) if "photo" in stored.data else None
        if link is None:
            raise ValueError("that picture holds no link the playground recognises")
        return await self.open_link(scanner, link, locale) | {"person": scanner.id}

    # --- inline mode: the chat picker and its results -----------------------------------------------

    def share_picker(self, person: User, button: dict[str, Any]) -> Reply:
        if "switch_inline_query_current_chat" in button:
            query = button["switch_inline_query_current_chat"]
            return {"share": {"query": query, "chats": [], "here": True}}
        chosen = button.get("switch_inline_query_chosen_chat")
        query = chosen.get("query", "") if chosen is not None else button.get("switch_inline_query", "")
        chats = [chat.id for chat in self.world.picker_chats(person, button)]
        return {"share": {"query": query, "chats": chats, "here": False}}

    async def inline_results(self, person: User, chat: Chat, query: str) -> Reply:
        """Type "@bot query" in the chat: the bot's answer, as titles to choose from."""
        results = await self.emu.inline_query(person, query, chat_type=self.world.inline_chat_type(chat, person))
        shown = [
            {"id": result["id"], "title": result.get("title", result["type"]), "description": result.get("description")}
            for result in results
        ]
        return {"results": shown}

    async def choose_result(self, person: User, chat: Chat, result_id: str) -> Reply:
        posted = await self.emu.choose_inline_result(person, {"id": result_id}, chat=chat)
        return {"open_chat": chat.id, "sent": posted["message_id"]}

    # --- payments -------------------------------------------------------------------------------------

    async def pay_message(self, person: User, chat: Chat, message_id: int) -> Reply:
        """Pay the invoice in a message: the bot's pre-checkout decides, then the payment lands."""
        return await self._pay(person, self._stored(chat, message_id))

    async def pay_link(self, person: User, link: str) -> Reply:
        return await self._pay(person, link)

    async def _pay(self, person: User, invoice: StoredMessage | str) -> Reply:
        try:
            paid = await self.emu.pay_invoice(person, invoice)
        except PaymentRefused as refusal:
            return {"refused": refusal.error_message or ""}
        return {"paid": True, "chat_id": paid["chat"]["id"]}

    # --- helpers ----------------------------------------------------------------------------------

    def _stored(self, chat: Chat, message_id: int) -> StoredMessage:
        stored = chat.messages.get(message_id)
        if stored is None:
            raise LookupError(f"no message {message_id} in chat {chat.id}")
        return stored
