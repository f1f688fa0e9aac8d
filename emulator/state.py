"""Everything the emulated Telegram knows: people, chats, messages, files, payments and pending queries.

Messages are stored as the Bot API dicts Telegram would send, so what the bot gets back and what
tests read are the same objects (always handed out as copies).
"""

from __future__ import annotations

import copy
import itertools
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError, bad_request, forbidden
from .faults import Faults
from .media import FileStore
from .updates import UpdateQueue
from .waiting import Notifier

log = logging.getLogger(__name__)

Event = dict[str, Any]
Subscriber = Callable[[Event], None]


@dataclass(eq=False)
class User:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_premium: bool = False
    # Telegram lets a bot write to a person only after they opened the chat with it.
    started: bool = False
    blocked_bot: bool = False

    def to_api(self) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        if self.is_premium:
            user["is_premium"] = True
        return user


@dataclass(eq=False)
class StoredMessage:
    chat_id: int
    message_id: int
    data: dict[str, Any]
    from_bot: bool
    # The text or caption as its sender wrote it, markup included (data holds Telegram's plain text).
    source_text: str | None = None
    inline_message_id: str | None = None


@dataclass(eq=False)
class Chat:
    id: int
    type: str  # "private", "group" or "supergroup"
    title: str | None = None
    username: str | None = None
    user: User | None = None  # the person in a private chat
    members: list[User] = field(default_factory=list)
    bot_member: bool = True
    bot_admin: bool = False
    privacy_mode: bool = False
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    next_message_id: int = 1
    reply_keyboard: dict[str, Any] | None = None
    menu_button: dict[str, Any] | None = None
    last_action: str | None = None

    def to_api(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "private" and self.user is not None:
            chat["first_name"] = self.user.first_name
            if self.user.last_name:
                chat["last_name"] = self.user.last_name
            if self.user.username:
                chat["username"] = self.user.username
        else:
            chat["title"] = self.title or ""
            if self.username:
                chat["username"] = self.username
        return chat

    def has_member(self, user: User) -> bool:
        return user is self.user or any(member is user for member in self.members)


@dataclass(eq=False)
class Invoice:
    """An invoice as the payment sheet sees it: from an invoice message or an invoice link."""

    title: str
    description: str
    payload: str
    currency: str
    prices: list[dict[str, Any]]
    provider_token: str = ""
    start_parameter: str = ""
    chat_id: int | None = None
    message_id: int | None = None
    link: str | None = None
    # True when posted into a chat by a person through inline mode: the payment then lands in the
    # payer's private chat with the bot, which may not be in that chat at all.
    via_inline: bool = False
    subscription_period: int | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def total_amount(self) -> int:
        return sum(int(price["amount"]) for price in self.prices)

    def to_api(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "description": self.description,
            "start_parameter": self.start_parameter,
            "currency": self.currency,
            "total_amount": self.total_amount,
        }


@dataclass(eq=False)
class Payment:
    user_id: int
    currency: str
    total_amount: int
    invoice_payload: str
    telegram_payment_charge_id: str
    provider_payment_charge_id: str
    refunded: bool = False


@dataclass(eq=False)
class PendingQuery:
    """A callback, inline or pre-checkout query waiting for the bot's answer."""

    kind: str
    user_id: int
    answer: dict[str, Any] | None = None
    expired: bool = False


@dataclass(eq=False)
class PreparedMessage:
    """An inline result a bot saved for one person to send from its Mini App (savePreparedInlineMessage)."""

    user_id: int
    result: dict[str, Any]
    chat_types: frozenset[str]  # "users", "bots", "groups", "channels"
    expires_at: int


@dataclass
class FloodLimit:
    max_messages: int
    per_seconds: float
    sent: deque[float] = field(default_factory=deque)


class World:
    """The emulated Telegram's state, shared by the HTTP side and the person-facing side."""

    def __init__(
        self,
        token: str,
        bot_username: str,
        bot_name: str,
        *,
        supports_inline_queries: bool = True,
        test_environment: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        bot_id, _, secret = token.partition(":")
        if not bot_id.isdigit() or not secret:
            raise ValueError("a bot token looks like '<numeric bot id>:<secret>'")
        self.token = token
        self.bot_id = int(bot_id)
        self.bot_username = bot_username
        self.bot_name = bot_name
        self.supports_inline_queries = supports_inline_queries
        # Telegram's test environment lets Mini Apps open http pages (web_app buttons, the menu button).
        self.test_environment = test_environment
        self.clock = clock
        self.users: dict[int, User] = {}
        self.chats: dict[int, Chat] = {}
        self.files = FileStore()
        self.updates = UpdateQueue()
        self.notifier = Notifier()
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.errors: list[tuple[str, dict[str, Any], str]] = []
        self.invoices: dict[tuple[int, int], Invoice] = {}
        self.invoice_links: dict[str, Invoice] = {}
        self.inline_messages: dict[str, tuple[int, int]] = {}
        self.inline_answers: dict[int, tuple[str, list[dict[str, Any]]]] = {}
        self.prepared_messages: dict[str, PreparedMessage] = {}
        self.web_app_queries: dict[str, int] = {}  # a Mini App session's query_id -> who opened it
        self.payments: dict[str, Payment] = {}
        self.star_refunds: list[dict[str, Any]] = []
        # getStarTransactions' StarTransaction objects, oldest first (emulator/stars_ledger.py).
        self.star_ledger: list[dict[str, Any]] = []
        self.queries: dict[str, PendingQuery] = {}
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        # The bot's description and short description, by language_code ("" for everyone else).
        self.descriptions: dict[str, str] = {}
        self.short_descriptions: dict[str, str] = {}
        self.default_menu_button: dict[str, Any] = {"type": "commands"}
        self.webhook: dict[str, Any] | None = None
        # Telegram insists on HTTPS webhooks; a test server on loopback has no certificate.
        self.allow_http_webhooks = False
        self.poller: object | None = None
        self.stopping = False
        self.flood: dict[int, FloodLimit] = {}
        self.faults = Faults()
        self.cursors: dict[int, int] = {}
        self._subscribers: list[Subscriber] = []
        self._user_ids = itertools.count(1001)
        self._group_ids = itertools.count(1)
        self._query_ids = itertools.count(1)

    # --- identities -------------------------------------------------------------------------------

    def bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.bot_name, "username": self.bot_username}

    def now(self) -> int:
        return int(self.clock())

    def new_query_id(self) -> str:
        # Real query ids are long decimal strings; the offset keeps them from looking like chat ids.
        return str(4_000_000_000_000_000_000 + next(self._query_ids))

    def add_user(
        self,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        is_premium: bool = False,
    ) -> User:
        user = User(next(self._user_ids), first_name, last_name, username, language_code, is_premium)
        self.users[user.id] = user
        # A private chat's id is the person's id, as in Telegram.
        self.chats[user.id] = Chat(id=user.id, type="private", user=user)
        return user

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
        number = next(self._group_ids)
        # Basic groups have small negative ids, supergroups the -100 prefix.
        chat_id = -(1_000_000_000_000 + number) if supergroup else -(4_000_000_000 + number)
        chat = Chat(
            id=chat_id,
            type="supergroup" if supergroup else "group",
            title=title,
            username=username,
            members=list(members),
            bot_member=bot_member,
            bot_admin=bot_admin,
            privacy_mode=privacy_mode,
        )
        self.chats[chat.id] = chat
        return chat

    def add_direct_chat(self, first: User, second: User) -> Chat:
        """A chat between two people; the bot never sees it except through inline mode."""
        number = next(self._group_ids)
        chat = Chat(
            id=9_000_000_000 + number,
            type="private",
            title=f"{first.first_name} & {second.first_name}",
            members=[first, second],
            bot_member=False,
        )
        self.chats[chat.id] = chat
        return chat

    def user(self, user: User | int) -> User:
        found = self.users.get(user if isinstance(user, int) else user.id)
        if found is None:
            raise KeyError(f"no such user: {user!r}")
        return found

    def chat(self, chat: Chat | User | int) -> Chat:
        """A chat by object or id; a User means their private chat with the bot (it has their id)."""
        found = self.chats.get(chat if isinstance(chat, int) else chat.id)
        if found is None:
            raise KeyError(f"no such chat: {chat!r}")
        return found

    # --- the bot's view of chats ------------------------------------------------------------------

    def find_chat(self, chat_id: int | str) -> Chat:
        """The chat the bot names, as far as the bot may know it exists."""
        chat: Chat | None
        if isinstance(chat_id, str):
            name = chat_id.removeprefix("@").lower()
            chat = next(
                (c for c in self.chats.values() if c.type != "private" and (c.username or "").lower() == name),
                None,
            )
        else:
            chat = self.chats.get(chat_id)
        if chat is None or (chat.type == "private" and (chat.user is None or not chat.user.started)):
            raise bad_request("chat not found")
        return chat

    def chat_for_sending(self, chat_id: int | str) -> Chat:
        chat = self.find_chat(chat_id)
        if chat.user is not None and chat.user.blocked_bot:
            raise forbidden("bot was blocked by the user")
        if not chat.bot_member:
            raise forbidden(f"bot is not a member of the {chat.type} chat")
        return chat

    def check_flood(self, chat_id: int) -> None:
        limit = self.flood.get(chat_id)
        if limit is None:
            return
        now = time.monotonic()
        while limit.sent and limit.sent[0] <= now - limit.per_seconds:
            limit.sent.popleft()
        if len(limit.sent) >= limit.max_messages:
            retry_after = max(1, math.ceil(limit.sent[0] + limit.per_seconds - now))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)
        limit.sent.append(now)

    # --- messages ---------------------------------------------------------------------------------

    def post(
        self,
        chat: Chat,
        content: dict[str, Any],
        *,
        sender: User | None = None,
        source_text: str | None = None,
    ) -> StoredMessage:
        """Store a new message in chat from sender (None: the bot) and tell subscribers."""
        data: dict[str, Any] = {
            "message_id": chat.next_message_id,
            "from": self.bot_user() if sender is None else sender.to_api(),
            "chat": chat.to_api(),
            "date": self.now(),
            **content,
        }
        chat.next_message_id += 1
        stored = StoredMessage(chat.id, data["message_id"], data, sender is None, source_text)
        chat.messages[stored.message_id] = stored
        self.emit({"type": "message", "chat_id": chat.id, "message_id": stored.message_id, "message": data})
        return stored

    def edit(
        self,
        stored: StoredMessage,
        changes: dict[str, Any],
        *,
        remove: tuple[str, ...] = (),
        source_text: str | None = None,
    ) -> None:
        for key in remove:
            stored.data.pop(key, None)
        stored.data.update(changes)
        stored.data["edit_date"] = self.now()
        if source_text is not None:
            stored.source_text = source_text
        self.emit(
            {
                "type": "edit",
                "chat_id": stored.chat_id,
                "message_id": stored.message_id,
                "message": stored.data,
            }
        )

    def delete(self, stored: StoredMessage) -> None:
        del self.chat(stored.chat_id).messages[stored.message_id]
        self.emit({"type": "delete", "chat_id": stored.chat_id, "message_id": stored.message_id})

    def message(self, chat_id: int, message_id: int) -> StoredMessage | None:
        chat = self.chats.get(chat_id)
        return None if chat is None else chat.messages.get(message_id)

    def stored(self, message: dict[str, Any] | StoredMessage) -> StoredMessage:
        """The stored message behind a Message dict a test holds (which may be outdated)."""
        if isinstance(message, StoredMessage):
            return message
        found = self.message(message["chat"]["id"], message["message_id"])
        if found is None:
            raise LookupError(f"message {message['message_id']} is not (or no longer) in chat {message['chat']['id']}")
        return found

    # --- updates ----------------------------------------------------------------------------------

    def deliver(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        update = self.updates.push(kind, copy.deepcopy(payload))
        self.notifier.notify()
        return update

    def deliver_raw(self, update: dict[str, Any]) -> dict[str, Any]:
        update = self.updates.push_raw(copy.deepcopy(update))
        self.notifier.notify()
        return update

    def deliver_message(self, chat: Chat, stored: StoredMessage, kind: str = "message") -> None:
        if self.bot_sees(chat, stored.data):
            self.deliver(kind, stored.data)

    def bot_sees(self, chat: Chat, data: dict[str, Any]) -> bool:
        if not chat.bot_member:
            return False
        if chat.type == "private" or not chat.privacy_mode or chat.bot_admin:
            return True
        # Privacy mode: commands (for any bot or this one), replies to the bot, its inline
        # messages and service messages; ordinary chatter stays hidden.
        reply = data.get("reply_to_message") or {}
        if reply.get("from", {}).get("id") == self.bot_id:
            return True
        if data.get("via_bot", {}).get("id") == self.bot_id:
            return True
        if "text" not in data and "caption" not in data:
            return True
        first = next(iter(data.get("entities") or data.get("caption_entities") or []), None)
        if first is None or first["type"] != "bot_command" or first["offset"] != 0:
            return False
        text = data.get("text") or data.get("caption") or ""
        command = text[: first["length"]]
        return "@" not in command or command.lower().endswith("@" + self.bot_username.lower())

    # --- observers --------------------------------------------------------------------------------

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def emit(self, event: Event) -> None:
        snapshot = copy.deepcopy(event)
        for callback in list(self._subscribers):
            try:
                callback(snapshot)
            except Exception:
                # A broken observer (say, a closed browser stream) must not break the emulation.
                log.exception("emulator subscriber failed")
        self.notifier.notify()
