"""The playground's people and chats: a shop admin and three friends, each with the bot, in a group, and in twos.

Everything here is the emulator's own state (people, chats), seen from the page: which chats a person has,
what a chat is called for them, and which language their Telegram app speaks.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Literal

from emulator import BotApiEmulator, Chat, User

ChatKind = Literal["bot", "group", "direct"]
# What Telegram's chat picker calls each kind (SwitchInlineQueryChosenChat's allow_*_chats flags).
PICKER_FLAGS: dict[ChatKind, str] = {
    "bot": "allow_bot_chats",
    "group": "allow_group_chats",
    "direct": "allow_user_chats",
}


class NotYourChat(PermissionError):
    """The person is not a member of the chat they act in."""


@dataclass(frozen=True)
class Cast:
    """Who is in the playground, in the order the page lists them."""

    admin: User
    shoppers: tuple[User, ...]

    @property
    def everyone(self) -> tuple[User, ...]:
        return (self.admin, *self.shoppers)


class PlaygroundWorld:
    """Ada runs the shop; Alice, Bob and Carol shop. Each has a chat with the bot and one with every other
    person (the bot is not in those: cards reach them through inline mode), and all four are in "Friends"."""

    def __init__(self, emu: BotApiEmulator) -> None:
        self.emu = emu
        self.cast = Cast(
            admin=emu.add_user("Ada", username="ada_shop", language_code="en"),
            shoppers=(
                emu.add_user("Alice", username="alice", language_code="en"),
                emu.add_user("Bob", username="bob", language_code="en"),
                emu.add_user("Carol", username="carol", language_code="en"),
            ),
        )
        self.group = emu.add_group("Friends", members=list(self.cast.everyone))
        self.direct_chats = [emu.add_direct_chat(a, b) for a, b in itertools.combinations(self.cast.everyone, 2)]

    # --- looking things up ------------------------------------------------------------------------

    def person(self, user_id: int) -> User:
        """A person of the cast by id (KeyError for anyone else, the bot included)."""
        found = next((user for user in self.cast.everyone if user.id == user_id), None)
        if found is None:
            raise KeyError(f"no person {user_id} in the playground")
        return found

    def chat_of(self, person: User, chat_id: int) -> Chat:
        """The chat by id, as long as the person is in it."""
        chat = self.emu.chat(chat_id)
        if not chat.has_member(person):
            raise NotYourChat(f"{person.first_name} is not in chat {chat_id}")
        return chat

    def chats(self) -> list[Chat]:
        return [self.emu.private_chat(user) for user in self.cast.everyone] + [self.group, *self.direct_chats]

    def chats_of(self, person: User) -> list[Chat]:
        return [chat for chat in self.chats() if chat.has_member(person)]

    @staticmethod
    def kind(chat: Chat) -> ChatKind:
        if chat.type != "private":
            return "group"
        return "bot" if chat.bot_member else "direct"

    def picker_chats(self, person: User, button: dict[str, Any]) -> list[Chat]:
        """The chats Telegram's chat picker offers for a switch-inline button: allowed kinds only."""
        chosen = button.get("switch_inline_query_chosen_chat")
        if chosen is None:  # a plain switch_inline_query button: any chat
            return self.chats_of(person)
        allowed = {kind for kind, flag in PICKER_FLAGS.items() if chosen.get(flag)}
        return [chat for chat in self.chats_of(person) if self.kind(chat) in allowed]

    @staticmethod
    def inline_chat_type(chat: Chat, person: User) -> str:
        """The chat_type Telegram puts into an inline query typed in that chat."""
        if chat.user is person:
            return "sender"
        return chat.type

    # --- what the page shows ----------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        bot = self.emu.world.bot_user()
        return {
            "bot": {"id": bot["id"], "name": bot["first_name"], "username": bot["username"]},
            "admin": self.cast.admin.id,
            "people": [{"id": user.id, "name": user.first_name} for user in self.cast.everyone],
            "chats": [self.describe_chat(chat) for chat in self.chats()],
        }

    def describe_chat(self, chat: Chat) -> dict[str, Any]:
        members = [chat.user] if chat.user is not None else chat.members
        return {
            "id": chat.id,
            "kind": self.kind(chat),
            "title": chat.title or "",
            "members": [user.id for user in members],
        }

    # --- settings the page changes ----------------------------------------------------------------

    def speak(self, locale: str) -> None:
        """Everyone's Telegram app now speaks the page's language; the bot follows it in its next answers
        (unless someone chose a language with /language, which wins, as it does in Telegram)."""
        code = "zh-hans" if locale.startswith("zh") else "en"
        for user in self.cast.everyone:
            user.language_code = code
