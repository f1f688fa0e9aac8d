"""The bot daifu's handlers call Telegram through: PTB's ExtBot, with calls whose answer daifu never reads.

PTB parses the answer of every call into a Message, objects and all; a pay-for-me journey makes many calls whose
answer nobody reads (the teller's notices, the request card redrawn, the finished messages tidied, a step's
buttons taken off), and parsing theirs was a measurable share of its CPU (docs/benchmarks.md). These go through
PTB's own path (`_post`: the rate limiter, the transport, the timeouts and the errors are those of any call) and
leave the answer as it came.
"""

from __future__ import annotations

from typing import Any

from telegram import CallbackQuery, InlineKeyboardMarkup, Message, ReplyParameters
from telegram.ext import ExtBot


class DaifuBot(ExtBot[None]):
    async def send_text(
        self,
        chat_id: int,
        text: str,
        *,
        parse_mode: str | None = None,
        reply_markup: InlineKeyboardMarkup | None = None,
        reply_parameters: ReplyParameters | None = None,
        in_reply_to: Message | None = None,
    ) -> int:
        """sendMessage, as send_message sends it; of the answer, only the new message's id is read (for a message
        with buttons, remembered to be tidied once what it offers is finished). in_reply_to: the message this
        answers, whose forum topic the answer goes to, as Message.reply_text sends it."""
        topic = in_reply_to.message_thread_id if in_reply_to is not None and in_reply_to.is_topic_message else None
        sent = await self._unread(
            "sendMessage",
            chat_id=chat_id,
            text=text,
            parse_mode=parse_mode,
            reply_markup=reply_markup,
            reply_parameters=reply_parameters,
            message_thread_id=topic,
        )
        return int(sent["message_id"])

    async def edit_text_unread(
        self,
        text: str,
        *,
        chat_id: int | None = None,
        message_id: int | None = None,
        inline_message_id: str | None = None,
        parse_mode: str | None = None,
        reply_markup: InlineKeyboardMarkup | None = None,
    ) -> None:
        """editMessageText, as edit_message_text sends it: without reply_markup, the message loses its buttons."""
        await self._unread(
            "editMessageText",
            text=text,
            chat_id=chat_id,
            message_id=message_id,
            inline_message_id=inline_message_id,
            parse_mode=parse_mode,
            reply_markup=reply_markup,
        )

    async def edit_buttons_unread(
        self,
        *,
        chat_id: int | None = None,
        message_id: int | None = None,
        inline_message_id: str | None = None,
        reply_markup: InlineKeyboardMarkup | None = None,
    ) -> None:
        """editMessageReplyMarkup, as edit_message_reply_markup sends it: None takes the buttons off."""
        await self._unread(
            "editMessageReplyMarkup",
            chat_id=chat_id,
            message_id=message_id,
            inline_message_id=inline_message_id,
            reply_markup=reply_markup,
        )

    async def take_buttons_off(self, query: CallbackQuery) -> None:
        """The buttons of the message this tap came from go (a step taken, a choice made)."""
        if query.inline_message_id is not None:
            await self.edit_buttons_unread(inline_message_id=query.inline_message_id)
        elif query.message is not None:
            await self.edit_buttons_unread(chat_id=query.message.chat.id, message_id=query.message.message_id)

    async def _unread(self, endpoint: str, **params: object) -> Any:
        # PTB drops the parameters given as None, as it does for its own methods.
        return await self._post(endpoint, dict(params))
